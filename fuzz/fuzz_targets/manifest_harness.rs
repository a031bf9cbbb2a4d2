//! The manifest fuzz targets' bodies (`src/manifest/`), shared with `tests/fuzz_regressions.rs`
//! so the regression inputs replay through exactly the code the fuzzers ran. Each module's `run`
//! takes one input and panics only on a bug.
#![allow(dead_code)]

use sigil::git::tree::{Entry, MODE_FILE, MODE_SYMLINK, check_entries};

/// Separates the records of a multi-file input.
pub const SEPARATOR: &[u8] = b"\n=====\n";

/// Splits `data` on [`SEPARATOR`].
pub fn records(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        out.push(&rest[..i]);
        rest = &rest[i + SEPARATOR.len()..];
    }
    out.push(rest);
    out
}

/// A tree from `path\0content` records (a path starting with `@` is a symlink whose content is
/// its target), keeping only the entries the git tree reader would accept, as it hands them on:
/// all of them when they pass together, else those of the first 32 that pass one by one.
pub fn tree(records: &[&[u8]]) -> Vec<Entry> {
    let mut all: Vec<Entry> = Vec::new();
    for r in records.iter().take(4096) {
        let (path, data) = match r.iter().position(|&b| b == 0) {
            Some(i) => (&r[..i], &r[i + 1..]),
            None => (*r, &b""[..]),
        };
        let Ok(path) = std::str::from_utf8(path) else {
            continue;
        };
        let (path, mode) = match path.strip_prefix('@') {
            Some(p) => (p, MODE_SYMLINK),
            None => (path, MODE_FILE),
        };
        all.push(Entry {
            path: path.to_string(),
            mode,
            data: data.to_vec(),
        });
    }
    let mut out = if check_entries(&all).is_ok() {
        all
    } else {
        let mut out: Vec<Entry> = Vec::new();
        for e in all.into_iter().take(32) {
            out.push(e);
            if check_entries(&out).is_err() {
                out.pop();
            }
        }
        out
    };
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The syntax an input is read with: JSON when it starts like a JSON value, else YAML.
pub fn syntax_of(data: &[u8]) -> sigil::manifest::documents::Syntax {
    use sigil::manifest::documents::Syntax;
    match data.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{' | b'[' | b'"') => Syntax::Json,
        _ => Syntax::Yaml,
    }
}

/// `documents::parse` on both syntaxes, `unwrap_lists`, and what the gate does with each object:
/// images, reconciler sources, and re-emitting it as YAML for publication, which must read back
/// as exactly the object that was checked.
pub mod manifest_documents {
    use serde_json::Value;
    use sigil::manifest::documents::{Syntax, parse, unwrap_lists};
    use sigil::manifest::inspect::{images, reconciler_source};

    /// One object re-emitted as the gate publishes it reads back the same.
    fn round_trips(v: &Value) {
        let text = serde_json::to_string(v).expect("a parsed value serialises as JSON");
        let again: Value = serde_json::from_str(&text).expect("its JSON parses again");
        assert_eq!(
            again.is_object(),
            v.is_object(),
            "JSON round trip changed the shape"
        );
        let yaml = yaml_serde::to_string(v).expect("a parsed value serialises as YAML");
        let docs = parse(yaml.as_bytes(), Syntax::Yaml)
            .unwrap_or_else(|e| panic!("{v:?} re-emitted as {yaml:?} does not parse: {e}"));
        if v.is_null() {
            assert!(docs.is_empty(), "null re-emitted as {yaml:?}");
        } else {
            assert_eq!(docs.len(), 1, "{v:?} re-emitted as {yaml:?}");
            assert_eq!(
                &docs[0].value, v,
                "{v:?} re-emitted as {yaml:?} reads back differently"
            );
        }
    }

    fn one(data: &[u8], syntax: Syntax) {
        let Ok(docs) = parse(data, syntax) else {
            return;
        };
        let mut stream = String::new();
        let mut objects = Vec::new();
        for d in docs {
            assert!(!d.value.is_null(), "null documents are dropped");
            round_trips(&d.value);
            let mut out = Vec::new();
            unwrap_lists(d.value, &mut out, format!("#{}", d.index));
            for (_, obj) in out {
                round_trips(&obj);
                let _ = images(&obj, &[]);
                let _ = reconciler_source(&obj);
                // The published stream: every object as its own document.
                stream.push_str("---\n");
                stream.push_str(&yaml_serde::to_string(&obj).expect("serialises"));
                if !obj.is_null() {
                    objects.push(obj);
                }
            }
        }
        let back = parse(stream.as_bytes(), Syntax::Yaml)
            .unwrap_or_else(|e| panic!("the published stream {stream:?} does not parse: {e}"));
        let back: Vec<Value> = back.into_iter().map(|d| d.value).collect();
        assert_eq!(
            back, objects,
            "the published stream {stream:?} reads back differently"
        );
    }

    /// One input.
    pub fn run(data: &[u8]) {
        let syntax = super::syntax_of(data);
        one(data, syntax);
        if syntax == Syntax::Json {
            // Flow-style YAML is JSON too: consumers may read a `.yaml` file holding it.
            one(data, Syntax::Yaml);
        }
    }
}

/// Kustomization planning over a tree from the input (the first record is the root
/// `kustomization.yaml`, the others `path\0content`): never panics, a refusal says why, and
/// every path the sandbox materialises stays a plain relative path of the tree.
pub mod kustomization {
    use sigil::git::tree::{Entry, MODE_FILE};
    use sigil::manifest::kustomization::plan;
    use sigil::manifest::tree_index::{Kind, TreeIndex};

    fn safe(p: &str) -> bool {
        !p.is_empty()
            && !p.starts_with('/')
            && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
    }

    fn check(tree: &TreeIndex<'_>, path: &str) {
        match plan(tree, path) {
            Ok(p) => {
                for f in &p.closure {
                    assert!(safe(f), "plan({path:?}): closure path {f:?} is not safe");
                }
                for (d, bytes) in &p.generated {
                    assert!(
                        d.is_empty() || safe(d),
                        "plan({path:?}): generated kustomization in {d:?}"
                    );
                    assert_eq!(
                        tree.kind(d),
                        Kind::Dir,
                        "generated in a non-directory {d:?}"
                    );
                    assert!(!bytes.is_empty());
                }
            }
            Err(r) => assert!(!r.message.is_empty(), "a refusal without a message: {r:?}"),
        }
    }

    /// One input.
    pub fn run(data: &[u8]) {
        let records = super::records(data);
        let mut entries = super::tree(&records[1..]);
        if !entries.iter().any(|e| e.path == "kustomization.yaml") {
            entries.push(Entry {
                path: "kustomization.yaml".into(),
                mode: MODE_FILE,
                data: records[0].to_vec(),
            });
            if sigil::git::tree::check_entries(&entries).is_err() {
                entries.pop();
            }
        }
        let tree = TreeIndex::new(&entries);
        check(&tree, "");
        let mut dirs: Vec<&str> = entries
            .iter()
            .filter_map(|e| e.path.rsplit_once('/').map(|(d, _)| d))
            .collect();
        dirs.sort_unstable();
        dirs.dedup();
        for d in dirs.into_iter().take(4) {
            check(&tree, d);
        }
        check(&tree, "missing");
    }
}

/// Flux post-build substitution: never panics; text without `$` is unchanged; `$$` never makes
/// more `$` than the input had (the variables hold none); an object whose YAML holds no `$`
/// comes back unchanged.
pub mod substitute {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};
    use sigil::manifest::documents::parse;
    use sigil::manifest::substitute::{expand, substitute};

    fn vars() -> BTreeMap<String, String> {
        [
            ("TAG", "v2"),
            ("NAME", "app"),
            ("EMPTY", ""),
            ("R", "3"),
            ("MULTI", "a\nb"),
            ("_x1", "{k: v}"),
            ("ÉTÉ", "été"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn object(v: &Value, vars: &BTreeMap<String, String>) {
        let Ok(out) = substitute(v, vars) else {
            return;
        };
        let text = yaml_serde::to_string(v).expect("serialises");
        if !text.contains('$') {
            assert_eq!(&out, v, "substitution without any $ changed {text:?}");
        }
    }

    /// One input.
    pub fn run(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let vars = vars();
        let dollars = text.matches('$').count();
        match expand(text, &vars) {
            Ok(out) => {
                assert!(
                    out.matches('$').count() <= dollars,
                    "{text:?} expanded to {out:?}: more $ than the input had"
                );
                if dollars == 0 {
                    assert_eq!(out, text, "text without $ changed");
                }
            }
            Err(e) => {
                assert!(dollars > 0, "text without $ refused: {e}");
                assert!(!e.is_empty());
            }
        }
        let obj = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {"l": text}},
            "data": {"v": text, text: "k"},
        });
        object(&obj, &vars);
        if let Ok(docs) = parse(data, super::syntax_of(data)) {
            for d in docs.iter().take(4) {
                object(&d.value, &vars);
            }
        }
    }
}

/// Argo CD directory include/exclude globs (`pattern\0path`): never panic; a pattern without
/// any of `*?[{\` matches exactly itself.
pub mod directory_glob {
    use sigil::manifest::directory::Glob;

    /// One input.
    pub fn run(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let (pattern, path) = text.split_once('\0').unwrap_or((text, text));
        let Ok(g) = Glob::new(pattern) else {
            assert!(
                pattern.contains(['*', '?', '[', '{', '\\']),
                "the literal pattern {pattern:?} is refused"
            );
            return;
        };
        let hit = g.matches(path);
        if !pattern.contains(['*', '?', '[', '{', '\\']) {
            assert!(g.matches(pattern), "{pattern:?} does not match itself");
            assert_eq!(hit, path == pattern, "literal {pattern:?} against {path:?}");
        }
    }
}

/// Rendered Secrets against the SOPS files of a tree (the first record is the object, YAML or
/// JSON; the others `path\0content` files): never panics, and a Secret is found to carry no
/// ciphertext only when it has no non-empty `data`/`stringData` value.
pub mod rendered_secret {
    use serde_json::Value;
    use sigil::manifest::documents::{parse, unwrap_lists};
    use sigil::manifest::secrets::{SopsFiles, Source};

    /// Whether a value of `data` decodes to nothing (Go's base64 skips line breaks).
    fn empty_data(v: &Value) -> bool {
        v.as_str()
            .is_some_and(|s| s.chars().all(|c| c == '\n' || c == '\r'))
    }

    fn empty_string_data(v: &Value) -> bool {
        v.is_null() || v.as_str() == Some("")
    }

    /// Whether `obj` has no non-empty `data`/`stringData` value.
    fn carries_nothing(obj: &Value) -> bool {
        let field = |name: &str, empty: fn(&Value) -> bool| match obj.get(name) {
            None | Some(Value::Null) => true,
            Some(Value::Object(m)) => m.values().all(empty),
            Some(_) => false,
        };
        field("data", empty_data) && field("stringData", empty_string_data)
    }

    /// One input.
    pub fn run(data: &[u8]) {
        let records = super::records(data);
        let entries = super::tree(&records[1..]);
        let Ok(docs) = parse(records[0], super::syntax_of(records[0])) else {
            return;
        };
        let mut objects = Vec::new();
        for d in docs {
            unwrap_lists(d.value, &mut objects, String::new());
        }
        let mut sops = SopsFiles::new(&entries, None);
        for (_, obj) in objects.iter().take(8) {
            for require in [&[][..], &["ConfigMap".to_string()][..]] {
                match sops.check(obj, "subject", require) {
                    Ok(Some(Source::Empty)) => assert!(
                        carries_nothing(obj),
                        "{obj:?} has data but was found to carry none"
                    ),
                    Ok(Some(s)) => {
                        for f in s.files() {
                            assert!(entries.iter().any(|e| e.path == f), "{f} is no file");
                        }
                    }
                    Ok(None) => {}
                    Err(r) => assert!(!r.message.is_empty()),
                }
            }
        }
    }
}
