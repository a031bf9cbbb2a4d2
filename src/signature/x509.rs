//! X.509 signatures of git objects as gpgsm writes them (`gpg.format=x509`), once [`super::cms`]
//! has checked the CMS signature over the object: the signer's certificate chains to a CA
//! bundle of the policy at the object time (and the first-seen time), and names an email the
//! signer is allowed.

use sha2::{Digest, Sha256};

use super::cms::CmsSignature;
use super::{Good, Refusal, refuse};
use crate::image::cert::{CertError, San, identity, verify_path};
use crate::image::trust_root::CertificateAuthority;

/// X.509 trust of one policy signer.
pub struct X509Trust<'a> {
    /// CA certificates (each one an anchor).
    pub roots: &'a [CertificateAuthority],
    /// Allowed certificate emails (`*` globs); empty: any.
    pub emails: &'a [String],
}

/// Verifies a gpgsm signature (already read and checked over the object by [`cms::read`]);
/// `times` are the instants the certificate path must be valid at (object time, and
/// first-seen time when known).
pub fn verify(
    sig: &CmsSignature,
    signers: &[X509Trust<'_>],
    times: &[i64],
) -> Result<Good, Refusal> {
    let leaf = &sig.leaf;
    let fingerprint = hex::encode(Sha256::digest(leaf.der()));
    let emails: Vec<String> = identity(leaf)
        .map(|id| {
            id.sans
                .into_iter()
                .filter_map(|s| match s {
                    San::Email(e) => Some(e.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let others = &sig.others;
    let mut matches = Vec::new();
    let mut last = None;
    for (i, s) in signers.iter().enumerate() {
        if s.roots.is_empty() {
            continue;
        }
        let path_ok = times.iter().try_for_each(|t| {
            verify_path(leaf, others, s.roots, *t)
                .map(|_| ())
                .map_err(|e| (t, e))
        });
        if let Err((t, e)) = path_ok {
            let which = if *t == times[0] {
                "the commit/tag time"
            } else {
                "the first-seen time"
            };
            let code = if matches!(e, CertError::NotValidAt { .. }) {
                "cert-expired"
            } else {
                "untrusted-ca"
            };
            last = Some(refuse(code, format!("certificate path at {which}: {e}")));
            continue;
        }
        let matched = if s.emails.is_empty() {
            Some(emails.first().cloned())
        } else {
            emails
                .iter()
                .find(|e| {
                    s.emails.iter().any(|p| {
                        glob::Pattern::new(&p.to_ascii_lowercase()).is_ok_and(|g| g.matches(e))
                    })
                })
                .map(|e| Some(e.clone()))
        };
        match matched {
            Some(e) => matches.push((i, e)),
            None => {
                last = Some(refuse(
                    "cert-principal-mismatch",
                    format!("the certificate names {emails:?}, which this signer does not allow"),
                ))
            }
        }
    }
    if matches.is_empty() {
        return Err(last.unwrap_or_else(|| {
            refuse(
                "untrusted-key",
                format!(
                    "signed by certificate {fingerprint}, which no signer in the policy trusts"
                ),
            )
        }));
    }
    Ok(Good {
        matches,
        fingerprint,
    })
}
