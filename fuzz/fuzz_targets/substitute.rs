//! Flux post-build substitution: never panics; text without `$` is unchanged; `$$` never makes
//! more `$` than the input had (the variables hold none); an object whose YAML holds no `$`
//! comes back unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "manifest_harness.rs"]
mod manifest_harness;

fuzz_target!(|data: &[u8]| manifest_harness::substitute::run(data));
