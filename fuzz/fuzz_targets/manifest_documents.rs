//! `documents::parse` on both syntaxes, `unwrap_lists`, and what the gate does with each object:
//! images, reconciler sources, and re-emitting it as YAML for publication, which must read back
//! as exactly the object that was checked.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "manifest_harness.rs"]
mod manifest_harness;

fuzz_target!(|data: &[u8]| manifest_harness::manifest_documents::run(data));
