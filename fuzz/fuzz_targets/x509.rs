//! X.509 certificates from untrusted bytes (DER and PEM chains): parsing, identity, EKU,
//! embedded SCTs (CT log keys of the public-good trusted root) and path building against
//! fixed CAs. Never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "image_harness.rs"]
mod image_harness;

fuzz_target!(|data: &[u8]| image_harness::x509::run(data));
