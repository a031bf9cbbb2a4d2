//! Wrapping and recovering the data key with master keys (age, OpenPGP) and key groups.

pub mod age;
pub mod kms;
pub mod pgp;
/// Public for its fuzz target only: the OpenPGP messages it reads are untrusted input.
#[doc(hidden)]
pub mod pgp_legacy;
pub mod prompt;
pub mod vault;

use std::path::PathBuf;

use super::cipher::DataKey;
use super::error::Error;
use super::metadata::{KeyGroup, MasterKey, Metadata};
use super::shamir;

/// A master key named by the user (CLI flag or `.sops.yaml`), before it wraps anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    /// An age recipient string.
    Age(String),
    /// An OpenPGP fingerprint.
    Pgp(String),
    /// An AWS KMS key.
    Kms(kms::KmsKey),
    /// A HashiCorp Vault transit key.
    Vault(vault::VaultKey),
}

/// Where secret key material comes from when decrypting.
pub struct Unlocker {
    age: Option<age::Identities>,
    /// OpenPGP key files (public certs for encryption, secret keys for decryption).
    pub pgp_ring: pgp::Keyring,
    pgp_files_given: bool,
    /// Key type ids in the order they are tried (`--decryption-order`, default `age,pgp`).
    pub order: Vec<String>,
    /// AWS KMS keys may be called (the CLI: yes; the gate: only with `secrets.awsKms`).
    kms: bool,
    /// Vault transit may be called (the CLI: yes; the gate: only with `secrets.vaultTransit`).
    vault: bool,
}

impl Unlocker {
    /// An unlocker reading OpenPGP keys from `pgp_files` (files or directories).
    pub fn new(pgp_files: &[PathBuf], order: Vec<String>) -> Unlocker {
        Unlocker {
            age: None,
            pgp_ring: pgp::Keyring::load(pgp_files),
            pgp_files_given: !pgp_files.is_empty(),
            order,
            kms: true,
            vault: true,
        }
    }

    /// The gate's unlocker: age identities from `age_key_file` only (no environment, no home
    /// directory); if `aws_kms`, AWS KMS with the process's AWS credentials (IRSA); if
    /// `vault_transit`, Vault transit with the process's Vault token.
    pub fn for_gate(
        age_key_file: Option<&std::path::Path>,
        aws_kms: bool,
        vault_transit: bool,
    ) -> Result<Unlocker, String> {
        let mut u = match age_key_file {
            Some(f) => Unlocker::from_age_file(f)?,
            None => Unlocker {
                age: Some(age::Identities {
                    list: Vec::new(),
                    searched: vec!["no secrets.ageKeyFile".into()],
                    problems: Vec::new(),
                }),
                pgp_ring: pgp::Keyring::load(&[]),
                pgp_files_given: true,
                order: Vec::new(),
                kms: false,
                vault: false,
            },
        };
        if aws_kms {
            u.kms = true;
            u.order.push("kms".into());
        }
        if vault_transit {
            u.vault = true;
            u.order.push("hc_vault".into());
        }
        Ok(u)
    }

    /// An unlocker using only the age identities in `file` (no environment, no home
    /// directory): the gate's keys come from its configuration alone.
    pub fn from_age_file(file: &std::path::Path) -> Result<Unlocker, String> {
        let text = zeroize::Zeroizing::new(
            std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?,
        );
        let origin = file.display().to_string();
        let list = age::parse_identity_text(&text, &origin, &|_| None)?;
        Ok(Unlocker {
            age: Some(age::Identities {
                list,
                searched: vec![origin],
                problems: Vec::new(),
            }),
            pgp_ring: pgp::Keyring::load(&[]),
            pgp_files_given: true,
            order: vec!["age".into()],
            kms: false,
            vault: false,
        })
    }

    fn age_identities(&mut self) -> &age::Identities {
        self.age.get_or_insert_with(age::load_identities)
    }

