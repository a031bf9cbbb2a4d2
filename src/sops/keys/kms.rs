//! AWS KMS master keys as sops 3.11 reads and writes them: `kms:` entries (`arn`, `role`
//! omitted when empty, `context` omitted when empty with sorted keys, `created_at`, `enc` =
//! base64 of the KMS ciphertext blob, `aws_profile` always present), `ARN[+ROLE_ARN]` strings
//! from `--kms`/`SOPS_KMS_ARN`/`.sops.yaml`, and `k:v,k:v` encryption contexts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::aws::kms::{KeyRef, decrypt, encrypt, region_of};
use crate::sops::error::Error;
use crate::sops::metadata::entry_text;
use crate::sops::tree::{Entry, Value, get};

/// A KMS key named by the user or read from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsKey {
    /// The key (or alias) ARN.
    pub arn: String,
    /// A role ARN to assume first (empty: none).
    pub role: String,
    /// The encryption context, sorted by key.
    pub context: Vec<(String, String)>,
    /// A named AWS profile (empty: the default chain).
    pub aws_profile: String,
}

impl KmsKey {
    /// `ARN[+ROLE_ARN]` as sops takes it (spaces removed; `+arn:` separates the role).
    pub fn from_arn_string(s: &str, context: &[(String, String)], aws_profile: &str) -> KmsKey {
        let s: String = s.chars().filter(|c| *c != ' ').collect();
        let (arn, role) = match s.find("+arn:") {
            Some(i) if i > 0 => (s[..i].to_string(), s[i + 1..].to_string()),
            _ => (s, String::new()),
        };
        KmsKey {
            arn,
            role,
            context: context.to_vec(),
            aws_profile: aws_profile.to_string(),
        }
    }

    /// A `kms:` entry of a file's metadata.
    pub fn from_fields(fields: &Value) -> Result<KmsKey, String> {
        let Value::Map(e) = fields else {
            return Err("a kms entry is not a mapping".into());
        };
        let text = |k: &str| entry_text(fields, k);
        let arn = text("arn").ok_or("a kms entry has no arn")?;
        let mut context = Vec::new();
        match get(e, "context") {
            None | Some(Value::Null) => {}
            Some(Value::Map(c)) => {
                for entry in c {
                    if let Entry::Pair(k, v) = entry {
                        let Value::Str(v) = v else {
                            return Err(format!(
                                "kms {arn}: context value of {} is not a string",
                                k.as_str()
                            ));
                        };
                        context.push((k.to_string(), String::from_utf8_lossy(v).into_owned()));
                    }
                }
            }
            Some(_) => return Err(format!("kms {arn}: context is not a mapping")),
        }
        context.sort();
        Ok(KmsKey {
            arn,
            role: text("role").unwrap_or_default(),
            context,
            aws_profile: text("aws_profile").unwrap_or_default(),
        })
    }

    /// The entry sops writes for this key wrapping `enc`.
    pub fn to_fields(&self, created_at: &str, enc: &str) -> Value {
        let pair = |k: &str, v: Value| Entry::Pair(Zeroizing::new(k.to_string()), v);
        let mut out = vec![pair("arn", Value::str(&self.arn))];
        if !self.role.is_empty() {
            out.push(pair("role", Value::str(&self.role)));
        }
        if !self.context.is_empty() {
            out.push(pair(
                "context",
                Value::Map(
                    self.context
                        .iter()
                        .map(|(k, v)| pair(k, Value::str(v)))
                        .collect(),
                ),
            ));
        }
        out.push(pair("created_at", Value::str(created_at)));
        out.push(pair("enc", Value::str(enc)));
        out.push(pair("aws_profile", Value::str(&self.aws_profile)));
        Value::Map(out)
    }

    /// sops's string form (`ARN[+ROLE][|CONTEXT[|PROFILE]]`), which `--rm-kms` matches.
    pub fn to_sops_string(&self) -> String {
        let mut s = self.arn.clone();
        if !self.role.is_empty() {
            s = format!("{s}+{}", self.role);
        }
        let context = context_string(&self.context);
        if !self.aws_profile.is_empty() {
            format!("{s}|{context}|{}", self.aws_profile)
        } else if !context.is_empty() {
            format!("{s}|{context}")
        } else {
            s
        }
    }

