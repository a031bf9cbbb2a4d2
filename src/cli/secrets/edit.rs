//! `sigil edit`: the decrypted file in `$SOPS_EDITOR`/`$EDITOR` (in a private tmpfs
//! directory) until it parses, then resealed; a missing file starts from an example document.

use std::io::IsTerminal;
use std::path::Path;

use zeroize::Zeroizing;

use super::{encrypt_params, load_config, open, reseal, secure_tempdir, target, unlocker};
use crate::cli::args::{EncryptOpts, ReadOpts};
use crate::cli::io::{Mode, read_input, write_atomic};
use crate::sops::Error;
use crate::sops::format::{Format, emit_encrypted, emit_plain, load_plain};
use crate::sops::ops;
use crate::sops::tree::{Entry, Value};

/// The document a new file starts from (sops's example, per store).
fn new_file_template(format: Format) -> &'static str {
    match format {
        Format::Json | Format::Binary => {
            "{\n\t\"hello\": \"Welcome to SOPS! Edit this file as you please!\",\n\t\"example_key\": \"example_value\",\n\t\"example_array\": [\n\t\t\"example_value1\",\n\t\t\"example_value2\"\n\t],\n\t\"example_number\": 1234.56789,\n\t\"example_booleans\": [\n\t\ttrue,\n\t\tfalse\n\t]\n}\n"
        }
        Format::Dotenv => {
            "hello=Welcome to SOPS! Edit this file as you please!\nexample_key=example_value\n"
        }
        Format::Ini => "[hello]\nwelcome = Welcome to SOPS! Edit this file as you please!\n",
        Format::Yaml => {
            "hello: Welcome to SOPS! Edit this file as you please!\nexample_key: example_value\n# Example comment\nexample_array:\n    - example_value1\n    - example_value2\nexample_number: 1234.56789\nexample_booleans:\n    - true\n    - false\n"
        }
    }
}

fn editor_command() -> Result<Vec<String>, Error> {
    let editor = std::env::var("SOPS_EDITOR")
        .or_else(|_| std::env::var("EDITOR"))
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            ["vim", "nano", "vi"]
                .iter()
                .find(|e| which(e))
                .map(|e| e.to_string())
        })
        .ok_or_else(|| Error::NoEditor("no editor found: set $SOPS_EDITOR or $EDITOR".into()))?;
    let words = shell_words::split(&editor)
        .map_err(|e| Error::NoEditor(format!("cannot parse editor command: {e}")))?;
    if words.is_empty() {
        return Err(Error::NoEditor("the editor command is empty".into()));
    }
    Ok(words)
}

/// Runs the editor on `plain` in a private tmpfs directory until the result parses (on a
/// terminal the user may fix mistakes; otherwise the first error ends the edit).
fn edit_until_valid(file: &Path, format: Format, plain: &[u8]) -> Result<Vec<Vec<Entry>>, Error> {
    let words = editor_command()?;
    let dir = secure_tempdir()?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.path().join(format!("tmp-{name}"));
    write_atomic(&tmp, plain, Mode::Secret)?;
    loop {
        let status = std::process::Command::new(&words[0])
            .args(&words[1..])
            .arg(&tmp)
            .status()
            .map_err(|e| Error::NoEditor(format!("cannot run editor {}: {e}", words[0])))?;
        if !status.success() {
            return Err(Error::Generic(format!(
                "the editor exited with {status}; nothing was saved"
            )));
        }
        let edited = read_input(Some(&tmp))?;
        match load_plain(format, &edited) {
            Ok(docs) => return Ok(docs),
            Err(e) => {
                let msg = match e {
                    Error::AlreadyEncrypted(_) => {
                        "the edited file must not contain a top-level 'sops' key".to_string()
                    }
                    other => other.to_string(),
                };
                if !std::io::stdin().is_terminal() {
                    return Err(Error::Generic(format!(
                        "the edited file is invalid, nothing was saved: {msg}"
                    )));
                }
                eprintln!("sigil: the edited file is invalid: {msg}");
                eprint!("Press Enter to return to the editor, or Ctrl+C to exit without saving.");
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| Error::Read(e.to_string()))?;
            }
        }
    }
}

/// `sigil edit`: a missing file starts from an example document and is encrypted with the
/// given keys or the matching creation rule.
pub fn edit(
    config_path: Option<&Path>,
    file: &Path,
    read: &ReadOpts,
    keys: &EncryptOpts,
    ignore_mac: bool,
) -> Result<(), Error> {
    let config = load_config(config_path)?;
    let t = target(Some(file), read, config.as_ref(), false)?;
    if !file.exists() {
        let params = encrypt_params(keys, config.as_ref(), Some(file))?;
        let mut docs = edit_until_valid(file, t.input, new_file_template(t.input).as_bytes())?;
        let u = unlocker(read);
        let meta = ops::encrypt_new(&mut docs, &params, &u.pgp_ring, t.input == Format::Binary)?;
        let bytes = emit_encrypted(t.input, &mut docs, &meta, &t.layout)?;
        return write_atomic(file, &bytes, Mode::Public);
    }
    let (docs, meta, d) = open(Some(file), &t, read, ignore_mac, true)?;
    let plain = Zeroizing::new(emit_plain(t.input, &docs, &t.layout)?);
    let new_docs = edit_until_valid(file, t.input, &plain)?;
    let unchanged = new_docs.len() == docs.len()
        && new_docs.iter().zip(&docs).all(|(a, b)| {
            Value::Map(a.iter().map(crate::sops::format::clone_entry).collect()).same_as(
                &Value::Map(b.iter().map(crate::sops::format::clone_entry).collect()),
            )
        });
    if unchanged {
        return Err(Error::Unchanged);
    }
    let bytes = reseal(new_docs, meta, &d, &t, t.input)?;
    write_atomic(file, &bytes, Mode::Public)
}

fn which(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}
