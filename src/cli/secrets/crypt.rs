//! `sigil encrypt`, `sigil decrypt` (whole files or one `--extract`ed value) and
//! `sigil filestatus`.

use std::path::Path;

use zeroize::Zeroizing;

use super::{check_output_flags, encrypt_params, load_config, open, target, unlocker};
use crate::cli::args::{EncryptOpts, OutputOpts, ReadOpts};
use crate::cli::io::{Mode, emit, read_input};
use crate::cli::treepath;
use crate::sops::Error;
use crate::sops::format::{Format, Layout, emit_encrypted, emit_plain, load_encrypted, load_plain};
use crate::sops::ops;
use crate::sops::tree::Value;

/// `sigil encrypt`.
pub fn encrypt(
    config_path: Option<&Path>,
    file: Option<&Path>,
    read: &ReadOpts,
    keys: &EncryptOpts,
    out: &OutputOpts,
) -> Result<(), Error> {
    check_output_flags(out, file)?;
    let config = load_config(config_path)?;
    let t = target(file, read, config.as_ref(), true)?;
    let params = encrypt_params(keys, config.as_ref(), t.name.as_deref())?;
    let input = read_input(t.file.as_deref())?;
    let mut docs = load_plain(t.input, &input)?;
    if t.input == Format::Binary && params.selection.count_set() > 0 {
        eprintln!(
            "sigil: warning: selection rules do not apply to the binary store and are not recorded"
        );
    }
    let u = unlocker(read);
    let meta = ops::encrypt_new(&mut docs, &params, &u.pgp_ring, t.input == Format::Binary)?;
    let out_format = if t.output == Format::Binary {
        Format::Binary
    } else {
        t.output
    };
    let bytes = emit_encrypted(out_format, &mut docs, &meta, &t.layout)?;
    let dest = if out.in_place {
        t.file.clone()
    } else {
        out.output.clone()
    };
    let written = emit(dest.as_deref(), &bytes, Mode::Public);
    // The tree now holds only ciphertext and the values the rules leave plain (the plaintext
    // of each encrypted value was zeroized as it was sealed): zeroizing and freeing megabytes
    // of ciphertext just before the process exits would only cost time.
    std::mem::forget(docs);
    written
}

/// `sigil decrypt`.
pub fn decrypt(
    config_path: Option<&Path>,
    file: Option<&Path>,
    read: &ReadOpts,
    out: &OutputOpts,
    extract: Option<&str>,
    ignore_mac: bool,
) -> Result<(), Error> {
    check_output_flags(out, file)?;
    let config = load_config(config_path).ok().flatten();
    let t = target(file, read, config.as_ref(), false)?;
    let steps = extract.map(treepath::parse).transpose()?;
    let (docs, _meta, _d) = open(t.file.as_deref(), &t, read, ignore_mac, false)?;
    let bytes: Zeroizing<Vec<u8>> = match &steps {
        Some(steps) => {
            let doc = docs
                .first()
                .ok_or_else(|| Error::TreePath("no document".into()))?;
            let v = treepath::get(doc, steps).ok_or_else(|| {
                Error::Generic(format!(
                    "component {} not found",
                    extract.unwrap_or_default()
                ))
            })?;
            Zeroizing::new(extract_bytes(v, t.output, &t.layout)?)
        }
        None => Zeroizing::new(emit_plain(t.output, &docs, &t.layout)?),
    };
    let dest = if out.in_place {
        t.file.clone()
    } else {
        out.output.clone()
    };
    emit(dest.as_deref(), &bytes, Mode::Secret)
}

fn extract_bytes(v: &Value, format: Format, layout: &Layout) -> Result<Vec<u8>, Error> {
    use crate::sops::store::{json, yaml};
    Ok(match v {
        Value::Str(b) => b.to_vec(),
        Value::Map(entries) => emit_plain(
            format,
            &[entries
                .iter()
                .map(crate::sops::format::clone_entry)
                .collect()],
            layout,
        )?,
        other => match format {
            Format::Json | Format::Binary => json::emit_value(other, layout.json_indent)?,
            _ => yaml::emit_value(other, layout.yaml_indent)?,
        },
    })
}

/// `sigil filestatus`.
pub fn filestatus(file: &Path, read: &ReadOpts) -> Result<(), Error> {
    let t = target(Some(file), read, None, false)?;
    let input = read_input(Some(file))?;
    let encrypted = match load_encrypted(t.input, &input) {
        Ok((_, meta)) => !meta.version.is_empty() && !meta.mac.is_empty(),
        Err(Error::NotEncrypted(_)) => false,
        Err(e) => return Err(e),
    };
    println!("{{\"encrypted\":{encrypted}}}");
    Ok(())
}
