//! gpgsm and gitsign commit signatures (armored CMS, BER with indefinite lengths) from
//! untrusted bytes: the BER re-encoder, the CMS reader and both trust checks (a CA bundle;
//! a keyless identity under the pinned public-good root, with gitsign's Rekor entry
//! attribute) never panic; what re-encodes is DER that re-encodes to itself.
#![no_main]
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sigil::image::verify::{Keyless, Matcher};
use sigil::signature::cms::{ber_to_der, read};
use sigil::signature::{gitsign, x509};

fn keyless() -> &'static Keyless {
    static K: OnceLock<Keyless> = OnceLock::new();
    K.get_or_init(|| Keyless {
        root: Arc::new(sigil::image::public_good::root().unwrap()),
        issuer: Matcher::regex(".*").unwrap(),
        subject: Matcher::regex(".*").unwrap(),
        require_sct: true,
        require_tlog: true,
        rekor_search: None,
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(der) = ber_to_der(data) {
        assert_eq!(ber_to_der(&der).as_deref(), Ok(&der[..]));
    }
    let mut armored = b"-----BEGIN SIGNED MESSAGE-----\n".to_vec();
    armored.extend_from_slice(data);
    for sig in [data, &armored[..]] {
        if let Ok(cms) = read(sig, b"tree 0\n") {
            let _ = x509::verify(&cms, &[], &[0]);
            let _ = gitsign::verify(&cms, &[Some(keyless())], "0000000000000000000000000000000000000000");
        }
    }
});
