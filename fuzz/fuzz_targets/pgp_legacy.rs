//! The decoder for OpenPGP messages written by Go's old OpenPGP library (sops's own fixtures):
//! never panics, never returns more than its limit; a well-formed encryption decrypts to its
//! payload or is refused only for the packets inside it.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "sops_harness.rs"]
mod sops_harness;

fuzz_target!(|data: &[u8]| sops_harness::pgp_legacy::run(data));
