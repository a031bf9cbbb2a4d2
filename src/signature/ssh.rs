//! SSH signatures of git objects (sshsig), checked in process: namespace `git`, sha256/512,
//! RSA only with SHA-2, the key looked up in the policy (plain keys or allowed_signers entries,
//! including `cert-authority` with OpenSSH certificates), windows judged at the object time
//! and, when known, the first-seen time; revoked keys refused.

use signature::Verifier;
use ssh_key::public::KeyData;
use ssh_key::{Algorithm, Certificate, HashAlg};

use super::allowed_signers::{AllowedSigner, match_pattern_list};
use super::sshsig::SshSig;
use super::{Good, Refusal, refuse};

/// SSH trust material of one policy signer.
pub struct SshTrust<'a> {
    /// Plain public keys (no windows, any namespace).
    pub keys: &'a [KeyData],
    /// allowed_signers entries.
    pub allowed: &'a [AllowedSigner],
    /// Revoked keys (also applies to CA keys and certificate keys).
    pub revoked: &'a [KeyData],
}

/// The refusal when an allowed_signers line restricts namespaces and `git` is not among them.
fn namespace_refusal(e: &AllowedSigner) -> Option<Refusal> {
    match &e.namespaces {
        Some(ns) if !match_pattern_list("git", ns) => Some(refuse(
            "wrong-namespace",
            format!(
                "allowed_signers line {} does not allow namespace 'git'",
                e.line
            ),
        )),
        _ => None,
    }
}

fn window_ok(e: &AllowedSigner, t: i64) -> bool {
    e.valid_after.is_none_or(|a| t >= a) && e.valid_before.is_none_or(|b| t < b)
}

/// Verifies an armored SSH signature over `payload`. `times` are the instants the key must be
/// valid at (object time, and first-seen time when known).
pub fn verify(
    armored: &[u8],
    payload: &[u8],
    signers: &[SshTrust<'_>],
    times: &[i64],
) -> Result<Good, Refusal> {
    let sig = SshSig::from_armor(armored).map_err(|e| refuse("bad-signature", e))?;
    if sig.namespace != "git" {
        return Err(refuse(
            "wrong-namespace",
            format!("signed for namespace '{}', not 'git'", sig.namespace),
        ));
    }
    let signed = sig
        .signed_data(payload)
        .map_err(|e| refuse("weak-hash", e))?;
    let signature = ssh_key::Signature::try_from(sig.signature.as_slice())
        .map_err(|e| refuse("bad-signature", format!("unreadable SSH signature: {e}")))?;
    if matches!(signature.algorithm(), Algorithm::Rsa { hash: None }) {
        return Err(refuse(
            "weak-hash",
            "ssh-rsa (SHA-1) signatures are refused; sign with rsa-sha2-512",
        ));
    }
    // The signing key: a plain key, or the key inside an OpenSSH certificate.
    let cert = Certificate::from_bytes(&sig.public_key).ok();
    let key = match &cert {
        Some(c) => c.public_key().clone(),
        None => ssh_key::PublicKey::from_bytes(&sig.public_key)
            .map_err(|e| refuse("bad-signature", format!("unreadable signing key: {e}")))?
            .key_data()
            .clone(),
    };
    key.verify(&signed, &signature).map_err(|_| {
        refuse(
            "bad-signature",
            "the signature does not match the object (content altered after signing?)",
        )
    })?;
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    let ca = cert.as_ref().map(|c| c.signature_key());
    if signers
        .iter()
        .flat_map(|s| s.revoked)
        .any(|r| r == &key || Some(r) == ca)
    {
        return Err(refuse(
            "revoked-key",
            format!("key {fingerprint} (or its CA) is in the revocation list"),
        ));
    }
    let mut last_refusal = None;
    let mut matches = Vec::new();
    'signers: for (i, s) in signers.iter().enumerate() {
        if cert.is_none() && s.keys.contains(&key) {
            matches.push((i, None));
            continue 'signers;
        }
        for e in s.allowed {
            match &cert {
                None if !e.cert_authority && e.key == key => {
                    if let Some(r) = namespace_refusal(e) {
                        last_refusal = Some(r);
                        continue;
                    }
                    if let Some(t) = times.iter().find(|t| !window_ok(e, **t)) {
                        let which = if *t == times[0] {
                            "the commit/tag time"
                        } else {
                            "the first-seen time"
                        };
                        last_refusal = Some(refuse(
                            "expired-key",
                            format!("allowed_signers line {}: key not valid at {which}", e.line),
                        ));
                        continue;
                    }
                    matches.push((i, e.principals.first().cloned()));
                    continue 'signers;
                }
                Some(c) if e.cert_authority && c.signature_key() == &e.key => {
                    if let Some(r) = namespace_refusal(e) {
                        last_refusal = Some(r);
                        continue;
                    }
                    if c.cert_type() != ssh_key::certificate::CertType::User {
                        last_refusal = Some(refuse(
                            "cert-invalid",
                            "host certificates cannot sign commits",
                        ));
                        continue;
                    }
                    let ca_fp = e.key.fingerprint(HashAlg::Sha256);
                    let bad_time = times.iter().find(|t| {
                        **t < 0
                            || !window_ok(e, **t)
                            || c.validate_at(**t as u64, [&ca_fp]).is_err()
                    });
                    if let Some(t) = bad_time {
                        let which = if *t == times[0] {
                            "the commit/tag time"
                        } else {
                            "the first-seen time"
                        };
                        let code = if c.validate_at(*t.max(&0) as u64, [&ca_fp]).is_err()
                            && c.verify_signature().is_ok()
                        {
                            "cert-expired"
                        } else {
                            "cert-invalid"
                        };
                        last_refusal = Some(refuse(
                            code,
                            format!("certificate not valid at {which} (line {})", e.line),
                        ));
                        continue;
                    }
                    let principal = c
                        .valid_principals()
                        .iter()
                        .find(|p| match_pattern_list(p, &e.principals));
                    match principal {
                        Some(p) => {
                            matches.push((i, Some(p.clone())));
                            continue 'signers;
                        }
                        None => {
                            last_refusal = Some(refuse(
                                "cert-principal-mismatch",
                                format!(
                                    "no certificate principal matches allowed_signers line {}",
                                    e.line
                                ),
                            ))
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if !matches.is_empty() {
        return Ok(Good {
            matches,
            fingerprint,
        });
    }
    Err(last_refusal.unwrap_or_else(|| match ca {
        Some(ca) => refuse(
            "untrusted-ca",
            format!(
                "signed by {fingerprint} with a certificate from CA {}, which no cert-authority line of the policy trusts",
                ca.fingerprint(HashAlg::Sha256)
            ),
        ),
        None => refuse(
            "untrusted-key",
            format!("signed by {fingerprint}, which no signer in the policy trusts"),
        ),
    }))
}
