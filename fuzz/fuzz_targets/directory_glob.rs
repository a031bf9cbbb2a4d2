//! Argo CD directory include/exclude globs (`pattern\0path`): never panic; a pattern without
//! any of `*?[{\` matches exactly itself.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "manifest_harness.rs"]
mod manifest_harness;

fuzz_target!(|data: &[u8]| manifest_harness::directory_glob::run(data));
