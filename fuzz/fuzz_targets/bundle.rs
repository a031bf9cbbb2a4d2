//! Sigstore bundles from untrusted bytes through the whole verifier, as an image signature and
//! as a blob's bundle (keyless against the
//! public-good trusted root, and a key authority), plus every `tlogEntries[]` element parsed
//! and checked directly (SET, inclusion proof, checkpoint, body binding), since the verifier
//! only reaches the log checks after a valid signature. Never panics. The image digest
//! required is the statement's first subject, so mutations of a validly signed seed's unsigned
//! parts reach the later checks.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "image_harness.rs"]
mod image_harness;

fuzz_target!(|data: &[u8]| image_harness::bundle::run(data));
