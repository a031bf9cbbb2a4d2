//! gitsign (Sigstore keyless) signatures of git objects: a CMS signature ([`super::cms`]) by a
//! short-lived Fulcio certificate, whose proof of time is the Rekor entry gitsign stores in
//! the signer's unsigned attributes (OID 1.3.6.1.4.1.57264.3.1, a protobuf
//! `TransparencyLogEntry` without its body) and, optionally, an RFC 3161 timestamp token
//! (id-aa-timeStampToken). The logged body is recomputed as gitsign's verifier does (a
//! `hashedrekord` 0.0.1 of SHA-256 over the signed attributes, the signature and the PEM
//! certificate), so the log's SET or inclusion proof binds exactly this signature. Then the
//! same checks as for a keyless image or blob signature, against each policy signer's
//! `keyless` identity and trust root.
//!
//! gitsign's older online mode stores no entry in the signature: it logs the object id, signed
//! by the same key, and verification searches Rekor for that entry. sigil does so only for
//! signers whose `keyless` names a `rekorSearch` server (an explicit online step, cached);
//! otherwise such signatures are refused as `tlog-missing`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use const_oid::ObjectIdentifier;
use der::Decode;
use sha2::{Digest, Sha256};

use super::cms::CmsSignature;
use super::{Good, Refusal, refuse};
use crate::image::cert::{Certificate, identity};
use crate::image::tlog::TlogEntry;
use crate::image::verify::{Authority, Failure, Keyless, Trust, rank, verify_detached};

mod online;

/// gitsign's Rekor `TransparencyLogEntry` attribute.
pub const REKOR_ENTRY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.3.1");
/// RFC 3161 id-aa-timeStampToken.
const TIMESTAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");

/// Whether a CMS signer certificate is a Sigstore (Fulcio) one: it names an OIDC issuer.
pub fn is_keyless(leaf: &Certificate) -> bool {
    identity(leaf).is_ok_and(|id| id.issuer.is_some())
}

/// The `hashedrekord` 0.0.1 body gitsign logs for this signature (RFC 8785 canonical JSON:
/// sorted keys, no spaces; the values need no escaping).
fn logged_body(sig: &CmsSignature) -> Vec<u8> {
    let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, sig.leaf.der())
        .unwrap_or_default();
    format!(
        r#"{{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{}"}}}},"signature":{{"content":"{}","publicKey":{{"content":"{}"}}}}}}}}"#,
        hex::encode(Sha256::digest(&sig.signed_attributes)),
        B64.encode(&sig.signature),
        B64.encode(pem.as_bytes()),
    )
    .into_bytes()
}

/// The values of one unsigned attribute.
fn attribute<'a>(sig: &'a CmsSignature, oid: &ObjectIdentifier) -> &'a [Vec<u8>] {
    sig.unsigned
        .iter()
        .find(|(o, _)| o == oid)
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}

/// Verifies a gitsign signature of the object `object_id` against every policy signer with a
/// `keyless` identity.
pub fn verify(
    sig: &CmsSignature,
    signers: &[Option<&Keyless>],
    object_id: &str,
) -> Result<Good, Refusal> {
    let fingerprint = hex::encode(Sha256::digest(sig.leaf.der()));
    let entry = match attribute(sig, &REKOR_ENTRY) {
        [] => return online::verify(sig, signers, object_id, &fingerprint),
        [one] => {
            let pb = der::asn1::OctetStringRef::from_der(one)
                .map_err(|e| refuse("tlog-mismatch", format!("the Rekor entry attribute: {e}")))?;
            TlogEntry::from_protobuf(pb.as_bytes(), logged_body(sig))
                .map_err(|e| refuse("tlog-mismatch", format!("the Rekor entry attribute: {e}")))?
        }
        _ => {
            return Err(refuse(
                "tlog-mismatch",
                "more than one Rekor entry in the signature",
            ));
        }
    };
    let timestamps: Vec<Vec<u8>> = attribute(sig, &TIMESTAMP_TOKEN).to_vec();
    let mut matches = Vec::new();
    let mut furthest = Furthest::default();
    for (i, keyless) in signers.iter().enumerate() {
        let Some(k) = keyless else { continue };
        match verify_detached(
            &sig.signed_attributes,
            &sig.signature,
            &sig.leaf,
            &sig.others,
            vec![entry.clone()],
            timestamps.clone(),
            &authority(i, k),
        ) {
            Ok(p) => matches.push((i, subject(&p.identity))),
            Err(f) => furthest.failure(f),
        }
    }
    if matches.is_empty() {
        return Err(furthest.into_refusal(|| {
            refuse(
                "untrusted-key",
                format!(
                    "a gitsign signature by certificate {fingerprint}, and no signer in the policy has a keyless identity"
                ),
            )
        }));
    }
    Ok(Good {
        matches,
        fingerprint,
    })
}

/// Policy signer `i`'s keyless identity as an image authority.
fn authority(i: usize, keyless: &Keyless) -> Authority {
    Authority {
        name: format!("signers[{i}]"),
        trust: Trust::Keyless(Box::new(keyless.clone())),
    }
}

/// The subject of a passed check's `issuer subject` identity.
fn subject(identity: &str) -> Option<String> {
    identity.split_once(' ').map(|(_, s)| s.to_string())
}

/// The refusal that got furthest among several signers' checks (the image verifier's rank).
#[derive(Default)]
struct Furthest(Option<(u8, Refusal)>);

impl Furthest {
    fn note(&mut self, rank: u8, refusal: Refusal) {
        if self.0.as_ref().is_none_or(|(b, _)| rank > *b) {
            self.0 = Some((rank, refusal));
        }
    }

    fn failure(&mut self, f: Failure) {
        self.note(rank(f.reason), refuse(code(f.reason), f.detail));
    }

    fn into_refusal(self, otherwise: impl FnOnce() -> Refusal) -> Refusal {
        self.0.map(|(_, r)| r).unwrap_or_else(otherwise)
    }
}

/// Image verification's reason codes, as commit verdicts name them.
fn code(reason: &'static str) -> &'static str {
    match reason {
        "cert-untrusted" => "untrusted-ca",
        other => other,
    }
}
