//! `sigil set` and `sigil unset`: one value of an encrypted file changed in place, the file
//! resealed with its data key.

use std::path::Path;

use zeroize::Zeroizing;

use super::{Target, load_config, open, reseal, target};
use crate::cli::args::ReadOpts;
use crate::cli::io::{Mode, read_input, write_atomic};
use crate::cli::treepath;
use crate::sops::Error;
use crate::sops::metadata::Metadata;
use crate::sops::ops;
use crate::sops::tree::{Entry, Value};

/// What `sigil set` was asked (positional arguments as given: sops counts them).
pub struct SetArgs<'a> {
    /// The file.
    pub file: Option<&'a Path>,
    /// The tree path.
    pub path: Option<&'a str>,
    /// The JSON value, or with `value_file` the file holding it.
    pub value: Option<&'a str>,
    /// `--value-file`: `value` names a file.
    pub value_file: bool,
    /// `--value-stdin`: the value comes from stdin and `value` must be absent.
    pub value_stdin: bool,
    /// `--idempotent`: do not write when nothing changes.
    pub idempotent: bool,
    /// `--ignore-mac`.
    pub ignore_mac: bool,
}

/// A set/unset path that does not parse is sops's "Invalid set index format" (exit 7).
fn set_path(path: &str) -> Result<Vec<treepath::Step>, Error> {
    treepath::parse(path).map_err(|e| Error::SetFormat(e.to_string()))
}

/// set/unset read the file as sops does: a missing file is unreadable input (exit 2).
fn open_for_update(
    file: &Path,
    t: &Target,
    read: &ReadOpts,
    ignore_mac: bool,
) -> Result<(Vec<Vec<Entry>>, Metadata, ops::Decrypted), Error> {
    open(Some(file), t, read, ignore_mac, true).map_err(|e| match e {
        Error::NoFile(m) => Error::Read(m),
        other => other,
    })
}

/// `sigil set`, with sops's arguments: FILE PATH VALUE, FILE PATH VALUE-FILE with
/// `--value-file`, FILE PATH with `--value-stdin`.
pub fn set(config_path: Option<&Path>, a: &SetArgs<'_>, read: &ReadOpts) -> Result<(), Error> {
    if a.value_file && a.value_stdin {
        return Err(Error::Generic(
            "cannot use both --value-file and --value-stdin".into(),
        ));
    }
    let (file, path) = match (a.file, a.path, a.value, a.value_stdin) {
        (Some(f), Some(p), None, true) => (f, p),
        (_, _, _, true) => {
            return Err(Error::NoFile(
                "with --value-stdin, give exactly FILE and PATH (the value is read from stdin)"
                    .into(),
            ));
        }
        (Some(f), Some(p), Some(_), false) => (f, p),
        _ => {
            return Err(Error::NoFile(
                "give FILE, PATH and VALUE (a JSON value; with --value-file, a file holding it; or FILE and PATH with --value-stdin)".into(),
            ));
        }
    };
    let config = load_config(config_path).ok().flatten();
    let t = target(Some(file), read, config.as_ref(), false)?;
    let steps = set_path(path)?;
    let raw: Zeroizing<Vec<u8>> = match a.value {
        None => read_input(None)
            .map_err(|e| Error::Generic(format!("cannot read the value from stdin: {e}")))?,
        Some(v) if a.value_file => read_input(Some(Path::new(v)))
            .map_err(|e| Error::Generic(format!("cannot read the value file: {e}")))?,
        Some(v) => Zeroizing::new(v.as_bytes().to_vec()),
    };
    let new = json_to_value(&raw)?;
    let (mut docs, meta, d) = open_for_update(file, &t, read, a.ignore_mac)?;
    let doc = docs
        .first_mut()
        .ok_or_else(|| Error::TreePath("no document".into()))?;
    let changed = treepath::set(doc, &steps, new)?;
    if !changed && a.idempotent {
        return Ok(());
    }
    // Written in the output store (--output-type), as sops writes it.
    let bytes = reseal(docs, meta, &d, &t, t.output)?;
    write_atomic(file, &bytes, Mode::Public)
}

/// `sigil unset`.
pub fn unset(
    config_path: Option<&Path>,
    file: Option<&Path>,
    path: Option<&str>,
    idempotent: bool,
    read: &ReadOpts,
    ignore_mac: bool,
) -> Result<(), Error> {
    let (Some(file), Some(path)) = (file, path) else {
        return Err(Error::NoFile("give FILE and PATH".into()));
    };
    let config = load_config(config_path).ok().flatten();
    let t = target(Some(file), read, config.as_ref(), false)?;
    let steps = set_path(path)?;
    let (mut docs, meta, d) = open_for_update(file, &t, read, ignore_mac)?;
    let doc = docs
        .first_mut()
        .ok_or_else(|| Error::TreePath("no document".into()))?;
    if !treepath::unset(doc, &steps) {
        if idempotent {
            return Ok(());
        }
        return Err(Error::Generic(format!("key not found: {path}")));
    }
    // Written in the output store (--output-type), as sops writes it.
    let bytes = reseal(docs, meta, &d, &t, t.output)?;
    write_atomic(file, &bytes, Mode::Public)
}

/// Converts a JSON value (for `set`) into a tree value; integers stay integers.
fn json_to_value(raw: &[u8]) -> Result<Value, Error> {
    let v: serde_json::Value = serde_json::from_slice(raw).map_err(|e| {
        Error::SetFormat(format!(
            "the value is not valid JSON (strings need quotes: '\"text\"'): {e}"
        ))
    })?;
    fn conv(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::Str(Zeroizing::new(s.into_bytes())),
            serde_json::Value::Array(a) => Value::Seq(a.into_iter().map(conv).collect()),
            serde_json::Value::Object(o) => Value::Map(
                o.into_iter()
                    .map(|(k, v)| Entry::Pair(Zeroizing::new(k), conv(v)))
                    .collect(),
            ),
        }
    }
    Ok(conv(v))
}
