//! File formats: choosing a store, splitting off and re-attaching the `sops` metadata.

use std::path::Path;

use zeroize::Zeroizing;

use super::error::Error;
use super::metadata::Metadata;
use super::store::{dotenv, flatten, ini, json, yaml};
use super::tree::{Entry, Value};

/// A store, chosen by extension (`.yaml/.yml`, `.json`, `.env`, `.ini`, anything else binary)
/// or by `--input-type`/`--output-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML (comments, multi-document).
    Yaml,
    /// JSON.
    Json,
    /// dotenv `KEY=value` lines.
    Dotenv,
    /// INI sections.
    Ini,
    /// Any bytes, as one `data` string in a JSON envelope.
    Binary,
}

impl Format {
    /// The store sops picks for a file name (case-sensitive suffix).
    pub fn from_path(path: &Path) -> Format {
        let name = path.to_string_lossy();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".env") {
            Format::Dotenv
        } else if name.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// Parses a `--input-type`/`--output-type` word.
    pub fn parse(word: &str) -> Result<Format, Error> {
        Ok(match word {
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            other => {
                return Err(Error::Conflict(format!(
                    "unknown file type '{other}' (use yaml, json, dotenv, ini or binary)"
                )));
            }
        })
    }
}

/// Output layout options (`stores` in `.sops.yaml`, `--indent`).
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// YAML indent (default 4).
    pub yaml_indent: usize,
    /// JSON indent (-1 = tab, the default).
    pub json_indent: i32,
    /// JSON indent for the binary store's envelope.
    pub json_binary_indent: i32,
    /// Place YAML comments exactly where sops 3.11's emitter would (plaintext output only).
    pub yaml_comment_quirks: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            yaml_indent: 4,
            json_indent: -1,
            json_binary_indent: -1,
            yaml_comment_quirks: true,
        }
    }
}

/// Parses a plaintext file. Refuses empty input and files that already carry metadata.
pub fn load_plain(format: Format, input: &[u8]) -> Result<Vec<Vec<Entry>>, Error> {
    // As sops 3.11: an empty YAML file is 92; empty JSON, or YAML/JSON holding only blank
    // lines (or, in YAML, only comments) does not unmarshal, 2; a blank dotenv file encrypts.
    if format == Format::Yaml && input.is_empty() {
        return Err(Error::Empty(
            "the input file is empty; sops files need at least one document".into(),
        ));
    }
    if matches!(format, Format::Yaml | Format::Json) && input.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Parse(
            "the input holds only blank lines; sops files need at least one document".into(),
        ));
    }
    let docs = match format {
        Format::Yaml => yaml::load(input)?,
        Format::Json => vec![json::load(input)?],
        Format::Dotenv => vec![dotenv::load(input)?],
        Format::Ini => vec![ini::load(input)?],
        Format::Binary => {
            return Ok(vec![vec![Entry::Pair(
                Zeroizing::new("data".into()),
                Value::Str(Zeroizing::new(input.to_vec())),
            )]]);
        }
    };
    let no_content = |doc: &[Entry]| {
        doc.iter().all(|e| match e {
            Entry::Pair(_, Value::Map(m)) => m.is_empty(),
            _ => false,
        }) && doc
            .iter()
            .all(|e| matches!(e, Entry::Pair(k, _) if k.as_str() == "DEFAULT"))
    };
    if format == Format::Ini && no_content(&docs[0]) {
        // go-ini drops comments that no key follows: nothing would be encrypted or written.
        return Err(Error::Empty("the INI input has no keys".into()));
    }
    let encrypted = match format {
        Format::Dotenv => docs[0]
            .iter()
            .any(|e| matches!(e, Entry::Pair(k, _) if k.starts_with("sops_"))),
        _ => docs.iter().any(|d| {
            d.iter()
                .any(|e| matches!(e, Entry::Pair(k, _) if k.as_str() == "sops"))
        }),
    };
    if encrypted {
        return Err(Error::AlreadyEncrypted(
            "the file already has sops metadata: it is encrypted already (decrypt it first, or use rotate/updatekeys)".into(),
        ));
    }
    Ok(docs)
}

