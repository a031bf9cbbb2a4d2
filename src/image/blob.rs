//! Verification of any artifact (a file, or just its SHA-256 digest) against a sigstore bundle,
//! as `cosign verify-blob` and every Sigstore client do: a message signature over the
//! artifact's digest, or a DSSE envelope whose in-toto statement names the artifact as a
//! subject. The checks are image verification's own ([`super::verify`]); only the claims differ.

use std::io::Read;

use sha2::{Digest, Sha256};

use super::bundle::{Bundle, Content};
use super::verify::{
    Authority, Failure, Material, Passed, Signed, check_all, fail, in_toto_statement, pae,
};

/// The artifact a bundle must be about: its SHA-256 digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifact {
    sha256: [u8; 32],
}

impl Artifact {
    /// The artifact whose digest is `sha256:<64 lowercase or uppercase hex>`; `None` for
    /// anything else.
    pub fn from_digest(text: &str) -> Option<Artifact> {
        let hex = text.strip_prefix("sha256:")?;
        if hex.len() != 64 {
            return None;
        }
        let bytes = hex::decode(hex).ok()?;
        Some(Artifact {
            sha256: bytes.try_into().ok()?,
        })
    }

    /// The artifact read from `r` (hashed as it streams).
    pub fn from_reader(mut r: impl Read) -> std::io::Result<Artifact> {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Artifact {
            sha256: h.finalize().into(),
        })
    }

    /// The SHA-256 digest.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// `sha256:<hex>`.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.sha256))
    }
}

/// Verifies `bundle_json` for `artifact` against any of `authorities`.
pub fn verify_blob(
    bundle_json: &[u8],
    artifact: &Artifact,
    authorities: &[Authority],
) -> Result<Passed, Failure> {
    let b = Bundle::parse(bundle_json).map_err(|e| fail(e.reason, e.detail))?;
    match &b.content {
        Content::Message { digest_hint, .. } => {
            let hint = *digest_hint;
            let claims = || match hint {
                Some(d) if d != artifact.sha256 => Err(fail(
                    "digest-mismatch",
                    format!(
                        "the bundle's message digest is sha256:{}, the artifact is {}",
                        hex::encode(d),
                        artifact.digest()
                    ),
                )),
                _ => Ok(()),
            };
            let m = Material::of_bundle(
                &b,
                Signed::Sha256(artifact.sha256),
                artifact.sha256,
                &claims,
            );
            check_all(&m, authorities)
        }
        Content::Dsse {
            payload_type,
            payload,
            ..
        } => {
            if payload_type != "application/vnd.in-toto+json" {
                return Err(fail(
                    "wrong-type",
                    format!("DSSE payload type {payload_type:?} is not an in-toto statement"),
                ));
            }
            let claims = || statement_names(payload, artifact);
            let m = Material::of_bundle(
                &b,
                Signed::Bytes(pae(payload_type, payload)),
                Sha256::digest(payload).into(),
                &claims,
            );
            check_all(&m, authorities)
        }
    }
}

/// An in-toto statement (v0.1 or v1) one of whose subjects has the artifact's SHA-256.
fn statement_names(payload: &[u8], artifact: &Artifact) -> Result<(), Failure> {
    let v = in_toto_statement(payload)?;
    let want = hex::encode(artifact.sha256);
    let subjects = v
        .get("subject")
        .and_then(|s| s.as_array())
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let named = subjects.iter().any(|s| {
        s.pointer("/digest/sha256")
            .and_then(|d| d.as_str())
            .is_some_and(|d| d.eq_ignore_ascii_case(&want))
    });
    if named {
        Ok(())
    } else {
        Err(fail(
            "digest-mismatch",
            format!(
                "no subject of the in-toto statement has the artifact's digest {}",
                artifact.digest()
            ),
        ))
    }
}
