//! Raw commit and tag parsing (both object formats): never panics; the signed payload plus the
//! signature header never exceeds the object.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::git::object::{HashAlgo, parse_commit, parse_tag};

fuzz_target!(|data: &[u8]| {
    for algo in [HashAlgo::Sha1, HashAlgo::Sha256] {
        if let Ok(c) = parse_commit(data, algo) {
            assert!(c.payload.len() <= data.len());
            if c.signature.is_none() {
                assert_eq!(c.payload, data);
            }
        }
        if let Ok(t) = parse_tag(data, algo) {
            assert!(t.payload.len() <= data.len());
        }
    }
});
