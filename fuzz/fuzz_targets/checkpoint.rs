//! Signed checkpoints (C2SP signed notes) from untrusted bytes: origin, size and root lines,
//! signature lines with their key hints. Never panics; whatever parses re-reads the same.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cp) = sigil::image::tlog::Checkpoint::parse(text) {
        assert!(!cp.signatures.is_empty());
        assert!(text.as_bytes().starts_with(cp.signed));
        assert_eq!(sigil::image::tlog::Checkpoint::parse(text).ok(), Some(cp));
    }
});
