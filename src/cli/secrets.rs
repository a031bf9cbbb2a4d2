//! The SOPS commands: encrypt, decrypt, edit, rotate, updatekeys, set, unset, exec-*, filestatus.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::args::{EncryptOpts, OutputOpts, ReadOpts};
use super::io::{Mode, emit, read_input, write_atomic};
use super::treepath;
use crate::sops::Error;
use crate::sops::config::{Config, locate};
use crate::sops::format::{Format, Layout, emit_encrypted, emit_plain, load_encrypted, load_plain};
use crate::sops::keys::{KeySpec, Unlocker};
use crate::sops::metadata::{MasterKey, Metadata};
use crate::sops::ops::{self, EncryptParams};
use crate::sops::tree::{Entry, Value};

/// Resolved input/output details for one invocation.
struct Target {
    /// The file read (None = stdin).
    file: Option<PathBuf>,
    /// The name used for store and rule selection.
    name: Option<PathBuf>,
    input: Format,
    output: Format,
    layout: Layout,
}

fn target(
    file: Option<&Path>,
    read: &ReadOpts,
    config: Option<&Config>,
    need_name: bool,
) -> Result<Target, Error> {
    let name = read
        .filename_override
        .clone()
        .or_else(|| file.map(Path::to_path_buf));
    if name.is_none() && need_name {
        return Err(Error::Conflict(
            "reading stdin needs --filename-override to choose the store and rule".into(),
        ));
    }
    let by_name = name.as_deref().map(Format::from_path);
    let input = match &read.input_type {
        Some(t) => Format::parse(t)?,
        None => by_name.unwrap_or(Format::Binary),
    };
    let output = match &read.output_type {
        Some(t) => Format::parse(t)?,
        None => by_name.unwrap_or(input),
    };
    let mut layout = config.map(|c| c.layout).unwrap_or_default();
    if let Some(i) = read.indent {
        if i < -1 {
            return Err(Error::Conflict("--indent must be -1 or more".into()));
        }
        layout.yaml_indent = i.max(0) as usize;
        layout.json_indent = i;
        layout.json_binary_indent = i;
    }
    Ok(Target {
        file: file.map(Path::to_path_buf),
        name,
        input,
        output,
        layout,
    })
}

/// Finds and loads `.sops.yaml`. A config without creation rules still provides store settings;
/// for key selection it counts as no config, as in sops.
fn load_config(explicit: Option<&Path>) -> Result<Option<Config>, Error> {
    locate(explicit)?.map(|p| Config::load(&p)).transpose()
}

fn unlocker(read: &ReadOpts) -> Unlocker {
    let mut u = Unlocker::new(&read.pgp_key_files, read.decryption_order.clone());
    u.pgp_ring.strict_keys = read.strict_keys;
    u
}

fn warn_ignore_mac() {
    eprintln!(
        "sigil: WARNING: --ignore-mac: the MAC is NOT verified; the output may have been tampered with and must not be trusted"
    );
}

fn warn_plain_comments(n: usize) {
    if n > 0 {
        eprintln!(
            "sigil: warning: {n} comment(s) are stored in plaintext (file written by sops < 3.4); comments are not covered by the MAC"
        );
    }
}

fn check_output_flags(out: &OutputOpts, file: Option<&Path>) -> Result<(), Error> {
    if out.in_place && out.output.is_some() {
        return Err(Error::Conflict(
            "--in-place and --output cannot be used together".into(),
        ));
    }
    if out.in_place && file.is_none() {
        return Err(Error::Conflict("--in-place needs a file argument".into()));
    }
    Ok(())
}

