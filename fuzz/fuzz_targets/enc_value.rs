//! The `ENC[AES256_GCM,…]` value parser and decryption with a fixed key: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::sops::cipher::{Cipher, DataKey, parse_enc};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_enc(s);
        let key = DataKey::from_slice(&[7u8; 32]).expect("32 bytes");
        let mut c = Cipher::new(&key);
        let _ = c.decrypt_value(s, "a:b:");
    }
});
