//! RFC 3161 timestamp responses and tokens from untrusted bytes: status, CMS SignedData,
//! TSTInfo, signed attributes, ESS certificate binding, signature and path. Never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "image_harness.rs"]
mod image_harness;

fuzz_target!(|data: &[u8]| image_harness::tsa::run(data));
