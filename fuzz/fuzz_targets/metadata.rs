//! The metadata parser (from a JSON tree) and the dotenv/INI flattening: never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::sops::metadata::Metadata;
use sigil::sops::store::{flatten, json};
use sigil::sops::tree::{Entry, Value};

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = json::load(data) {
        let v = Value::Map(doc.iter().map(sigil::sops::format::clone_entry).collect());
        if let Ok(m) = Metadata::from_value(&v) {
            let back = Metadata::from_value(&m.to_value(true)).expect("own metadata re-parses");
            assert_eq!(back.last_modified, m.last_modified);
            let flat = flatten::flatten(&m.to_value(true));
            let _ = flatten::unflatten(&flat).map(|u| Metadata::from_value(&u));
        }
        for e in &doc {
            if let Entry::Pair(_, inner) = e {
                let _ = Metadata::from_value(inner);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let pairs: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let _ = flatten::unflatten(&pairs).map(|u| Metadata::from_value(&u));
    }
});