fn split_list(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn encrypt_params(
    keys: &EncryptOpts,
    config: Option<&Config>,
    name: Option<&Path>,
) -> Result<EncryptParams, Error> {
    let cli_groups: Vec<KeySpec> = split_list(&keys.age)
        .into_iter()
        .map(KeySpec::Age)
        .chain(split_list(&keys.pgp).into_iter().map(KeySpec::Pgp))
        .collect();
    let rule = match config {
        Some(c) if !c.rules.is_empty() => {
            Some((c, c.rule_for(name.unwrap_or(Path::new("stdin")))?))
        }
        _ => None,
    };
    let (groups, mut threshold, mut selection, mut mac_only) = match (cli_groups.is_empty(), rule) {
        (false, r) => (
            vec![cli_groups],
            r.map(|(_, r)| r.threshold).unwrap_or(0),
            r.map(|(_, r)| r.selection.clone()).unwrap_or_default(),
            r.is_some_and(|(_, r)| r.mac_only_encrypted),
        ),
        (true, Some((c, r))) => {
            c.check_keys(r)?;
            (
                r.groups.clone(),
                r.threshold,
                r.selection.clone(),
                r.mac_only_encrypted,
            )
        }
        (true, None) => {
            return Err(Error::Generic(
                "config file not found, or has no creation rules, and no keys provided through command line options (--age/--pgp)".into(),
            ));
        }
    };
    for (flag, value) in [
        ("unencrypted_suffix", &keys.unencrypted_suffix),
        ("encrypted_suffix", &keys.encrypted_suffix),
        ("unencrypted_regex", &keys.unencrypted_regex),
        ("encrypted_regex", &keys.encrypted_regex),
        ("unencrypted_comment_regex", &keys.unencrypted_comment_regex),
        ("encrypted_comment_regex", &keys.encrypted_comment_regex),
    ] {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            *selection.field_mut(flag).expect("known") = v.clone();
        }
    }
    selection.check_exclusive()?;
    selection.compile()?;
    if let Some(t) = keys.shamir_threshold.filter(|t| *t > 0) {
        threshold = t;
    }
    mac_only |= keys.mac_only_encrypted;
    if groups.is_empty() {
        return Err(Error::NoEncryptionKey(
            "the matching creation rule has no keys".into(),
        ));
    }
    Ok(EncryptParams {
        groups,
        threshold,
        selection,
        mac_only_encrypted: mac_only,
    })
}

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

/// Loads and decrypts a file; returns documents, metadata and the decryption result.
fn open(
    file: Option<&Path>,
    t: &Target,
    read: &ReadOpts,
    ignore_mac: bool,
    remember_ivs: bool,
) -> Result<(Vec<Vec<Entry>>, Metadata, ops::Decrypted), Error> {
    let input = read_input(file)?;
    let (mut docs, meta) = load_encrypted(t.input, &input)?;
    if ignore_mac {
        warn_ignore_mac();
    }
    let mut u = unlocker(read);
    let d = ops::decrypt(&mut docs, &meta, &mut u, ignore_mac, remember_ivs)?;
    warn_plain_comments(d.plaintext_comments);
    Ok((docs, meta, d))
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

/// Encrypts edited documents again with the old data key, keeping metadata and unchanged IVs,
/// and emits them in `format`.
fn reseal(
    mut docs: Vec<Vec<Entry>>,
    mut meta: Metadata,
    d: &ops::Decrypted,
    t: &Target,
    format: Format,
) -> Result<Vec<u8>, Error> {
    ops::seal(&mut docs, &mut meta, &d.cipher)?;
    emit_encrypted(format, &mut docs, &meta, &t.layout)
}

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

/// `rotate`'s recipient changes (comma-separated lists).
pub struct KeyChanges<'a> {
    /// `--add-age`.
    pub add_age: &'a Option<String>,
    /// `--rm-age`.
    pub rm_age: &'a Option<String>,
    /// `--add-pgp`.
    pub add_pgp: &'a Option<String>,
    /// `--rm-pgp`.
    pub rm_pgp: &'a Option<String>,
}

