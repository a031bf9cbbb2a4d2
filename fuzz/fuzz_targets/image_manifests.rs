//! Kubernetes manifest image discovery and kustomize `images:` overrides: never panic; every
//! found reference that parses round-trips through its display form.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "image_harness.rs"]
mod image_harness;

fuzz_target!(|data: &[u8]| image_harness::image_manifests::run(data));
