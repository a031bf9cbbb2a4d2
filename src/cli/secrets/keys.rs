//! Key management: `sigil rotate` (a new data key), `sigil updatekeys` (new key groups from
//! `.sops.yaml`, same data key) and `sigil keygen` (an age identity).

use std::io::IsTerminal;
use std::path::Path;

use zeroize::Zeroizing;

use super::{
    check_output_flags, kms_specs, load_config, open, split_list, target, unlocker, vault_specs,
};
use crate::cli::args::{OutputOpts, ReadOpts};
use crate::cli::io::{Mode, emit, read_input, write_atomic};
use crate::sops::Error;
use crate::sops::format::{Format, emit_encrypted, load_encrypted};
use crate::sops::keys::KeySpec;
use crate::sops::keys::kms::{KmsKey, parse_context};
use crate::sops::keys::vault::VaultKey;
use crate::sops::metadata::MasterKey;
use crate::sops::ops::{self, EncryptParams};

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
    /// `--add-kms`.
    pub add_kms: &'a Option<String>,
    /// `--rm-kms`.
    pub rm_kms: &'a Option<String>,
    /// `--add-hc-vault-transit`.
    pub add_vault: &'a Option<String>,
    /// `--rm-hc-vault-transit`.
    pub rm_vault: &'a Option<String>,
    /// `--encryption-context` of the added or removed kms keys.
    pub encryption_context: &'a Option<String>,
    /// `--aws-profile` of the added or removed kms keys.
    pub aws_profile: &'a Option<String>,
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
        add_kms,
        rm_kms,
        add_vault,
        rm_vault,
        encryption_context,
        aws_profile,
    } = *changes;
    let context = parse_context(encryption_context.as_deref().unwrap_or(""))?;
    let profile = aws_profile.as_deref().unwrap_or("");
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
                    MasterKey::Other {
                        kind: "kms",
                        fields,
                    } => KmsKey::from_fields(fields)
                        .map(KeySpec::Kms)
                        .map_err(Error::Parse),
                    MasterKey::Other {
                        kind: "hc_vault",
                        fields,
                    } => VaultKey::from_fields(fields)
                        .map(KeySpec::Vault)
                        .map_err(Error::Parse),
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
        .chain(kms_specs(rm_kms, &context, profile))
        .chain(vault_specs(rm_vault)?)
        .collect();
    for g in groups.iter_mut() {
        g.retain(|k| !rm.contains(k));
    }
    if let Some(first) = groups.first_mut() {
        first.extend(split_list(add_age).into_iter().map(KeySpec::Age));
        first.extend(split_list(add_pgp).into_iter().map(KeySpec::Pgp));
        first.extend(kms_specs(add_kms, &context, profile));
        first.extend(vault_specs(add_vault)?);
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
                        KeySpec::Kms(k) => k.to_sops_string(),
                        KeySpec::Vault(k) => k.to_sops_string(),
                    })
                    .collect()
            })
            .collect()
    };
    let current: Vec<Vec<String>> = meta
        .key_groups
        .iter()
        .map(|g| {
            g.0.iter()
                .map(|k| match k {
                    MasterKey::Other {
                        kind: "kms",
                        fields,
                    } => KmsKey::from_fields(fields)
                        .map(|k| k.to_sops_string())
                        .unwrap_or_else(|_| k.describe()),
                    MasterKey::Other {
                        kind: "hc_vault",
                        fields,
                    } => VaultKey::from_fields(fields)
                        .map(|k| k.to_sops_string())
                        .unwrap_or_else(|_| k.describe()),
                    _ => k.describe(),
                })
                .collect()
        })
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