    fn try_key(&mut self, key: &MasterKey) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
        match key {
            MasterKey::Age { enc, .. } => {
                let ids = self.age_identities();
                let r = age::unwrap(enc.as_bytes(), &ids.list);
                r.map_err(|e| {
                    let mut msg =
                        format!("{e}. Looked for identities in {}", ids.searched.join(", "));
                    for p in &ids.problems {
                        msg.push_str(&format!("; {p}"));
                    }
                    msg
                })
            }
            MasterKey::Pgp { enc, .. } => {
                let in_process = pgp::unwrap_in_process(enc, &self.pgp_ring);
                match in_process {
                    Ok(k) => Ok(k),
                    // Like sops, ask gpg when the key files cannot do it (agent, smartcard, or
                    // messages sequoia's strict parser refuses, e.g. non-canonical MPIs).
                    Err(e) if pgp::gpg_available() => pgp::unwrap_with_gpg(enc).map_err(|g| {
                        let mut msg = format!("in process: {e}; {g}");
                        for p in &self.pgp_ring.problems {
                            msg.push_str(&format!("; {p}"));
                        }
                        msg
                    }),
                    Err(e) if self.pgp_files_given => Err(e),
                    Err(e) => Err(format!(
                        "{e}; no key file was given (--pgp-key-file / SIGIL_PGP_KEY_FILES) and no gpg binary was found"
                    )),
                }
            }
            MasterKey::Other { kind: "kms", .. } if !self.kms => Err(
                "AWS KMS is not enabled here (the gate's secrets.awsKms, or render --aws-kms)"
                    .into(),
            ),
            MasterKey::Other {
                kind: "kms",
                fields,
            } => kms::unwrap_entry(fields),
            MasterKey::Other {
                kind: "hc_vault", ..
            } if !self.vault => {
                Err("Vault transit is not enabled here (the gate's secrets.vaultTransit)".into())
            }
            MasterKey::Other {
                kind: "hc_vault",
                fields,
            } => vault::unwrap_entry(fields),
            MasterKey::Other { kind, .. } => Err(format!(
                "{kind} keys are not supported by sigil (only age, pgp, kms and hc_vault)"
            )),
        }
    }

    /// Recovers the data key, trying the keys of each group in decryption order.
    pub fn recover(&mut self, meta: &Metadata) -> Result<DataKey, Error> {
        let mut parts: Vec<zeroize::Zeroizing<Vec<u8>>> = Vec::new();
        let mut report = String::new();
        for (gi, group) in meta.key_groups.iter().enumerate() {
            let mut idx: Vec<usize> = (0..group.0.len()).collect();
            let order = self.order.clone();
            let rank = |k: &MasterKey| {
                order
                    .iter()
                    .position(|t| t == k.type_id())
                    .unwrap_or(order.len())
            };
            idx.sort_by_key(|&i| rank(&group.0[i]));
            let mut group_report = String::new();
            let mut got = None;
            for i in idx {
                match self.try_key(&group.0[i]) {
                    Ok(part) => {
                        got = Some(part);
                        break;
                    }
                    Err(e) => group_report.push_str(&format!(
                        "  {}: FAILED\n    - {}\n",
                        group.0[i].describe(),
                        e
                    )),
                }
            }
            match got {
                Some(p) => {
                    parts.push(p);
                    report.push_str(&format!("Group {gi}: OK\n"));
                    if meta.key_groups.len() == 1 {
                        break;
                    }
                }
                None => report.push_str(&format!("Group {gi}: FAILED\n{group_report}")),
            }
        }
        let fail = |why: &str| {
            Error::KeyRecovery(format!(
                "Failed to get the data key required to decrypt the SOPS file.\n\n{report}\n{why}"
            ))
        };
        if meta.key_groups.len() <= 1 {
            let part = parts.pop().ok_or_else(|| {
                fail("Recovery failed because no master key was able to decrypt the file. Provide a matching identity (SOPS_AGE_KEY_FILE, --pgp-key-file, ...).")
            })?;
            return DataKey::from_slice(&part);
        }
        let threshold = if meta.shamir_threshold == 0 {
            meta.key_groups.len()
        } else {
            meta.shamir_threshold
        };
        if parts.len() < threshold {
            return Err(fail(&format!(
                "Recovery failed because only {} of the {} key groups needed (shamir_threshold) could be decrypted.",
                parts.len(),
                threshold
            )));
        }
        let refs: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
        let key = shamir::combine(&refs)?;
        DataKey::from_slice(&key)
    }
}

/// Wraps `key` for every group; with two or more groups each gets a Shamir share.
/// Returns the groups and the threshold to record (0 when not splitting).
pub fn wrap_groups(
    groups: &[Vec<KeySpec>],
    threshold: usize,
    key: &DataKey,
    ring: &pgp::Keyring,
) -> Result<(Vec<KeyGroup>, usize), Error> {
    if groups.is_empty() || groups.iter().all(|g| g.is_empty()) {
        return Err(Error::NoEncryptionKey(
            "no master key to encrypt with: give --age/--pgp or a .sops.yaml creation rule".into(),
        ));
    }
    if groups.iter().any(|g| g.is_empty()) {
        return Err(Error::Config("a key group has no keys".into()));
    }
    let created_at = super::time::now_utc();
    let wrap_one = |spec: &KeySpec, payload: &[u8]| -> Result<MasterKey, Error> {
        Ok(match spec {
            KeySpec::Age(r) => MasterKey::Age {
                recipient: r.clone(),
                enc: age::wrap(r, payload)?,
            },
            KeySpec::Pgp(fp) => MasterKey::Pgp {
                fp: fp.split_whitespace().collect(),
                created_at: created_at.clone(),
                enc: pgp::wrap(fp, payload, ring)?,
            },
            KeySpec::Kms(k) => MasterKey::Other {
                kind: "kms",
                fields: k.to_fields(&created_at, &k.wrap(payload)?),
            },
            KeySpec::Vault(k) => MasterKey::Other {
                kind: "hc_vault",
                fields: k.to_fields(&created_at, &k.wrap(payload)?),
            },
        })
    };
    if groups.len() == 1 {
        let g = groups[0]
            .iter()
            .map(|s| wrap_one(s, key.as_bytes()))
            .collect::<Result<_, _>>()?;
        return Ok((vec![KeyGroup(g)], 0));
    }
    let t = if threshold == 0 {
        groups.len()
    } else {
        threshold
    };
    let shares = shamir::split(key.as_bytes(), groups.len(), t)?;
    let mut out = Vec::new();
    for (g, share) in groups.iter().zip(&shares) {
        out.push(KeyGroup(
            g.iter()
                .map(|s| wrap_one(s, share))
                .collect::<Result<_, _>>()?,
        ));
    }
    Ok((out, t))
}
