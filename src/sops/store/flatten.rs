//! Flattening of the `sops` metadata for the dotenv and INI stores (sops `stores/flatten.go`).
//!
//! A map level becomes `__map_<key>` and a list index `__list_<n>`; top-level keys have no
//! prefix. Example: `age__list_0__map_enc`, `key_groups__list_1__map_age__list_0__map_recipient`.
//! Values stay raw here (newlines included): the dotenv emitter escapes newlines in every
//! value, and [`escape_newlines`] is for the INI `[sops]` section.

use std::collections::{BTreeMap, HashMap};

use zeroize::Zeroizing;

use crate::sops::error::Error;
use crate::sops::tree::{Entry, Value, go_format_float};

const MAP_SEP: &str = "__map_";
const LIST_SEP: &str = "__list_";
/// Deepest path accepted by [`unflatten`] (real metadata needs 6 levels).
const MAX_DEPTH: usize = 32;

/// Flattens a metadata tree (from `Metadata::to_value(true)`) into `(key, value)` pairs,
/// sorted bytewise by key. Nulls, empty lists/maps and comments produce nothing; booleans
/// become `true`/`false`, integers `%d`.
pub fn flatten(meta: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match meta {
        Value::Map(entries) => {
            for e in entries {
                if let Entry::Pair(k, v) = e {
                    walk(k.to_string(), v, &mut out);
                }
            }
        }
        other => walk(String::new(), other, &mut out),
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out
}

fn walk(path: String, v: &Value, out: &mut Vec<(String, String)>) {
    let leaf = match v {
        Value::Null | Value::Comment(_) => return,
        Value::Map(entries) => {
            for e in entries {
                if let Entry::Pair(k, v) = e {
                    walk(format!("{path}{MAP_SEP}{}", k.as_str()), v, out);
                }
            }
            return;
        }
        Value::Seq(items) => {
            let items = items.iter().filter(|i| !matches!(i, Value::Comment(_)));
            for (i, item) in items.enumerate() {
                walk(format!("{path}{LIST_SEP}{i}"), item, out);
            }
            return;
        }
        Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
        Value::Int(i) => i.to_string(),
        // Go prints a float shamir_threshold with "%.0f"; other floats never occur.
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 => format!("{f:.0}"),
        Value::Float(f) => go_format_float(*f),
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => t.to_string(),
    };
    out.push((path, leaf));
}

enum Token<'a> {
    Key(&'a str),
    Index(usize),
}

fn finish<'a>(
    key: &'a str,
    start: usize,
    end: usize,
    is_list: bool,
    tokens: &mut Vec<Token<'a>>,
) -> Result<(), Error> {
    let text = &key[start..end];
    if is_list {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Parse(format!(
                "invalid list index '{text}' in sops metadata key '{key}'"
            )));
        }
        let n = text.parse::<usize>().map_err(|_| {
            Error::Parse(format!("list index too large in sops metadata key '{key}'"))
        })?;
        tokens.push(Token::Index(n));
    } else {
        tokens.push(Token::Key(text));
    }
    Ok(())
}