/// Parses an encrypted file into documents and its metadata. For YAML, every document must
/// carry the same `sops` block (sops reads only the first; sigil refuses a mismatch).
pub fn load_encrypted(format: Format, input: &[u8]) -> Result<(Vec<Vec<Entry>>, Metadata), Error> {
    let (docs, meta, differ) = load_encrypted_unchecked(format, input)?;
    if differ {
        return Err(blocks_differ());
    }
    Ok((docs, meta))
}

/// The refusal of a multi-document file whose documents carry different `sops` blocks.
pub fn blocks_differ() -> Error {
    Error::Strict(
        "the documents of this file carry different sops blocks (sops checks only the first); the file was altered".into(),
    )
}

/// [`load_encrypted`] with the first document's metadata even when later documents carry a
/// different `sops` block (the third value says so): decryption checks the first block's MAC
/// (a failure there is a MAC mismatch, as in sops) before refusing the difference.
pub fn load_encrypted_unchecked(
    format: Format,
    input: &[u8],
) -> Result<(Vec<Vec<Entry>>, Metadata, bool), Error> {
    if input.is_empty() {
        return Err(Error::Empty("the input file is empty".into()));
    }
    let not_sops = || {
        Error::NotEncrypted(
            "sops metadata not found: the file is not encrypted (or not a sops file of this type; see --input-type)".into(),
        )
    };
    match format {
        Format::Yaml | Format::Json | Format::Binary => {
            let mut docs = if format == Format::Yaml {
                yaml::load(input)?
            } else {
                vec![json::load(input)?]
            };
            let mut metas: Vec<Value> = Vec::new();
            let mut missing = 0;
            for doc in docs.iter_mut() {
                let pos = doc
                    .iter()
                    .position(|e| matches!(e, Entry::Pair(k, _) if k.as_str() == "sops"));
                match pos.map(|p| doc.remove(p)) {
                    Some(Entry::Pair(_, v)) => metas.push(v),
                    _ => missing += 1,
                }
            }
            if metas.is_empty() {
                return Err(not_sops());
            }
            if missing > 0 {
                return Err(Error::Strict(
                    "a document of this multi-document file has no sops block; sops writes one into every document, so the file was altered".into(),
                ));
            }
            let first = metas.first().ok_or_else(not_sops)?;
            let differ = metas.iter().skip(1).any(|m| !m.same_as(first));
            let meta = Metadata::from_value(first)?;
            if format == Format::Binary {
                let ok = docs.len() == 1
                    && docs[0].len() == 1
                    && matches!(&docs[0][0], Entry::Pair(k, Value::Str(_)) if k.as_str() == "data");
                if !ok {
                    return Err(Error::Parse(
                        "a binary sops file must hold exactly one string named \"data\" besides its metadata".into(),
                    ));
                }
            }
            Ok((docs, meta, differ))
        }
        Format::Dotenv => {
            let mut doc = dotenv::load(input)?;
            let mut pairs = Vec::new();
            let mut rest = Vec::new();
            for e in doc.drain(..) {
                match e {
                    Entry::Pair(k, v) if k.starts_with("sops_") => {
                        let Value::Str(s) = v else {
                            return Err(Error::Parse("dotenv values are strings".into()));
                        };
                        let text = String::from_utf8(s.to_vec()).map_err(|_| {
                            Error::Parse("sops metadata in dotenv is not UTF-8".into())
                        })?;
                        pairs.push((k["sops_".len()..].to_string(), text));
                    }
                    other => rest.push(other),
                }
            }
            if pairs.is_empty() {
                return Err(not_sops());
            }
            let meta = Metadata::from_value(&flatten::unflatten(&pairs)?)?;
            Ok((vec![rest], meta, false))
        }
        Format::Ini => {
            let mut doc = ini::load(input)?;
            let pos = doc
                .iter()
                .position(|e| matches!(e, Entry::Pair(k, _) if k.as_str() == "sops"))
                .ok_or_else(not_sops)?;
            let Entry::Pair(_, section) = doc.remove(pos) else {
                unreachable!("position matched a pair")
            };
            let Value::Map(entries) = section else {
                return Err(not_sops());
            };
            let mut pairs = Vec::new();
            for e in entries {
                if let Entry::Pair(k, Value::Str(s)) = e {
                    let text = String::from_utf8(s.to_vec())
                        .map_err(|_| Error::Parse("sops metadata in INI is not UTF-8".into()))?;
                    pairs.push((k.to_string(), text.replace("\\n", "\n")));
                }
            }
            let meta = Metadata::from_value(&flatten::unflatten(&pairs)?)?;
            Ok((vec![doc], meta, false))
        }
    }
}

