//! The dotenv store: parsing never panics, and whatever parses re-emits and re-parses to the same tree.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::sops::format::{Format, Layout, emit_plain, load_encrypted, load_plain};
use sigil::sops::tree::round_trip_equivalent;

fuzz_target!(|data: &[u8]| {
    let _ = load_encrypted(Format::Dotenv, data);
    if let Ok(docs) = load_plain(Format::Dotenv, data) {
        if let Ok(out) = emit_plain(Format::Dotenv, &docs, &Layout { yaml_comment_quirks: false, ..Layout::default() }) {
            let again = load_plain(Format::Dotenv, &out).expect("emitted output must parse again");
            assert_eq!(again.len(), docs.len());
            for (a, b) in again.iter().zip(&docs) {
                assert!(round_trip_equivalent(a, b, false, true), "round trip changed values or comment paths");
            }
        }
    }
});
