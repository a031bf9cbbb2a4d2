//! gitsign's online mode: the signature carries no Rekor entry; gitsign logged a `hashedrekord`
//! of the object id (the commit's or tag's hex id as text), signed by the certificate's key.
//! For signers with `rekorSearch`, the entry is looked up (cache first, then the server), and
//! must verify as an embedded one would: SET by a trusted log, body naming this certificate
//! and this object id with a valid signature, integrated while the certificate was valid, and
//! the signer's issuer and subject. The CMS signature over the object is checked too.

use super::super::cms::CmsSignature;
use super::super::{Good, Refusal, refuse};
use super::{Furthest, authority, subject};
use crate::image::tlog::search::{Found, Search, data_key};
use crate::image::verify::{Keyless, verify_detached};

/// Verifies an online-mode gitsign signature of `object_id`.
pub(super) fn verify(
    sig: &CmsSignature,
    signers: &[Option<&Keyless>],
    object_id: &str,
    fingerprint: &str,
) -> Result<Good, Refusal> {
    let searchable: Vec<(usize, &Keyless, &str)> = signers
        .iter()
        .enumerate()
        .filter_map(|(i, k)| k.and_then(|k| k.rekor_search.as_deref().map(|u| (i, k, u))))
        .collect();
    if searchable.is_empty() {
        return Err(refuse(
            "tlog-missing",
            "a gitsign signature without its Rekor entry (gitsign's online mode): its entry must be searched for in Rekor; allow that with the signer's keyless.rekorSearch, or sign with gitsign's default offline mode",
        ));
    }
    let key = sig
        .leaf
        .public_key()
        .map_err(|e| refuse("bad-signature", format!("the signing certificate: {e}")))?;
    key.verify(&sig.signed_attributes, &sig.signature)
        .map_err(|_| refuse("bad-signature", "the CMS signature does not verify"))?;
    let data = data_key(object_id.as_bytes());
    let mut matches = Vec::new();
    let mut furthest = Furthest::default();
    for (i, keyless, url) in searchable {
        let search = Search::new(url);
        let authority = authority(i, keyless);
        let mut judge = |found: &Found| -> Option<String> {
            let Some(entry_sig) = logged_signature(&found.entry.canonicalized_body) else {
                let why = "the log entry is not a hashedrekord with a signature";
                furthest.note(0, refuse("tlog-mismatch", why));
                return None;
            };
            verify_detached(
                object_id.as_bytes(),
                &entry_sig,
                &sig.leaf,
                &sig.others,
                vec![found.entry.clone()],
                Vec::new(),
                &authority,
            )
            .map(|p| p.identity)
            .map_err(|f| furthest.failure(f))
            .ok()
        };
        // The cache first; then the log, whose entry is remembered once it verified.
        let mut identity = search.cached(&data).iter().find_map(&mut judge);
        if identity.is_none() {
            identity = match search.online(&data) {
                Err(e) => {
                    furthest.note(0, refuse("tlog-missing", e));
                    None
                }
                Ok(candidates) if candidates.is_empty() => {
                    let why = format!("Rekor at {url} has no entry for object {object_id}");
                    furthest.note(0, refuse("tlog-missing", why));
                    None
                }
                Ok(candidates) => candidates.iter().find_map(|found| {
                    let id = judge(found)?;
                    search.remember(&data, found);
                    Some(id)
                }),
            };
        }
        if let Some(identity) = identity {
            matches.push((i, subject(&identity)));
        }
    }
    if matches.is_empty() {
        return Err(furthest.into_refusal(|| refuse("tlog-missing", "no log entry found")));
    }
    Ok(Good {
        matches,
        fingerprint: fingerprint.to_string(),
    })
}

/// The signature a `hashedrekord` body logs (base64 in `spec.signature.content`).
fn logged_signature(body: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let b64 = v.pointer("/spec/signature/content")?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}