/// `sigil rotate`: new data key, same (or adjusted) recipients, every value re-encrypted.
pub fn rotate(
    config_path: Option<&Path>,
    file: &Path,
    read: &ReadOpts,
    out: &OutputOpts,
    changes: &KeyChanges<'_>,
    ignore_mac: bool,
) -> Result<(), Error> {
    let KeyChanges {
        add_age,
        rm_age,
        add_pgp,
        rm_pgp,
    } = *changes;
    check_output_flags(out, Some(file))?;
    let config = load_config(config_path).ok().flatten();
    let t = target(Some(file), read, config.as_ref(), false)?;
    let (mut docs, meta, _d) = open(Some(file), &t, read, ignore_mac, false)?;
    let mut groups: Vec<Vec<KeySpec>> = meta
        .key_groups
        .iter()
        .map(|g| {
            g.0.iter()
                .map(|k| match k {
                    MasterKey::Age { recipient, .. } => Ok(KeySpec::Age(recipient.clone())),
                    MasterKey::Pgp { fp, .. } => Ok(KeySpec::Pgp(fp.clone())),
                    MasterKey::Other { kind, .. } => Err(Error::Generic(format!(
                        "cannot rotate: the file has {kind} keys, which sigil cannot re-wrap"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    let rm: Vec<KeySpec> = split_list(rm_age)
        .into_iter()
        .map(KeySpec::Age)
        .chain(split_list(rm_pgp).into_iter().map(KeySpec::Pgp))
        .collect();
    for g in groups.iter_mut() {
        g.retain(|k| !rm.contains(k));
    }
    if let Some(first) = groups.first_mut() {
        first.extend(split_list(add_age).into_iter().map(KeySpec::Age));
        first.extend(split_list(add_pgp).into_iter().map(KeySpec::Pgp));
    }
    let params = EncryptParams {
        groups,
        threshold: meta.shamir_threshold,
        selection: meta.selection.clone(),
        mac_only_encrypted: meta.mac_only_encrypted,
    };
    let u = unlocker(read);
    let new_meta = ops::encrypt_new(&mut docs, &params, &u.pgp_ring, t.input == Format::Binary)?;
    let bytes = emit_encrypted(t.input, &mut docs, &new_meta, &t.layout)?;
    let dest = if out.in_place {
        Some(file.to_path_buf())
    } else {
        out.output.clone()
    };
    emit(dest.as_deref(), &bytes, Mode::Public)
}

/// `sigil updatekeys`: same data key, values, MAC and lastmodified; new key groups.
pub fn updatekeys(
    config_path: Option<&Path>,
    file: &Path,
    read: &ReadOpts,
    yes: bool,
) -> Result<(), Error> {
    let config = load_config(config_path)?.ok_or_else(|| {
        Error::Generic("updatekeys needs a .sops.yaml with creation rules".into())
    })?;
    let t = target(Some(file), read, Some(&config), false)?;
    let rule = config.keys_for(file)?;
    let input = read_input(Some(file))?;
    let (mut docs, meta) = load_encrypted(t.input, &input)?;
    let mut u = unlocker(read);
    let key = u.recover(&meta)?;
    let describe = |groups: &[Vec<KeySpec>]| -> Vec<Vec<String>> {
        groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|k| match k {
                        KeySpec::Age(a) => a.clone(),
                        KeySpec::Pgp(p) => p.clone(),
                    })
                    .collect()
            })
            .collect()
    };
    let current: Vec<Vec<String>> = meta
        .key_groups
        .iter()
        .map(|g| g.0.iter().map(MasterKey::describe).collect())
        .collect();
    let wanted = describe(&rule.groups);
    let want_threshold = if rule.groups.len() >= 2 {
        if rule.threshold == 0 {
            rule.groups.len()
        } else {
            rule.threshold
        }
    } else {
        0
    };
    if current == wanted && meta.shamir_threshold == want_threshold {
        eprintln!("{}: already up to date", file.display());
        return Ok(());
    }
    eprintln!("The following changes will be made to the file's key groups:");
    eprintln!("  from: {current:?}\n  to:   {wanted:?}");
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Conflict(
                "not a terminal: confirm with -y/--yes".into(),
            ));
        }
        eprint!("Is this okay? (y/n): ");
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| Error::Read(e.to_string()))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Changes not applied");
            return Ok(());
        }
    }
    let (groups, threshold) =
        crate::sops::keys::wrap_groups(&rule.groups, rule.threshold, &key, &u.pgp_ring)?;
    let mut new_meta = meta.clone();
    new_meta.key_groups = groups;
    new_meta.shamir_threshold = threshold;
    let bytes = emit_encrypted(t.input, &mut docs, &new_meta, &t.layout)?;
    write_atomic(file, &bytes, Mode::Public)?;
    eprintln!("{}: updated", file.display());
    Ok(())
}

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

/// A private temporary directory, on tmpfs (/dev/shm) when available.
fn secure_tempdir() -> Result<tempfile::TempDir, Error> {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let b = tempfile::Builder::new().prefix("sigil-").tempdir_in(&base);
    let dir = match b {
        Ok(d) => d,
        Err(_) => tempfile::Builder::new()
            .prefix("sigil-")
            .tempdir()
            .map_err(|e| Error::Write(format!("temporary directory: {e}")))?,
    };
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::Write(e.to_string()))?;
    Ok(dir)
}

