//! The registry's `WWW-Authenticate` challenge parameters (sent by any registry sigil asks):
//! never panics; what registries write parses back to the same parameters.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "image_harness.rs"]
mod image_harness;

fuzz_target!(|data: &[u8]| image_harness::www_authenticate::run(data));
