//! Rendered Secrets against the SOPS files of a tree (the first record is the object, YAML or
//! JSON; the others `path\0content` files): never panics, and a Secret is found to carry no
//! ciphertext only when it has no non-empty `data`/`stringData` value.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "manifest_harness.rs"]
mod manifest_harness;

fuzz_target!(|data: &[u8]| manifest_harness::rendered_secret::run(data));
