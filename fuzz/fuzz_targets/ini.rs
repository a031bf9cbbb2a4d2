//! The ini store: parsing never panics, and whatever parses re-emits and re-parses to the same tree.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sigil::sops::format::{Format, Layout, emit_plain, load_encrypted, load_plain};
use sigil::sops::tree::{Entry, Value};

/// Same structure, comments and MAC bytes (a float 3.0 may come back as the int 3, as in sops).
fn equivalent(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|p| match p {
                    (Entry::Pair(k1, v1), Entry::Pair(k2, v2)) => k1 == k2 && equivalent(v1, v2),
                    (Entry::Comment(c1), Entry::Comment(c2)) => c1 == c2,
                    _ => false,
                })
        }
        (Value::Seq(x), Value::Seq(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equivalent(p, q)),
        (Value::Null, Value::Null) => true,
        (Value::Comment(p), Value::Comment(q)) => p == q,
        _ => match (a.canonical_bytes(), b.canonical_bytes()) {
            (Some(p), Some(q)) => p[..] == q[..],
            _ => false,
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = load_encrypted(Format::Ini, data);
    if let Ok(docs) = load_plain(Format::Ini, data) {
        if let Ok(out) = emit_plain(Format::Ini, &docs, &Layout::default()) {
            let again = load_plain(Format::Ini, &out).expect("emitted output must parse again");
            assert_eq!(again.len(), docs.len());
            for (a, b) in again.iter().zip(&docs) {
                let a = Value::Map(a.iter().map(sigil::sops::format::clone_entry).collect());
                let b = Value::Map(b.iter().map(sigil::sops::format::clone_entry).collect());
                assert!(equivalent(&a, &b), "round trip changed the tree");
            }
        }
    }
});
