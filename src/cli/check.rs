//! `sigil check secrets`: files that `.sops.yaml` rules govern are valid SOPS files with no
//! plaintext where their rule wants ciphertext, and every Secret the paths render to (the
//! directory's files by default, or as kustomize builds them with `--render`) carries only
//! ciphertext from a valid SOPS file of the repository: JSON files, `List`s, every document,
//! generators and SOPS files whose `encrypted_regex` selects nothing included.

use std::path::{Path, PathBuf};

use super::rendered::check_path;
use crate::manifest::check::Options;
use crate::manifest::render::Choice;
use crate::sops::Error;
use crate::sops::config::{Config, locate};
use crate::sops::format::{Format, load_encrypted};
use crate::sops::tree::{Entry, Value};

/// Runs the check; returns 0 when clean, 1 when something was found, 3 when a path could not
/// be rendered at all (kustomize missing).
pub fn secrets(
    config_path: Option<&Path>,
    paths: &[PathBuf],
    choice: &Choice,
    age_key_file: Option<&Path>,
) -> Result<i32, Error> {
    let config = match locate(config_path)? {
        Some(p) => Some(Config::load(&p)?),
        None => None,
    };
    let roots = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut files = Vec::new();
    for r in &roots {
        collect(r, &mut files)?;
    }
    let mut problems = 0;
    for f in files {
        for p in check_file(&f, config.as_ref()) {
            println!("{}: {p}", f.display());
            problems += 1;
        }
    }
    let opts = Options::default();
    for r in &roots {
        let unlocker = match age_key_file {
            Some(k) => Some(crate::sops::keys::Unlocker::from_age_file(k).map_err(Error::Read)?),
            None => None,
        };
        match check_path(r, choice, &opts, unlocker) {
            Ok(found) => {
                for refusal in found
                    .refusals
                    .iter()
                    .filter(|x| matches!(x.check(), "secrets" | "render"))
                {
                    println!("{}: {}: {}", refusal.subject, refusal.code, refusal.message);
                    problems += 1;
                }
            }
            Err((code, msg)) => {
                eprintln!("sigil check secrets: {msg}");
                return Ok(if code == 2 { 2 } else { 3 });
            }
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
    if governed {
        match load_encrypted(format, &bytes) {
            Ok((docs, meta)) => {
                if let Ok(sel) = meta.selection.clone().with_default().compile() {
                    plaintext_leaves(&docs, &sel, &mut found);
                }
            }
            Err(e) => found.push(format!(
                "matches a .sops.yaml creation rule but is not a valid sops file: {e}"
            )),
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
