//! The SOPS document tree: ordered maps with comments, lists and typed leaves.
//!
//! Every store parses into this shape and emits from it, so the cipher and MAC code never sees a
//! file format. Plaintext leaves live in zeroizing buffers.

use zeroize::Zeroizing;

/// Bytes that are wiped when dropped (plaintext values, keys, comments).
pub type Bytes = Zeroizing<Vec<u8>>;
/// Text that is wiped when dropped.
pub type Text = Zeroizing<String>;

/// One node of a document.
pub enum Value {
    /// YAML/JSON null: never encrypted, never hashed.
    Null,
    /// A string; need not be UTF-8 (binary store payloads).
    Str(Bytes),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A timestamp, held in its canonical RFC 3339 text (Go's `time.MarshalText`).
    Time(Text),
    /// A comment standing as a sequence item (sops puts encrypted list comments there).
    Comment(Text),
    /// An ordered mapping with interleaved comments.
    Map(Vec<Entry>),
    /// A sequence.
    Seq(Vec<Value>),
}

/// A leaf's canonical bytes: borrowed from the tree, or formatted (and wiped on drop).
pub enum Canon<'a> {
    /// Bytes held by the tree.
    Borrowed(&'a [u8]),
    /// Bytes formatted for this call.
    Owned(Bytes),
}

impl std::ops::Deref for Canon<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Canon::Borrowed(b) => b,
            Canon::Owned(b) => b,
        }
    }
}

/// One item of a mapping: a key with its value, or a comment line.
pub enum Entry {
    /// `key: value`.
    Pair(Text, Value),
    /// A comment line (text after the comment marker).
    Comment(Text),
}

impl Value {
    /// A string value from text.
    pub fn str(s: &str) -> Value {
        Value::Str(Zeroizing::new(s.as_bytes().to_vec()))
    }

    /// The `type:` tag this leaf is encrypted with, or `None` for non-leaves and nulls.
    pub fn type_tag(&self) -> Option<&'static str> {
        Some(match self {
            Value::Str(_) => "str",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Bool(_) => "bool",
            Value::Time(_) => "time",
            Value::Comment(_) => "comment",
            _ => return None,
        })
    }

    /// The canonical bytes sops encrypts and hashes for a leaf (sops `ToBytes`).
    pub fn canonical_bytes(&self) -> Option<Canon<'_>> {
        Some(match self {
            Value::Str(b) => Canon::Borrowed(b),
            Value::Int(i) => Canon::Owned(Zeroizing::new(i.to_string().into_bytes())),
            Value::Float(f) => Canon::Owned(Zeroizing::new(go_format_float(*f).into_bytes())),
            Value::Bool(b) => Canon::Borrowed(if *b { b"True" } else { b"False" }),
            Value::Time(t) | Value::Comment(t) => Canon::Borrowed(t.as_bytes()),
            _ => return None,
        })
    }

    /// Deep copy (plaintext copies stay in zeroizing buffers).
    pub fn deep_clone(&self) -> Value {
        match self {
            Value::Null => Value::Null,
            Value::Str(b) => Value::Str(b.clone()),
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            Value::Bool(b) => Value::Bool(*b),
            Value::Time(t) => Value::Time(t.clone()),
            Value::Comment(t) => Value::Comment(t.clone()),
            Value::Map(entries) => Value::Map(entries.iter().map(Entry::deep_clone).collect()),
            Value::Seq(items) => Value::Seq(items.iter().map(Value::deep_clone).collect()),
        }
    }

    /// Semantic equality (used by `edit` to see whether anything changed).
    pub fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Str(a), Value::Str(b)) => a[..] == b[..],
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Time(a), Value::Time(b)) | (Value::Comment(a), Value::Comment(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
            }
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
            }
            _ => false,
        }
    }
}

impl Value {
    /// Same structure, keys, comments and MAC bytes: what a store round trip must preserve
    /// (a float 3.0 may come back as the int 3, as in sops; numbers compare by value).
    pub fn equivalent(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Map(x), Value::Map(y)) => {
                x.len() == y.len()
                    && x.iter().zip(y).all(|p| match p {
                        (Entry::Pair(k1, v1), Entry::Pair(k2, v2)) => k1 == k2 && v1.equivalent(v2),
                        (Entry::Comment(c1), Entry::Comment(c2)) => c1 == c2,
                        _ => false,
                    })
            }
            (Value::Seq(x), Value::Seq(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.equivalent(q))
            }
            (Value::Null, Value::Null) => true,
            (Value::Comment(p), Value::Comment(q)) => p == q,
            // go-yaml prints the float -0 as `-0`, which reads back as the int 0 (sops too).
            (Value::Float(f), Value::Int(i)) | (Value::Int(i), Value::Float(f)) => *f == *i as f64,
            _ => match (self.canonical_bytes(), other.canonical_bytes()) {
                (Some(p), Some(q)) => p[..] == q[..],
                _ => false,
            },
        }
    }
}

