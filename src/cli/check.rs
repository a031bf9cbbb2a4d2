//! `sigil check secrets`: files that must be encrypted are, and no Secret manifest is plaintext.

use std::path::{Path, PathBuf};

use crate::sops::Error;
use crate::sops::config::{Config, locate};
use crate::sops::format::{Format, load_encrypted};
use crate::sops::store::yaml;
use crate::sops::tree::{Entry, Value, get};

/// Runs the check; returns 0 when clean, 1 when something was found.
pub fn secrets(config_path: Option<&Path>, paths: &[PathBuf]) -> Result<i32, Error> {
    let config = match locate(config_path)? {
        Some(p) => Some(Config::load(&p)?),
        None => None,
    };
    let mut files = Vec::new();
    let roots = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    for r in roots {
        collect(&r, &mut files)?;
    }
    let mut problems = 0;
    for f in files {
        for p in check_file(&f, config.as_ref()) {
            println!("{}: {p}", f.display());
            problems += 1;
        }
    }
    Ok(if problems == 0 { 0 } else { 1 })
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let meta = std::fs::metadata(p).map_err(|e| Error::Read(format!("{}: {e}", p.display())))?;
    if meta.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
        .map_err(|e| Error::Read(format!("{}: {e}", p.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for e in entries {
        let name = e
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if name.starts_with('.') && name != ".sops.yaml" || name == "target" {
            continue;
        }
        collect(&e, out)?;
    }
    Ok(())
}

fn check_file(f: &Path, config: Option<&Config>) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(bytes) = std::fs::read(f) else {
        return vec!["cannot read the file".into()];
    };
    let format = Format::from_path(f);
    let governed = config.is_some_and(|c| c.claims(f));
    let encrypted = load_encrypted(format, &bytes);
    if governed {
        match &encrypted {
            Ok((docs, meta)) => {
                if let Ok(sel) = meta.selection.clone().with_default().compile() {
                    plaintext_leaves(docs, &sel, &mut found);
                }
            }
            Err(e) => found.push(format!(
                "matches a .sops.yaml creation rule but is not a valid sops file: {e}"
            )),
        }
    }
    if format == Format::Yaml && encrypted.is_err() {
        found.extend(plaintext_secrets(&bytes));
    }
    found
}

/// Kubernetes `Secret` documents of a plain (not SOPS) YAML file that carry `data` or
/// `stringData` values: one message per value, naming the document and key, never the value.
pub fn plaintext_secrets(bytes: &[u8]) -> Vec<String> {
    plaintext_kinds(bytes, &["Secret".to_string()])
}

/// Documents of a plain (not SOPS) YAML file whose kind must be SOPS-encrypted: a `Secret`
/// with `data`/`stringData` values, or any document of another listed kind. Messages name the
/// document and key, never a value.
pub fn plaintext_kinds(bytes: &[u8], kinds: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(docs) = yaml::load(bytes) {
        for (i, doc) in docs.iter().enumerate() {
            let Some(Value::Str(kind)) = get(doc, "kind") else {
                continue;
            };
            if !kinds.iter().any(|k| k.as_bytes() == &kind[..]) {
                continue;
            }
            if &kind[..] != b"Secret" {
                found.push(format!(
                    "document {}: a {} must be SOPS-encrypted (policy secrets.requireSops)",
                    i + 1,
                    String::from_utf8_lossy(&kind[..])
                ));
                continue;
            }
            for field in ["data", "stringData"] {
                if let Some(Value::Map(entries)) = get(doc, field) {
                    for e in entries {
                        if let Entry::Pair(k, _) = e {
                            found.push(format!(
                                "document {}: Secret has plaintext {field}[\"{}\"]: encrypt it with `sigil encrypt -i`",
                                i + 1,
                                k.as_str()
                            ));
                        }
                    }
                }
            }
        }
    }
    found
}

/// Reports values that the file's own rule says should be encrypted but are plain.
fn plaintext_leaves(
    docs: &[Vec<Entry>],
    sel: &crate::sops::rules::Selector,
    found: &mut Vec<String>,
) {
    fn walk(
        v: &Value,
        path: &mut Vec<String>,
        sel: &crate::sops::rules::Selector,
        found: &mut Vec<String>,
    ) {
        match v {
            Value::Map(entries) => {
                for e in entries {
                    if let Entry::Pair(k, v) = e {
                        path.push(k.to_string());
                        walk(v, path, sel, found);
                        path.pop();
                    }
                }
            }
            Value::Seq(items) => items.iter().for_each(|i| walk(i, path, sel, found)),
            Value::Null | Value::Comment(_) => {}
            Value::Str(s) if s.is_empty() || crate::sops::cipher::looks_encrypted(s) => {}
            _ => {
                let refs: Vec<&str> = path.iter().map(String::as_str).collect();
                if !sel.uses_comments() && sel.encrypts(&refs, &[], None) {
                    found.push(format!("plaintext value at {}", path.join(".")));
                }
            }
        }
    }
    for doc in docs {
        walk(
            &Value::Map(doc.iter().map(crate::sops::format::clone_entry).collect()),
            &mut Vec::new(),
            sel,
            found,
        );
    }
}
