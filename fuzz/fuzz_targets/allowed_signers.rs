//! The allowed_signers and revocation list parsers: never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::signature::allowed_signers::{match_pattern_list, parse, parse_revoked};

fuzz_target!(|data: &[u8]| {
    let _ = parse_revoked(data, "fuzz");
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(entries) = parse(text, "fuzz") {
            for e in entries {
                let _ = match_pattern_list("alice@example.com", &e.principals);
            }
        }
    }
});
