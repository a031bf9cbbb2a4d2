//! Legacy cosign signatures from untrusted bytes: `.sig` manifests (`layers`), containers/image
//! signature files, and `{payload, annotations}` JSON, each run through the whole verifier
//! against fixed key, key+Rekor and Fulcio+Rekor authorities. Never panics. The image digest
//! required is the one the payload claims, so mutations of the unsigned parts (certificate,
//! chain, Rekor bundle annotation) of a validly signed seed reach the later checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "image_harness.rs"]
mod image_harness;

fuzz_target!(|data: &[u8]| image_harness::signature_layer::run(data));
