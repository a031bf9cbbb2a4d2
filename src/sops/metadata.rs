//! The `sops` metadata block: key groups, MAC, timestamps and the selection rule.

use zeroize::Zeroizing;

use super::error::Error;
use super::rules::Selection;
use super::tree::{Entry, Value, get};

/// The version sigil writes into files: a full semver that every sops 3.x accepts.
pub const WRITE_VERSION: &str = "3.11.0";

/// A master key entry that wraps the data key (or a Shamir share of it).
pub enum MasterKey {
    /// An age recipient (X25519 `age1…` or `ssh-ed25519`/`ssh-rsa`).
    Age {
        /// The recipient string as given (SSH keys keep their comment).
        recipient: String,
        /// The armored age file holding the data key.
        enc: String,
    },
    /// An OpenPGP key.
    Pgp {
        /// The fingerprint as given (spaces removed).
        fp: String,
        /// When the entry was created (RFC 3339).
        created_at: String,
        /// The armored OpenPGP message holding the data key.
        enc: String,
    },
    /// A key type sigil does not unwrap (kms, gcp_kms, azure_kv, hc_vault, hckms): kept as is.
    Other {
        /// The metadata list it came from.
        kind: &'static str,
        /// Its fields, verbatim.
        fields: Value,
    },
}

impl MasterKey {
    /// The type id used by `--decryption-order` (`age`, `pgp`, `kms`, …).
    pub fn type_id(&self) -> &str {
        match self {
            MasterKey::Age { .. } => "age",
            MasterKey::Pgp { .. } => "pgp",
            MasterKey::Other { kind, .. } => kind,
        }
    }

    /// A short human name for reports.
    pub fn describe(&self) -> String {
        match self {
            MasterKey::Age { recipient, .. } => recipient.clone(),
            MasterKey::Pgp { fp, .. } => fp.clone(),
            MasterKey::Other { kind, fields } => {
                let id = ["arn", "resource_id", "vault_url", "vault_address", "key_id"]
                    .iter()
                    .find_map(|k| entry_text(fields, k))
                    .unwrap_or_default();
                format!("{kind} {id}")
            }
        }
    }

    fn deep_clone(&self) -> MasterKey {
        match self {
            MasterKey::Age { recipient, enc } => MasterKey::Age {
                recipient: recipient.clone(),
                enc: enc.clone(),
            },
            MasterKey::Pgp {
                fp,
                created_at,
                enc,
            } => MasterKey::Pgp {
                fp: fp.clone(),
                created_at: created_at.clone(),
                enc: enc.clone(),
            },
            MasterKey::Other { kind, fields } => MasterKey::Other {
                kind,
                fields: fields.deep_clone(),
            },
        }
    }
}

/// A string field of a key entry (`arn`, `enc`, …); `None` when absent or not a string.
pub fn entry_text(fields: &Value, name: &str) -> Option<String> {
    match fields {
        Value::Map(e) => match get(e, name) {
            Some(Value::Str(s)) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        },
        _ => None,
    }
}

/// One key group: any one of its keys recovers the group's share.
#[derive(Default)]
pub struct KeyGroup(pub Vec<MasterKey>);

impl Clone for KeyGroup {
    fn clone(&self) -> Self {
        KeyGroup(self.0.iter().map(MasterKey::deep_clone).collect())
    }
}

/// The parsed `sops` block.
#[derive(Clone)]
pub struct Metadata {
    /// Shares needed to rebuild the key (0 = number of groups).
    pub shamir_threshold: usize,
    /// Key groups; one group means every key wraps the whole data key.
    pub key_groups: Vec<KeyGroup>,
    /// `lastmodified` exactly as in the file.
    pub last_modified: String,
    /// The encrypted MAC (`ENC[…]`), empty when absent.
    pub mac: String,
    /// The selection rule as recorded (default applied separately).
    pub selection: Selection,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// The `version` string.
    pub version: String,
}

const OTHER_KINDS: [&str; 5] = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"];

fn text(v: &Value, what: &str) -> Result<String, Error> {
    match v {
        Value::Str(s) => String::from_utf8(s.to_vec())
            .map_err(|_| Error::Parse(format!("sops metadata field '{what}' is not UTF-8"))),
        Value::Time(t) => Ok(t.to_string()),
        Value::Null => Ok(String::new()),
        _ => Err(Error::Parse(format!(
            "sops metadata field '{what}' must be a string"
        ))),
    }
}

fn list<'a>(entries: &'a [Entry], key: &str) -> Result<&'a [Value], Error> {
    match get(entries, key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Seq(items)) => Ok(items),
        Some(_) => Err(Error::Parse(format!(
            "sops metadata field '{key}' must be a list"
        ))),
    }
}