/// Splits a flattened key into its path (sops `tokenize`, but list indices must be numbers).
fn tokenize(key: &str) -> Result<Vec<Token<'_>>, Error> {
    let mut tokens = Vec::new();
    let mut start = 0;
    let mut is_list = false;
    let mut i = 0;
    while i < key.len() {
        let rest = &key[i..];
        if rest.starts_with(MAP_SEP) {
            finish(key, start, i, is_list, &mut tokens)?;
            i += MAP_SEP.len();
            start = i;
            is_list = false;
        } else if rest.starts_with(LIST_SEP) {
            finish(key, start, i, is_list, &mut tokens)?;
            i += LIST_SEP.len();
            start = i;
            is_list = true;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    finish(key, start, key.len(), is_list, &mut tokens)?;
    Ok(tokens)
}

enum Node {
    Leaf(String),
    /// Entries in insertion order, with an index by name.
    Map(Vec<(String, Node)>, HashMap<String, usize>),
    List(BTreeMap<usize, Node>),
}

fn conflict(key: &str) -> Error {
    Error::Parse(format!("conflicting sops metadata key '{key}'"))
}

fn insert(node: &mut Node, tokens: &[Token<'_>], value: &str, key: &str) -> Result<(), Error> {
    let Some((first, rest)) = tokens.split_first() else {
        return Err(conflict(key));
    };
    let new_child = || match rest.first() {
        None => Node::Leaf(value.to_string()),
        Some(Token::Key(_)) => Node::Map(Vec::new(), HashMap::new()),
        Some(Token::Index(_)) => Node::List(BTreeMap::new()),
    };
    let child = match (node, first) {
        (Node::Map(entries, index), Token::Key(k)) => match index.get(*k) {
            Some(&i) => &mut entries[i].1,
            None => {
                index.insert(k.to_string(), entries.len());
                entries.push((k.to_string(), new_child()));
                let last = entries.len() - 1;
                if rest.is_empty() {
                    return Ok(());
                }
                &mut entries[last].1
            }
        },
        (Node::List(items), Token::Index(n)) => {
            if !items.contains_key(n) {
                items.insert(*n, new_child());
                if rest.is_empty() {
                    return Ok(());
                }
            }
            items.get_mut(n).ok_or_else(|| conflict(key))?
        }
        _ => return Err(conflict(key)),
    };
    if rest.is_empty() {
        // The leaf's place is already taken.
        return Err(Error::Parse(format!("duplicate sops metadata key '{key}'")));
    }
    insert(child, rest, value, key)
}

fn to_value(node: Node, path: &str) -> Result<Value, Error> {
    Ok(match node {
        Node::Leaf(s) => Value::str(&s),
        Node::Map(entries, _) => Value::Map(
            entries
                .into_iter()
                .map(|(k, n)| {
                    let sub = format!("{path}{MAP_SEP}{k}");
                    Ok(Entry::Pair(Zeroizing::new(k), to_value(n, &sub)?))
                })
                .collect::<Result<_, Error>>()?,
        ),
        Node::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (expected, (n, child)) in items.into_iter().enumerate() {
                if n != expected {
                    return Err(Error::Parse(format!(
                        "sops metadata list '{path}' has no item {expected} (indices must count from 0 without gaps)"
                    )));
                }
                out.push(to_value(child, &format!("{path}{LIST_SEP}{n}"))?);
            }
            Value::Seq(out)
        }
    })
}

/// Rebuilds the nested metadata tree from flattened pairs (the inverse of [`flatten`]).
/// All leaves are strings. Map keys come out in bytewise order; list indices must be
/// contiguous from 0; a key given twice, or used both as a leaf and a container, is an error.
pub fn unflatten(pairs: &[(String, String)]) -> Result<Value, Error> {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut root = Node::Map(Vec::new(), HashMap::new());
    for (key, value) in sorted {
        let tokens = tokenize(key)?;
        if tokens.len() > MAX_DEPTH {
            return Err(Error::Parse(format!(
                "sops metadata key nested deeper than {MAX_DEPTH} levels"
            )));
        }
        insert(&mut root, &tokens, value, key)?;
    }
    to_value(root, "")
}

/// Newlines to the two characters `\n` (sops `EncodeNewLines`).
pub fn escape_newlines(s: &str) -> String {
    s.replace('\n', "\\n")
}

/// The two characters `\n` to newlines (sops `DecodeNewLines`).
pub fn unescape_newlines(s: &str) -> String {
    s.replace("\\n", "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sops::tree::get;

    fn pair(k: &str, v: Value) -> Entry {
        Entry::Pair(Zeroizing::new(k.to_string()), v)
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    fn meta_tree() -> Value {
        Value::Map(vec![
            pair("shamir_threshold", Value::Int(2)),
            pair(
                "key_groups",
                Value::Seq(vec![
                    Value::Map(vec![
                        pair(
                            "pgp",
                            Value::Seq(vec![Value::Map(vec![
                                pair("created_at", Value::str("2019-12-10T22:45:52Z")),
                                pair(
                                    "enc",
                                    Value::str(
                                        "-----BEGIN PGP MESSAGE-----\n\nabc\n-----END PGP MESSAGE-----",
                                    ),
                                ),
                                pair("fp", Value::str("FBC7")),
                            ])]),
                        ),
                        pair("hc_vault", Value::Null),
                        pair("age", Value::Null),
                    ]),
                    Value::Map(vec![
                        pair("hc_vault", Value::Null),
                        pair(
                            "age",
                            Value::Seq(vec![Value::Map(vec![
                                pair("recipient", Value::str("age1xyz")),
                                pair(
                                    "enc",
                                    Value::str(
                                        "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n",
                                    ),
                                ),
                            ])]),
                        ),
                    ]),
                ]),
            ),
            pair("kms", Value::Seq(vec![])),
            pair("lastmodified", Value::str("2025-01-01T00:00:00Z")),
            pair(
                "mac",
                Value::str("ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"),
            ),
            pair("unencrypted_suffix", Value::str("_unencrypted")),
            pair("mac_only_encrypted", Value::Bool(true)),
            pair("version", Value::str("3.11.0")),
        ])
    }

    #[test]
    fn flatten_names_and_order() {
        let flat = flatten(&meta_tree());
        let keys: Vec<&str> = flat.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "key_groups__list_0__map_pgp__list_0__map_created_at",
                "key_groups__list_0__map_pgp__list_0__map_enc",
                "key_groups__list_0__map_pgp__list_0__map_fp",
                "key_groups__list_1__map_age__list_0__map_enc",
                "key_groups__list_1__map_age__list_0__map_recipient",
                "lastmodified",
                "mac",
                "mac_only_encrypted",
                "shamir_threshold",
                "unencrypted_suffix",
                "version",
            ]
        );
        let get = |k: &str| flat.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("shamir_threshold"), Some("2"));
        assert_eq!(get("mac_only_encrypted"), Some("true"));
        assert_eq!(
            get("key_groups__list_1__map_age__list_0__map_enc"),
            Some("-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n")
        );
    }

    #[test]
    fn flatten_single_group_names() {
        let meta = Value::Map(vec![
            pair(
                "age",
                Value::Seq(vec![
                    Value::Map(vec![
                        pair("recipient", Value::str("a")),
                        pair("enc", Value::str("e")),
                    ]),
                    Value::Map(vec![
                        pair("recipient", Value::str("b")),
                        pair("enc", Value::str("f")),
                    ]),
                ]),
            ),
            pair("lastmodified", Value::str("t")),
            pair("shamir_threshold", Value::Float(3.0)),
        ]);
        assert_eq!(
            flatten(&meta),
            vec![
                p("age__list_0__map_enc", "e"),
                p("age__list_0__map_recipient", "a"),
                p("age__list_1__map_enc", "f"),
                p("age__list_1__map_recipient", "b"),
                p("lastmodified", "t"),
                p("shamir_threshold", "3"),
            ]
        );
    }

    #[test]
    fn unflatten_inverts_flatten() {
        let flat = flatten(&meta_tree());
        let tree = unflatten(&flat).unwrap();
        assert_eq!(flatten(&tree), flat);
        let Value::Map(top) = &tree else { panic!() };
        let Some(Value::Seq(groups)) = get(top, "key_groups") else {
            panic!()
        };
        assert_eq!(groups.len(), 2);
        let Value::Map(g1) = &groups[1] else { panic!() };
        let Some(Value::Seq(ages)) = get(g1, "age") else {
            panic!()
        };
        let Value::Map(a) = &ages[0] else { panic!() };
        assert!(matches!(get(a, "recipient"), Some(Value::Str(s)) if &s[..] == b"age1xyz"));
        assert!(matches!(get(top, "shamir_threshold"), Some(Value::Str(s)) if &s[..] == b"2"));
    }

    #[test]
    fn unflatten_any_input_order() {
        let pairs = vec![
            p("pgp__list_1__map_fp", "B"),
            p("pgp__list_0__map_fp", "A"),
            p("lastmodified", "t"),
            p("pgp__list_1__map_enc", "y"),
            p("pgp__list_0__map_enc", "x"),
        ];
        let tree = unflatten(&pairs).unwrap();
        let Value::Map(top) = &tree else { panic!() };
        let Some(Value::Seq(pgp)) = get(top, "pgp") else {
            panic!()
        };
        let Value::Map(first) = &pgp[0] else { panic!() };
        assert!(matches!(get(first, "fp"), Some(Value::Str(s)) if &s[..] == b"A"));
        // A nested map inside a map (kms context).
        let tree = unflatten(&[p("kms__list_0__map_context__map_k", "v")]).unwrap();
        assert_eq!(
            flatten(&tree),
            vec![p("kms__list_0__map_context__map_k", "v")]
        );
        // Lists of lists.
        let tree = unflatten(&[p("a__list_0__list_1", "y"), p("a__list_0__list_0", "x")]).unwrap();
        assert_eq!(
            flatten(&tree),
            vec![p("a__list_0__list_0", "x"), p("a__list_0__list_1", "y")]
        );
        assert!(matches!(unflatten(&[]), Ok(Value::Map(e)) if e.is_empty()));
    }

    #[test]
    fn unflatten_errors() {
        for bad in [
            vec![p("age__list_1__map_enc", "x")],
            vec![
                p("age__list_0__map_enc", "x"),
                p("age__list_2__map_enc", "x"),
            ],
            vec![p("age__list_x__map_enc", "x")],
            vec![p("age__list___map_enc", "x")],
            vec![p("age__list_99999999999999999999999", "x")],
            vec![p("mac", "x"), p("mac", "y")],
            vec![p("mac", "x"), p("mac__map_a", "y")],
            vec![p("mac__map_a", "y"), p("mac", "x")],
            vec![p("age__list_0", "x"), p("age__map_a", "y")],
            vec![p("age__list_0", "x"), p("age__list_0__map_a", "y")],
            vec![(format!("a{}", "__list_0".repeat(100_000)), "x".to_string())],
        ] {
            assert!(matches!(unflatten(&bad), Err(Error::Parse(_))), "{bad:?}");
        }
    }

    #[test]
    fn newline_escaping() {
        assert_eq!(escape_newlines("a\nb\n"), "a\\nb\\n");
        assert_eq!(unescape_newlines("a\\nb\\n"), "a\nb\n");
        assert_eq!(unescape_newlines(&escape_newlines("x\ny")), "x\ny");
    }
}