    fn key_ref(&self) -> KeyRef<'_> {
        KeyRef {
            arn: &self.arn,
            role: (!self.role.is_empty()).then_some(self.role.as_str()),
            context: &self.context,
            profile: (!self.aws_profile.is_empty()).then_some(self.aws_profile.as_str()),
        }
    }

    /// Wraps `payload` (the data key or a share); returns `enc`.
    pub fn wrap(&self, payload: &[u8]) -> Result<String, Error> {
        if region_of(&self.arn).is_none() {
            return Err(Error::Generic(format!(
                "Could not generate data key: no valid ARN found in '{}'",
                self.arn
            )));
        }
        encrypt(&self.key_ref(), payload)
            .map(|blob| B64.encode(blob))
            .map_err(|e| {
                Error::Generic(format!(
                    "Could not generate data key: failed to encrypt the data key with AWS KMS key {} (region {}): {e}",
                    self.arn,
                    region_of(&self.arn).unwrap_or("?")
                ))
            })
    }

    /// Unwraps `enc`; the error says which key, which region and what failed.
    pub fn unwrap(&self, enc: &str) -> Result<Zeroizing<Vec<u8>>, String> {
        let blob = B64
            .decode(enc.trim())
            .map_err(|e| format!("error base64-decoding encrypted data key: {e}"))?;
        let region =
            region_of(&self.arn).ok_or_else(|| format!("no valid ARN found in '{}'", self.arn))?;
        decrypt(&self.key_ref(), &blob).map_err(|e| {
            format!(
                "failed to decrypt sops data key with AWS KMS (region {region}): {e}{}",
                hint(&e.code)
            )
        })
    }
}

/// What to do about an AWS error code.
fn hint(code: &str) -> &'static str {
    match code {
        "no-credentials" => "",
        "AccessDeniedException" | "AccessDenied" => {
            " (the credentials lack kms:Decrypt on this key, or the role cannot be assumed)"
        }
        "InvalidCiphertextException" => {
            " (the ciphertext or the encryption context does not match: check the file's context)"
        }
        "DisabledException" => " (the key is disabled: enable it or decrypt with another key)",
        "NotFoundException" => " (no such key in this account and region)",
        "unreachable" => " (check the network, AWS_ENDPOINT_URL_KMS and the region)",
        _ => "",
    }
}

/// Reads the `enc` of a metadata entry and unwraps it.
pub fn unwrap_entry(fields: &Value) -> Result<Zeroizing<Vec<u8>>, String> {
    let key = KmsKey::from_fields(fields)?;
    let enc = entry_text(fields, "enc").ok_or_else(|| format!("kms {}: no enc", key.arn))?;
    key.unwrap(&enc)
}

/// `k:v,k2:v2` (sops's `--encryption-context`): every pair must have exactly one `:`.
pub fn parse_context(s: &str) -> Result<Vec<(String, String)>, Error> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for kv in s.split(',') {
        let parts: Vec<&str> = kv.split(':').collect();
        let [k, v] = parts.as_slice() else {
            return Err(Error::KmsContext(
                "Invalid KMS encryption context format".into(),
            ));
        };
        out.retain(|(key, _): &(String, String)| key != k);
        out.push((k.to_string(), v.to_string()));
    }
    out.sort();
    Ok(out)
}

fn context_string(c: &[(String, String)]) -> String {
    c.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_strings_contexts_and_entries() {
        let k = KmsKey::from_arn_string(
            " arn:aws:kms:us-east-1:1:key/k+arn:aws:iam::1:role/r",
            &parse_context("b:2,a:1").unwrap(),
            "",
        );
        assert_eq!(
            (k.arn.as_str(), k.role.as_str()),
            ("arn:aws:kms:us-east-1:1:key/k", "arn:aws:iam::1:role/r")
        );
        assert_eq!(
            k.to_sops_string(),
            "arn:aws:kms:us-east-1:1:key/k+arn:aws:iam::1:role/r|a:1,b:2"
        );
        let fields = k.to_fields("2026-01-01T00:00:00Z", "ZW5j");
        let Value::Map(e) = &fields else { panic!() };
        let keys: Vec<&str> = e
            .iter()
            .filter_map(|x| match x {
                Entry::Pair(k, _) => Some(k.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            keys,
            ["arn", "role", "context", "created_at", "enc", "aws_profile"]
        );
        assert_eq!(KmsKey::from_fields(&fields).unwrap(), k);
        assert!(matches!(parse_context("a:1:2"), Err(Error::KmsContext(_))));
        assert!(matches!(parse_context("a"), Err(Error::KmsContext(_))));
        assert_eq!(parse_context("").unwrap(), vec![]);
    }
}
