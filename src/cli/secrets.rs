//! The SOPS commands: encrypt, decrypt, edit, rotate, updatekeys, set, unset, exec-*, filestatus.
//! This module holds what they share (the input/output target, `.sops.yaml`, the key unlocker,
//! opening and resealing a file); each group of commands lives in a submodule.

mod crypt;
mod edit;
mod exec;
mod keys;
mod set;

pub use crypt::{decrypt, encrypt, filestatus};
pub use edit::edit;
pub use exec::{exec_env, exec_file};
pub use keys::{KeyChanges, keygen, rotate, updatekeys};
pub use set::{SetArgs, set, unset};

use std::path::{Path, PathBuf};

use super::args::{EncryptOpts, OutputOpts, ReadOpts};
use super::io::read_input;
use crate::sops::Error;
use crate::sops::config::{Config, locate};
use crate::sops::format::{
    Format, Layout, blocks_differ, emit_encrypted, load_encrypted_unchecked,
};
use crate::sops::keys::kms::{KmsKey, parse_context};
use crate::sops::keys::vault::VaultKey;
use crate::sops::keys::{KeySpec, Unlocker};
use crate::sops::metadata::Metadata;
use crate::sops::ops::{self, EncryptParams};
use crate::sops::tree::Entry;

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

/// Vault transit URIs, comma separated.
fn vault_specs(uris: &Option<String>) -> Result<Vec<KeySpec>, Error> {
    split_list(uris)
        .iter()
        .map(|u| {
            VaultKey::from_uri(u)
                .map(KeySpec::Vault)
                .map_err(|e| Error::Generic(e.to_string()))
        })
        .collect()
}

/// `ARN[+ROLE],…` as KMS keys with `context` and `profile`.
fn kms_specs(arns: &Option<String>, context: &[(String, String)], profile: &str) -> Vec<KeySpec> {
    split_list(arns)
        .into_iter()
        .map(|a| KeySpec::Kms(KmsKey::from_arn_string(&a, context, profile)))
        .collect()
}

fn encrypt_params(
    keys: &EncryptOpts,
    config: Option<&Config>,
    name: Option<&Path>,
) -> Result<EncryptParams, Error> {
    let context = parse_context(keys.encryption_context.as_deref().unwrap_or(""))?;
    let profile = keys.aws_profile.as_deref().unwrap_or("");
    let cli_groups: Vec<KeySpec> = split_list(&keys.age)
        .into_iter()
        .map(KeySpec::Age)
        .chain(split_list(&keys.pgp).into_iter().map(KeySpec::Pgp))
        .chain(kms_specs(&keys.kms, &context, profile))
        .chain(vault_specs(&keys.hc_vault_transit)?)
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
                "config file not found, or has no creation rules, and no keys provided through command line options (--age/--pgp/--kms/--hc-vault-transit)".into(),
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

/// Loads and decrypts a file; returns documents, metadata and the decryption result.
fn open(
    file: Option<&Path>,
    t: &Target,
    read: &ReadOpts,
    ignore_mac: bool,
    remember_ivs: bool,
) -> Result<(Vec<Vec<Entry>>, Metadata, ops::Decrypted), Error> {
    let input = read_input(file)?;
    let (mut docs, meta, differ) = load_encrypted_unchecked(t.input, &input)?;
    if ignore_mac {
        warn_ignore_mac();
    }
    let mut u = unlocker(read);
    // The first document's MAC first (its failure is sops's 51), then sigil's stricter check.
    let d = ops::decrypt(&mut docs, &meta, &mut u, ignore_mac, remember_ivs)?;
    if differ {
        return Err(blocks_differ());
    }
    warn_plain_comments(d.plaintext_comments);
    Ok((docs, meta, d))
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
