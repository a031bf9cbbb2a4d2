//! Rekor `TransparencyLogEntry` protobufs (gitsign's CMS attribute) from untrusted bytes:
//! never panics, and whatever parses keeps the body it was given unless it carries one.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::image::tlog::TlogEntry;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = TlogEntry::from_protobuf(data, b"{}".to_vec()) {
        assert!(e.log_index >= 0 && !e.log_id.is_empty());
        assert!(!e.canonicalized_body.is_empty());
    }
});
