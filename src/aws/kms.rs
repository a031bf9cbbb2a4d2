//! KMS `Encrypt` and `Decrypt` of a SOPS data key (or Shamir share), as sops calls them:
//! the key ARN, the encryption context, the region taken from the ARN, an optional role
//! assumed first (session `sops@<hostname>`), an optional named profile.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::call::{AwsError, Call, send, service_error};
use super::credentials::{self, Credentials};
use super::sts;

/// The key to call with.
pub struct KeyRef<'a> {
    /// `arn:aws…:kms:REGION:ACCOUNT:key/…` or `…:alias/…`.
    pub arn: &'a str,
    /// A role to assume first.
    pub role: Option<&'a str>,
    /// The encryption context (sorted).
    pub context: &'a [(String, String)],
    /// A named profile of the shared files.
    pub profile: Option<&'a str>,
}

/// The region of a KMS ARN (sops's `^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)/.+$`).
pub fn region_of(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:aws")?;
    let (partition, rest) = rest.split_once(':')?;
    if !partition
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return None;
    }
    let rest = rest.strip_prefix("kms:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, resource) = rest.split_once(':')?;
    let ok = !region.is_empty()
        && !account.is_empty()
        && account.bytes().all(|b| b.is_ascii_digit())
        && (resource
            .strip_prefix("key/")
            .or_else(|| resource.strip_prefix("alias/")))
        .is_some_and(|r| !r.is_empty());
    ok.then_some(region)
}

fn credentials_for(key: &KeyRef<'_>, region: &str) -> Result<Credentials, AwsError> {
    let base = credentials::resolve(key.profile, region)?;
    match key.role {
        Some(role) => sts::assume_role(&base, role, &sts::sops_session_name(), None, region),
        None => Ok(base),
    }
}

fn kms_call(
    key: &KeyRef<'_>,
    target: &str,
    mut request: serde_json::Value,
) -> Result<serde_json::Value, AwsError> {
    let region = region_of(key.arn)
        .ok_or_else(|| AwsError::new("bad-arn", format!("no valid ARN found in '{}'", key.arn)))?;
    let creds = credentials_for(key, region)?;
    if !key.context.is_empty() {
        request["EncryptionContext"] = key
            .context
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let body = Zeroizing::new(serde_json::to_vec(&request).unwrap_or_default());
    let (status, bytes) = send(
        &Call {
            service: "kms",
            region,
            headers: vec![
                ("content-type", "application/x-amz-json-1.1".to_string()),
                ("x-amz-target", format!("TrentService.{target}")),
            ],
            body: body.to_vec(),
        },
        Some(&creds),
    )?;
    let bytes = Zeroizing::new(bytes);
    if status != 200 {
        return Err(service_error(status, &bytes));
    }
    serde_json::from_slice(&bytes).map_err(|_| {
        AwsError::new(
            "bad-response",
            format!("KMS {target}: the answer is not JSON"),
        )
    })
}

/// Encrypts `plaintext` under `key`; returns the ciphertext blob.
pub fn encrypt(key: &KeyRef<'_>, plaintext: &[u8]) -> Result<Vec<u8>, AwsError> {
    let req = serde_json::json!({"KeyId": key.arn, "Plaintext": B64.encode(plaintext)});
    let resp = kms_call(key, "Encrypt", req)?;
    let blob = resp
        .get("CiphertextBlob")
        .and_then(|b| b.as_str())
        .ok_or_else(|| AwsError::new("bad-response", "KMS Encrypt: no CiphertextBlob"))?;
    B64.decode(blob)
        .map_err(|_| AwsError::new("bad-response", "KMS Encrypt: CiphertextBlob is not base64"))
}

/// Decrypts `blob` with `key`; returns the plaintext (the data key or share).
pub fn decrypt(key: &KeyRef<'_>, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, AwsError> {
    let req = serde_json::json!({"KeyId": key.arn, "CiphertextBlob": B64.encode(blob)});
    let resp = kms_call(key, "Decrypt", req)?;
    let plain = resp
        .get("Plaintext")
        .and_then(|b| b.as_str())
        .ok_or_else(|| AwsError::new("bad-response", "KMS Decrypt: no Plaintext"))?;
    B64.decode(plain)
        .map(Zeroizing::new)
        .map_err(|_| AwsError::new("bad-response", "KMS Decrypt: Plaintext is not base64"))
}

#[cfg(test)]
mod tests {
    use super::region_of;

    #[test]
    fn regions_of_arns() {
        assert_eq!(
            region_of(
                "arn:aws:kms:us-west-2:107501996527:key/612d5f0p-p1l3-45e6-aca6-a5b005693a48"
            ),
            Some("us-west-2")
        );
        assert_eq!(
            region_of("arn:aws-cn:kms:cn-north-1:1:alias/x"),
            Some("cn-north-1")
        );
        assert_eq!(
            region_of("arn:aws-us-gov:kms:us-gov-west-1:1:key/k"),
            Some("us-gov-west-1")
        );
        for bad in [
            "arn:aws:s3:us-west-2:1:key/k",
            "arn:aws:kms:us-west-2:acct:key/k",
            "arn:aws:kms:us-west-2:1:key/",
            "arn:aws:kms::1:key/k",
            "key/k",
        ] {
            assert_eq!(region_of(bad), None, "{bad}");
        }
    }
}