fn parse_group(entries: &[Entry]) -> Result<KeyGroup, Error> {
    let mut keys = Vec::new();
    for kind in OTHER_KINDS {
        for item in list(entries, kind)? {
            keys.push(MasterKey::Other {
                kind,
                fields: item.deep_clone(),
            });
        }
    }
    for item in list(entries, "pgp")? {
        let Value::Map(e) = item else {
            return Err(Error::Parse("a sops pgp entry must be a mapping".into()));
        };
        let field = |k: &str| {
            get(e, k)
                .map(|v| text(v, k))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let created_at = field("created_at")?;
        if !created_at.is_empty() && super::time::parse(&created_at).is_none() {
            return Err(Error::Parse(format!(
                "pgp created_at '{created_at}' is not RFC 3339"
            )));
        }
        keys.push(MasterKey::Pgp {
            fp: field("fp")?,
            created_at,
            enc: field("enc")?,
        });
    }
    for item in list(entries, "age")? {
        let Value::Map(e) = item else {
            return Err(Error::Parse("a sops age entry must be a mapping".into()));
        };
        let field = |k: &str| {
            get(e, k)
                .map(|v| text(v, k))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        keys.push(MasterKey::Age {
            recipient: field("recipient")?,
            enc: field("enc")?,
        });
    }
    Ok(KeyGroup(keys))
}

/// Does the version string parse as sops requires (semver, optional `v`, or a 1.x file)?
pub fn version_ok(v: &str) -> bool {
    if v.starts_with("1.") {
        return true;
    }
    let v = v.strip_prefix('v').unwrap_or(v);
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

impl Metadata {
    /// Reads the `sops` value of a document.
    pub fn from_value(v: &Value) -> Result<Metadata, Error> {
        let Value::Map(entries) = v else {
            return Err(Error::Parse("the sops metadata must be a mapping".into()));
        };
        let shamir_threshold = match get(entries, "shamir_threshold") {
            None | Some(Value::Null) => 0,
            Some(Value::Int(i)) if *i >= 0 => *i as usize,
            Some(Value::Float(f)) if *f >= 0.0 && f.fract() == 0.0 => *f as usize,
            Some(Value::Str(s)) => std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Error::Parse("shamir_threshold is not a number".into()))?,
            Some(_) => return Err(Error::Parse("shamir_threshold is not a number".into())),
        };
        let version = match get(entries, "version") {
            Some(Value::Int(_) | Value::Float(_)) => {
                return Err(Error::Generic(
                    "this is a SOPS 1.x file (numeric version); convert it with sops 2.x first"
                        .into(),
                ));
            }
            Some(v) => text(v, "version")?,
            None => String::new(),
        };
        if !version_ok(&version) {
            return Err(Error::Generic(format!(
                "the sops metadata version '{version}' is not a valid semantic version"
            )));
        }
        let last_modified = get(entries, "lastmodified")
            .map(|v| text(v, "lastmodified"))
            .transpose()?
            .unwrap_or_default();
        if super::time::parse(&last_modified).is_none() {
            return Err(Error::Parse(format!(
                "sops metadata lastmodified '{last_modified}' is not an RFC 3339 time"
            )));
        }
        let mac = get(entries, "mac")
            .map(|v| text(v, "mac"))
            .transpose()?
            .unwrap_or_default();
        let mut selection = Selection::default();
        for name in [
            "unencrypted_suffix",
            "encrypted_suffix",
            "unencrypted_regex",
            "encrypted_regex",
            "unencrypted_comment_regex",
            "encrypted_comment_regex",
        ] {
            if let Some(v) = get(entries, name) {
                *selection.field_mut(name).expect("known field") = text(v, name)?;
            }
        }
        selection.check_exclusive()?;
        let mac_only_encrypted = match get(entries, "mac_only_encrypted") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Str(s)) if &s[..] == b"true" => true,
            Some(Value::Str(s)) if &s[..] == b"false" => false,
            Some(_) => return Err(Error::Parse("mac_only_encrypted must be a boolean".into())),
        };
        let top = parse_group(entries)?;
        let key_groups = if !top.0.is_empty() {
            vec![top]
        } else {
            let mut groups = Vec::new();
            for g in list(entries, "key_groups")? {
                let Value::Map(ge) = g else {
                    return Err(Error::Parse("a sops key group must be a mapping".into()));
                };
                groups.push(parse_group(ge)?);
            }
            groups
        };
        if key_groups.iter().all(|g| g.0.is_empty()) {
            return Err(Error::Parse(
                "no keys found in the file's sops metadata".into(),
            ));
        }
        Ok(Metadata {
            shamir_threshold,
            key_groups,
            last_modified,
            mac,
            selection,
            mac_only_encrypted,
            version,
        })
    }

    /// The metadata as a tree value, fields in sops's struct order. `json` selects JSON's
    /// `null` for the always-present empty group lists (YAML prints `[]`).
    pub fn to_value(&self, json: bool) -> Value {
        let mut out: Vec<Entry> = Vec::new();
        let s = |x: &str| Value::str(x);
        let pair = |k: &str, v: Value| Entry::Pair(Zeroizing::new(k.to_string()), v);
        if self.shamir_threshold > 0 {
            out.push(pair(
                "shamir_threshold",
                Value::Int(self.shamir_threshold as i64),
            ));
        }
        let empty_list = || {
            if json {
                Value::Null
            } else {
                Value::Seq(Vec::new())
            }
        };
        if self.key_groups.len() >= 2 {
            let groups = self
                .key_groups
                .iter()
                .map(|g| {
                    let mut ge = Vec::new();
                    let pgp = pgp_list(g);
                    if !pgp.is_empty() {
                        ge.push(pair("pgp", Value::Seq(pgp)));
                    }
                    for kind in ["kms", "gcp_kms", "hckms", "azure_kv"] {
                        let l = other_list(g, kind);
                        if !l.is_empty() {
                            ge.push(pair(kind, Value::Seq(l)));
                        }
                    }
                    let vault = other_list(g, "hc_vault");
                    ge.push(pair(
                        "hc_vault",
                        if vault.is_empty() {
                            empty_list()
                        } else {
                            Value::Seq(vault)
                        },
                    ));
                    let age = age_list(g);
                    ge.push(pair(
                        "age",
                        if age.is_empty() {
                            empty_list()
                        } else {
                            Value::Seq(age)
                        },
                    ));
                    Value::Map(ge)
                })
                .collect();
            out.push(pair("key_groups", Value::Seq(groups)));
        }
        let single = (self.key_groups.len() == 1).then(|| &self.key_groups[0]);
        if let Some(g) = single {
            for kind in ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"] {
                let l = other_list(g, kind);
                if !l.is_empty() {
                    out.push(pair(kind, Value::Seq(l)));
                }
            }
            let age = age_list(g);
            if !age.is_empty() {
                out.push(pair("age", Value::Seq(age)));
            }
        }
        out.push(pair("lastmodified", s(&self.last_modified)));
        out.push(pair("mac", s(&self.mac)));
        if let Some(g) = single {
            let pgp = pgp_list(g);
            if !pgp.is_empty() {
                out.push(pair("pgp", Value::Seq(pgp)));
            }
        }
        for (name, value) in self.selection.fields() {
            if !value.is_empty() {
                out.push(pair(name, s(value)));
            }
        }
        if self.mac_only_encrypted {
            out.push(pair("mac_only_encrypted", Value::Bool(true)));
        }
        out.push(pair("version", s(&self.version)));
        Value::Map(out)
    }
}

