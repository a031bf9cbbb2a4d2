//! Image reference parsing: never panics, and whatever parses re-displays as a reference that
//! parses again to the same value (the normal form is a fixed point).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "image_harness.rs"]
mod image_harness;

fuzz_target!(|data: &[u8]| image_harness::image_reference::run(data));