/// Emits plaintext documents in `format`.
pub fn emit_plain(format: Format, docs: &[Vec<Entry>], layout: &Layout) -> Result<Vec<u8>, Error> {
    match format {
        Format::Yaml => yaml::emit(docs, layout.yaml_indent, layout.yaml_comment_quirks),
        Format::Json => json::emit(single(docs)?, layout.json_indent),
        Format::Dotenv => dotenv::emit(single(docs)?),
        Format::Ini => ini::emit(single(docs)?),
        Format::Binary => {
            let doc = single(docs)?;
            match doc.iter().find_map(|e| match e {
                Entry::Pair(k, v) if k.as_str() == "data" => Some(v),
                _ => None,
            }) {
                Some(Value::Str(b)) => Ok(b.to_vec()),
                _ => Err(Error::Emit(
                    "the binary store needs a top-level string \"data\" (use --output-type to pick another)".into(),
                )),
            }
        }
    }
}

fn single(docs: &[Vec<Entry>]) -> Result<&[Entry], Error> {
    match docs {
        [one] => Ok(one),
        _ => Err(Error::Emit(format!(
            "this output type holds one document, the input has {} (use YAML output)",
            docs.len()
        ))),
    }
}

/// Emits encrypted documents with their metadata attached as each store expects. The
/// metadata entries are appended for the emitter and removed again (no copy of the tree).
pub fn emit_encrypted(
    format: Format,
    docs: &mut [Vec<Entry>],
    meta: &Metadata,
    layout: &Layout,
) -> Result<Vec<u8>, Error> {
    let pair = |k: &str, v: Value| Entry::Pair(Zeroizing::new(k.to_string()), v);
    if format == Format::Yaml {
        let lens: Vec<usize> = docs.iter().map(Vec::len).collect();
        for d in docs.iter_mut() {
            d.push(pair("sops", meta.to_value(false)));
        }
        let out = yaml::emit(docs, layout.yaml_indent, false);
        for (d, n) in docs.iter_mut().zip(lens) {
            d.truncate(n);
        }
        return out;
    }
    let [doc] = docs else {
        return Err(Error::Emit(format!(
            "this output type holds one document, the input has {} (use YAML output)",
            docs.len()
        )));
    };
    let n = doc.len();
    match format {
        Format::Json | Format::Binary => doc.push(pair("sops", meta.to_value(true))),
        Format::Dotenv => {
            for (k, v) in flatten::flatten(&meta.to_value(true)) {
                doc.push(pair(&format!("sops_{k}"), Value::str(&v)));
            }
        }
        _ => {
            let section = flatten::flatten(&meta.to_value(true))
                .into_iter()
                .map(|(k, v)| pair(&k, Value::str(&v.replace('\n', "\\n"))))
                .collect();
            doc.push(pair("sops", Value::Map(section)));
        }
    }
    let out = match format {
        Format::Json => json::emit(doc, layout.json_indent),
        Format::Binary => json::emit(doc, layout.json_binary_indent),
        Format::Dotenv => dotenv::emit(doc),
        _ => ini::emit(doc),
    };
    doc.truncate(n);
    out
}

/// Copies an entry (plaintext stays in zeroizing buffers).
pub fn clone_entry(e: &Entry) -> Entry {
    match e {
        Entry::Pair(k, v) => Entry::Pair(k.clone(), v.deep_clone()),
        Entry::Comment(c) => Entry::Comment(c.clone()),
    }
}
