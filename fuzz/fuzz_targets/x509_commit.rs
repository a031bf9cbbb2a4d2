//! gpgsm commit signatures (armored CMS, BER with indefinite lengths) from untrusted bytes:
//! the BER re-encoder and the whole verifier never panic; what re-encodes is DER that
//! re-encodes to itself.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::signature::x509::{ber_to_der, verify};

fuzz_target!(|data: &[u8]| {
    if let Ok(der) = ber_to_der(data) {
        assert_eq!(ber_to_der(&der).as_deref(), Ok(&der[..]));
    }
    let mut armored = b"-----BEGIN SIGNED MESSAGE-----\n".to_vec();
    armored.extend_from_slice(data);
    let _ = verify(data, b"tree 0\n", &[], &[0]);
    let _ = verify(&armored, b"tree 0\n", &[], &[0]);
});
