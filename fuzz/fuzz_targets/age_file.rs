//! The age file path used for data keys (armor, header checks, decryption): never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::str::FromStr;

fuzz_target!(|data: &[u8]| {
    let id = age::x25519::Identity::from_str(
        "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0",
    )
    .expect("valid identity");
    let ids: Vec<Box<dyn age::Identity>> = vec![Box::new(id)];
    let mut out = zeroize::Zeroizing::new(Vec::new());
    let _ = sigil::sops::keys::age::decrypt_into(data, &ids, None, 1 << 16, &mut out);
});
