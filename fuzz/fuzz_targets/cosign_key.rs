//! cosign private keys from untrusted text: the encrypted envelope (scrypt parameters are
//! checked before scrypt runs) and unencrypted PKCS#8/SEC1 imports. Never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "image_harness.rs"]
mod image_harness;

fuzz_target!(|data: &[u8]| image_harness::cosign_key::run(data));
