//! Kustomization planning over a tree from the input (the first record is the root
//! `kustomization.yaml`, the others `path\0content`): never panics, a refusal says why, and
//! every path the sandbox materialises stays a plain relative path of the tree.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "manifest_harness.rs"]
mod manifest_harness;

fuzz_target!(|data: &[u8]| manifest_harness::kustomization::run(data));
