//! `trusted_root.json` and PEM trust material from untrusted bytes: never panic; a root that
//! loads answers key lookups.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "image_harness.rs"]
mod image_harness;

fuzz_target!(|data: &[u8]| image_harness::trust_root::run(data));