/// Text of a scalar for environment variables and dotenv (sops's `ValToString`).
fn val_to_string(v: &Value) -> Option<Zeroizing<String>> {
    Some(Zeroizing::new(match v {
        Value::Str(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => crate::sops::tree::go_format_float(*f),
        Value::Time(t) => t.to_string(),
        Value::Null => String::new(),
        _ => return None,
    }))
}

/// `sigil exec-env`.
pub fn exec_env(
    config_path: Option<&Path>,
    file: &Path,
    command: &str,
    pristine: bool,
    read: &ReadOpts,
) -> Result<i32, Error> {
    let config = load_config(config_path).ok().flatten();
    let t = target(Some(file), read, config.as_ref(), false)?;
    let (docs, _, _) = open(Some(file), &t, read, false, false)?;
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c").arg(command);
    if pristine {
        cmd.env_clear();
    }
    for e in docs.iter().flatten() {
        if let Entry::Pair(k, v) = e {
            let s = val_to_string(v).ok_or_else(|| {
                Error::Generic(format!(
                    "cannot use the map or list '{}' as an environment variable",
                    k.as_str()
                ))
            })?;
            cmd.env(k.as_str(), s.as_str());
        }
    }
    let status = cmd
        .status()
        .map_err(|e| Error::Generic(format!("cannot run /bin/sh: {e}")))?;
    Ok(status.code().unwrap_or(1))
}

/// `sigil exec-file`.
pub fn exec_file(
    config_path: Option<&Path>,
    file: &Path,
    command: &str,
    no_fifo: bool,
    filename: Option<&str>,
    read: &ReadOpts,
) -> Result<i32, Error> {
    let config = load_config(config_path).ok().flatten();
    let t = target(Some(file), read, config.as_ref(), false)?;
    let (docs, _, _) = open(Some(file), &t, read, false, false)?;
    let plain = Zeroizing::new(emit_plain(t.output, &docs, &t.layout)?);
    let dir = secure_tempdir()?;
    let path = dir.path().join(filename.unwrap_or("tmp-file"));
    let cmdline = command.replace("{}", &path.to_string_lossy());
    if no_fifo {
        write_atomic(&path, &plain, Mode::Secret)?;
        let status = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&cmdline)
            .status()
            .map_err(|e| Error::Generic(format!("cannot run /bin/sh: {e}")))?;
        let _ = std::fs::remove_file(&path);
        return Ok(status.code().unwrap_or(1));
    }
    let cpath = std::ffi::CString::new(path.to_string_lossy().as_bytes())
        .map_err(|_| Error::Write("bad path".into()))?;
    // SAFETY: mkfifo with a valid NUL-terminated path.
    if unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) } != 0 {
        return Err(Error::Write(format!(
            "cannot create a FIFO: {}",
            std::io::Error::last_os_error()
        )));
    }
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmdline)
        .spawn()
        .map_err(|e| Error::Generic(format!("cannot run /bin/sh: {e}")))?;
    let fifo = path.clone();
    let data = plain.clone();
    // The writer blocks until the command opens the FIFO; it is abandoned if it never does.
    std::thread::spawn(move || {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
            let _ = std::io::Write::write_all(&mut f, &data);
        }
    });
    let status = child.wait().map_err(|e| Error::Generic(e.to_string()))?;
    let _ = std::fs::remove_file(&path);
    Ok(status.code().unwrap_or(1))
}

/// `sigil keygen`: an age X25519 identity.
pub fn keygen(output: Option<&Path>) -> Result<(), Error> {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let secret = id.to_string();
    let text = Zeroizing::new(format!(
        "# created: {}\n# public key: {public}\n{}\n",
        crate::sops::time::now_utc(),
        secret.expose_secret()
    ));
    match output {
        Some(p) => {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(p)
                .map_err(|e| {
                    Error::Write(format!(
                        "cannot create {} (it must not exist): {e}",
                        p.display()
                    ))
                })?;
            std::io::Write::write_all(&mut f, text.as_bytes())
                .map_err(|e| Error::Write(e.to_string()))?;
            eprintln!("Public key: {public}");
        }
        None => emit(None, text.as_bytes(), Mode::Secret)?,
    }
    Ok(())
}