fn age_list(g: &KeyGroup) -> Vec<Value> {
    g.0.iter()
        .filter_map(|k| match k {
            MasterKey::Age { recipient, enc } => Some(Value::Map(vec![
                Entry::Pair(Zeroizing::new("recipient".into()), Value::str(recipient)),
                Entry::Pair(Zeroizing::new("enc".into()), Value::str(enc)),
            ])),
            _ => None,
        })
        .collect()
}

fn pgp_list(g: &KeyGroup) -> Vec<Value> {
    g.0.iter()
        .filter_map(|k| match k {
            MasterKey::Pgp {
                fp,
                created_at,
                enc,
            } => Some(Value::Map(vec![
                Entry::Pair(Zeroizing::new("created_at".into()), Value::str(created_at)),
                Entry::Pair(Zeroizing::new("enc".into()), Value::str(enc)),
                Entry::Pair(Zeroizing::new("fp".into()), Value::str(fp)),
            ])),
            _ => None,
        })
        .collect()
}

fn other_list(g: &KeyGroup, want: &str) -> Vec<Value> {
    g.0.iter()
        .filter_map(|k| match k {
            MasterKey::Other { kind, fields } if *kind == want => Some(fields.deep_clone()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for ok in [
            "3.11.0",
            "0.1.0",
            "3.11.0+rsops",
            "v3.11.0",
            "1.13",
            "3.7.1-rc.1",
        ] {
            assert!(version_ok(ok), "{ok}");
        }
        for bad in ["3.11", "rsops-1.0", "", "3.11.0.1", "03.1.1"] {
            assert!(!version_ok(bad), "{bad}");
        }
    }
}