/// What a store round trip must preserve for encryption to stay consistent: the same keys,
/// structure and MAC bytes, and each comment under the same mapping path (its AAD). A comment
/// may move between a list and the mappings inside it, or past values: neither changes its AAD
/// nor the MAC. With `loose_comment_lines`, the continuation lines of a multi-line comment are
/// compared without their comment marker and spacing (go-ini rewrites `;x` as `; x`).
/// With `comment_paths` false only the comment texts are compared (decryption tolerates a
/// comment moved to a neighbouring mapping).
pub fn round_trip_equivalent(
    a: &[Entry],
    b: &[Entry],
    loose_comment_lines: bool,
    comment_paths: bool,
) -> bool {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Map(e) => Value::Map(
                e.iter()
                    .filter_map(|x| match x {
                        Entry::Pair(k, v) => Some(Entry::Pair(k.clone(), strip(v))),
                        Entry::Comment(_) => None,
                    })
                    .collect(),
            ),
            Value::Seq(i) => Value::Seq(
                i.iter()
                    .filter(|x| !matches!(x, Value::Comment(_)))
                    .map(strip)
                    .collect(),
            ),
            other => other.deep_clone(),
        }
    }
    fn comments(v: &Value, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
        match v {
            Value::Map(e) => {
                for x in e {
                    match x {
                        Entry::Comment(c) => out.push((path.join(":"), c.to_string())),
                        Entry::Pair(k, v) => {
                            path.push(k.to_string());
                            comments(v, path, out);
                            path.pop();
                        }
                    }
                }
            }
            Value::Seq(items) => items.iter().for_each(|i| comments(i, path, out)),
            Value::Comment(c) => out.push((path.join(":"), c.to_string())),
            _ => {}
        }
    }
    let (va, vb) = (
        Value::Map(a.iter().map(Entry::deep_clone).collect()),
        Value::Map(b.iter().map(Entry::deep_clone).collect()),
    );
    let (mut ca, mut cb) = (Vec::new(), Vec::new());
    comments(&va, &mut Vec::new(), &mut ca);
    comments(&vb, &mut Vec::new(), &mut cb);
    if loose_comment_lines {
        for (_, c) in ca.iter_mut().chain(cb.iter_mut()) {
            *c = c
                .split('\n')
                .map(|l| {
                    l.trim_start_matches(|c: char| c == ';' || c == '#' || c.is_whitespace())
                        .trim_end()
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
        // A comment made only of markers (`;#`) has no text left to write back.
        ca.retain(|(_, c)| !c.trim().is_empty());
        cb.retain(|(_, c)| !c.trim().is_empty());
    }
    if !comment_paths {
        for (p, _) in ca.iter_mut().chain(cb.iter_mut()) {
            p.clear();
        }
    }
    ca.sort();
    cb.sort();
    strip(&va).equivalent(&strip(&vb)) && ca == cb
}

impl Entry {
    fn deep_clone(&self) -> Entry {
        match self {
            Entry::Pair(k, v) => Entry::Pair(k.clone(), v.deep_clone()),
            Entry::Comment(c) => Entry::Comment(c.clone()),
        }
    }

    fn same_as(&self, other: &Entry) -> bool {
        match (self, other) {
            (Entry::Pair(k1, v1), Entry::Pair(k2, v2)) => k1 == k2 && v1.same_as(v2),
            (Entry::Comment(a), Entry::Comment(b)) => a == b,
            _ => false,
        }
    }
}

/// Looks up a key in a mapping's entries.
pub fn get<'a>(entries: &'a [Entry], key: &str) -> Option<&'a Value> {
    entries.iter().find_map(|e| match e {
        Entry::Pair(k, v) if k.as_str() == key => Some(v),
        _ => None,
    })
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
pub fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        }
    } else {
        format!("{f}")
    }
}

/// A parsed document set: one or more documents (YAML multi-doc), each a mapping.
pub struct Documents(pub Vec<Vec<Entry>>);

/// Zero-copy view of a key path while walking.
pub type Path<'a> = &'a [&'a str];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_formatting_matches_go() {
        for (f, s) in [
            (0.5, "0.5"),
            (3.0, "3"),
            (1e20, "100000000000000000000"),
            (1e-7, "0.0000001"),
            (-0.0, "-0"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (12345678901234567890.0, "12345678901234567000"),
        ] {
            assert_eq!(go_format_float(f), s);
        }
        assert_eq!(go_format_float(f64::NAN), "NaN");
    }
}
