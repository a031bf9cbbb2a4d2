//! Rekor transparency-log entries, verified offline: the signed entry timestamp (SET, the
//! log's "inclusion promise"), the RFC 9162 inclusion proof with its signed checkpoint, and
//! the binding of the logged entry body to the signature being verified.
//!
//! Entries come from a legacy cosign `dev.sigstore.cosign/bundle` annotation or from a
//! sigstore bundle's `verificationMaterial.tlogEntries[]`. Only Rekor v1 entries are
//! supported (Rekor v2 entries have no integrated time and a different body format).
//!
//! A verified entry proves that *some* body is in the log; [`check_body`] (or
//! [`verify_entry_for`], which runs both) proves that this body describes *this* signature.
//! Both are needed: a valid SET for another entry proves nothing.

mod body;
mod checkpoint;
mod entry;
#[cfg(test)]
mod fixtures;
mod merkle;
mod protobuf;
pub mod search;

pub use body::{Expected, check_body};
pub use checkpoint::Checkpoint;
pub use entry::{InclusionProof, TlogEntry};

use super::pubkey::PublicKey;
use super::trust_root::{TrustRoot, TrustedKey};
use body::parse_body;
use checkpoint::verify_checkpoint;
use merkle::verify_inclusion;

/// Largest canonicalized entry body accepted (Rekor's own limit is lower).
const MAX_BODY: usize = 4 << 20;
/// Largest legacy bundle annotation accepted (base64 body plus a little JSON).
const MAX_ANNOTATION: usize = MAX_BODY / 3 * 4 + (64 << 10);
/// Most inclusion-proof hashes accepted (a tree of 2^64 leaves needs 64).
const MAX_PROOF_HASHES: usize = 64;
/// Largest checkpoint (signed note) accepted.
const MAX_CHECKPOINT: usize = 64 << 10;

/// Why a transparency-log entry was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlogError {
    /// The entry (annotation, bundle entry or body) cannot be parsed.
    #[error("malformed transparency-log entry: {0}")]
    Malformed(String),
    /// No trusted Rekor key has the entry's log id.
    #[error("the entry's log {0} is not a trusted Rekor log")]
    UnknownLog(String),
    /// The log is known, but none of its keys is valid at the entry's integrated time.
    #[error("no key of Rekor log {log} is valid at {time} (unix seconds)")]
    KeyNotValidAtTime {
        /// The log id (hex).
        log: String,
        /// The integrated time the entry claims.
        time: i64,
    },
    /// The signed entry timestamp does not verify.
    #[error("signed entry timestamp does not verify: {0}")]
    BadSet(String),
    /// The inclusion proof does not lead to its root hash.
    #[error("inclusion proof does not verify: {0}")]
    BadInclusionProof(String),
    /// The checkpoint is malformed, not signed by the log, or about another tree.
    #[error("checkpoint does not verify: {0}")]
    BadCheckpoint(String),
    /// The logged entry describes another signature, payload or key.
    #[error("transparency-log entry is about another {what}")]
    BodyMismatch {
        /// What differs (e.g. `signature`, `payload hash`, `public key`).
        what: &'static str,
    },
    /// The entry kind or version is not one this verifier understands.
    #[error("unsupported transparency-log entry kind {0}")]
    UnsupportedKind(String),
    /// The policy asked for a proof that the entry does not carry.
    #[error("missing transparency-log proof: {0}")]
    NoProof(&'static str),
}

fn malformed(why: impl Into<String>) -> TlogError {
    TlogError::Malformed(why.into())
}

/// Which log proofs a verification requires. Whatever the requirement, every proof the
/// entry carries must verify; a present but bad proof is never ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlogRequirement {
    /// At least one of the SET and the inclusion proof (with checkpoint).
    #[default]
    Either,
    /// The SET (the only source of a trusted integrated time).
    Set,
    /// The inclusion proof with its signed checkpoint.
    Proof,
    /// Both.
    Both,
}

/// An entry whose log proofs verified under a trusted Rekor key. Only [`verify_entry`] makes
/// these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    integrated_time: Option<i64>,
    log_index: i64,
    log_id: [u8; 32],
    set_verified: bool,
    proof_verified: bool,
}

impl VerifiedEntry {
    /// The integrated time (unix seconds), vouched for by the log — `Some` only when the SET
    /// verified. An inclusion proof alone does not cover the time, so without a SET the
    /// signing time must come from elsewhere (e.g. an RFC 3161 timestamp).
    pub fn integrated_time(&self) -> Option<i64> {
        self.integrated_time
    }

    /// The entry's global log index (signed by the SET; with only an inclusion proof it is
    /// the entry's claim, and the proof's own index is per shard).
    pub fn log_index(&self) -> i64 {
        self.log_index
    }

    /// The id of the Rekor log (SHA-256 of its key's SPKI) whose key verified the entry.
    pub fn log_id(&self) -> &[u8; 32] {
        &self.log_id
    }

    /// Whether a SET was present and verified.
    pub fn set_verified(&self) -> bool {
        self.set_verified
    }

    /// Whether an inclusion proof and its checkpoint were present and verified.
    pub fn proof_verified(&self) -> bool {
        self.proof_verified
    }
}

/// Verifies an entry's log proofs against the trusted Rekor keys:
///
/// 1. the key is found by log id among `root.tlogs`, valid at the entry's integrated time;
/// 2. the SET, if present, must verify (ECDSA over the canonical JSON of body, integrated
///    time, log id and global log index);
/// 3. the inclusion proof, if present, must lead from SHA-256(0x00 ‖ body) to its root hash
///    (RFC 9162 §2.1.3.2), and its checkpoint must name the same tree size and root and carry
///    a signature by the same key (key hint = first 4 bytes of the log id);
/// 4. `policy` decides which proofs must be present;
/// 5. a `kind_version`, if given, must agree with the body.
///
/// This does **not** bind the body to a signature: call [`check_body`] too, or use
/// [`verify_entry_for`].
pub fn verify_entry(
    entry: &TlogEntry,
    root: &TrustRoot,
    policy: TlogRequirement,
) -> Result<VerifiedEntry, TlogError> {
    verify_entry_at(entry, root, policy, None)
}

/// [`verify_entry`], with the time at which the log key must be valid when the entry has no
/// SET (a Rekor v2 entry: `integratedTime` is 0, and only an inclusion proof): the trusted
/// time of an RFC 3161 timestamp. With no SET and no such time, the key's validity window is
/// not checked (as sigstore-go does); such an entry yields no signing time anyway.
pub fn verify_entry_at(
    entry: &TlogEntry,
    root: &TrustRoot,
    policy: TlogRequirement,
    unsigned_entry_time: Option<i64>,
) -> Result<VerifiedEntry, TlogError> {
    if entry.canonicalized_body.is_empty() || entry.canonicalized_body.len() > MAX_BODY {
        return Err(malformed("entry body is empty or too large"));
    }
    if entry.log_index < 0 || entry.integrated_time < 0 {
        return Err(malformed("negative log index or integrated time"));
    }
    let log_hex = hex::encode(&entry.log_id);
    if !root
        .tlogs
        .iter()
        .any(|k| k.log_id.as_slice() == entry.log_id)
    {
        return Err(TlogError::UnknownLog(log_hex));
    }
    // Normally one key per log id; should a trust root list several, any may vouch.
    let mut first_err = None;
    let mut found = None;
    for key in root.tlogs.iter().filter(|k| {
        k.log_id.as_slice() == entry.log_id
            && match (&entry.signed_entry_timestamp, unsigned_entry_time) {
                (Some(_), _) => k.valid_at(entry.integrated_time),
                (None, Some(t)) => k.valid_at(t),
                (None, None) => true,
            }
    }) {
        match proofs_with_key(entry, key) {
            Ok(result) => {
                found = Some((key, result));
                break;
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let Some((key, (set_verified, proof_verified))) = found else {
        return Err(first_err.unwrap_or(TlogError::KeyNotValidAtTime {
            log: log_hex,
            time: entry.integrated_time,
        }));
    };
    match policy {
        TlogRequirement::Either if !set_verified && !proof_verified => {
            return Err(TlogError::NoProof(
                "neither a signed entry timestamp nor an inclusion proof",
            ));
        }
        TlogRequirement::Set | TlogRequirement::Both if !set_verified => {
            return Err(TlogError::NoProof("no signed entry timestamp"));
        }
        TlogRequirement::Proof | TlogRequirement::Both if !proof_verified => {
            return Err(TlogError::NoProof("no inclusion proof"));
        }
        _ => {}
    }
    if let Some((kind, version)) = &entry.kind_version {
        let body = parse_body(&entry.canonicalized_body)?;
        if &body.kind != kind || &body.api_version != version {
            return Err(malformed(format!(
                "kindVersion {kind}/{version} differs from the body's {}/{}",
                body.kind, body.api_version
            )));
        }
    }
    Ok(VerifiedEntry {
        integrated_time: set_verified.then_some(entry.integrated_time),
        log_index: entry.log_index,
        log_id: key.log_id,
        set_verified,
        proof_verified,
    })
}

/// Checks the SET and the inclusion proof that are present with one key: which verified.
fn proofs_with_key(entry: &TlogEntry, key: &TrustedKey) -> Result<(bool, bool), TlogError> {
    let set_verified = match &entry.signed_entry_timestamp {
        Some(set) => {
            verify_set(entry, set, &key.key)?;
            true
        }
        None => false,
    };
    let proof_verified = match &entry.inclusion_proof {
        Some(proof) => {
            let root_hash = verify_inclusion(&entry.canonicalized_body, proof)?;
            verify_checkpoint(proof, &root_hash, key)?;
            true
        }
        None => false,
    };
    Ok((set_verified, proof_verified))
}

/// [`check_body`] then [`verify_entry`]: the entry is in the log *and* is about this signature.
pub fn verify_entry_for(
    entry: &TlogEntry,
    root: &TrustRoot,
    policy: TlogRequirement,
    expect: &Expected<'_>,
) -> Result<VerifiedEntry, TlogError> {
    check_body(&entry.canonicalized_body, expect)?;
    verify_entry(entry, root, policy)
}

fn verify_set(entry: &TlogEntry, set: &[u8], key: &PublicKey) -> Result<(), TlogError> {
    if !matches!(key, PublicKey::P256(_) | PublicKey::P384(_)) {
        return Err(TlogError::BadSet(format!(
            "the log key is {}, not ECDSA",
            key.kind()
        )));
    }
    key.verify(&entry.set_message(), set)
        .map_err(|_| TlogError::BadSet("signature does not verify with the log key".into()))
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;

    const EITHER: TlogRequirement = TlogRequirement::Either;

    #[test]
    fn legacy_key_signature_with_set() {
        let sig = legacy("dir-img-cosign-key-rekor-valid");
        let entry = sig.entry();
        assert_eq!(entry.log_index, 11608800);
        assert_eq!(entry.integrated_time, 1674251859);
        let root = rekor_root();
        let v = verify_entry(&entry, &root, EITHER).unwrap();
        assert_eq!(v.integrated_time(), Some(1674251859));
        assert_eq!(v.log_index(), 11608800);
        assert_eq!(
            hex::encode(v.log_id()),
            "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
        );
        assert!(v.set_verified() && !v.proof_verified());
        assert!(verify_entry(&entry, &root, TlogRequirement::Set).is_ok());
        assert_eq!(
            verify_entry(&entry, &root, TlogRequirement::Proof),
            Err(TlogError::NoProof("no inclusion proof"))
        );
        assert!(matches!(
            verify_entry(&entry, &root, TlogRequirement::Both),
            Err(TlogError::NoProof(_))
        ));

        // The body is about this payload, signature and key, in PEM or DER form.
        let key_pem = read("containers-image/signature/fixtures/cosign2.pub");
        let expect = Expected::HashedRekord {
            payload_sha256: sha256(&sig.payload),
            signature: &sig.signature,
            verifier_pem_or_der: &key_pem,
        };
        check_body(&entry.canonicalized_body, &expect).unwrap();
        verify_entry_for(&entry, &root, EITHER, &expect).unwrap();
        let key_der = pem_to_der(std::str::from_utf8(&key_pem).unwrap());
        let expect_der = Expected::HashedRekord {
            payload_sha256: sha256(&sig.payload),
            signature: &sig.signature,
            verifier_pem_or_der: &key_der,
        };
        check_body(&entry.canonicalized_body, &expect_der).unwrap();
    }

    #[test]
    fn legacy_set_with_the_wrong_rekor_key() {
        let entry = legacy("dir-img-cosign-key-rekor-valid").entry();
        // cosign.pub configured as the Rekor key: its log id is another one.
        let cosign = read_str("containers-image/signature/fixtures/cosign.pub");
        let root = TrustRoot::from_pem(None, &[&cosign], &[]).unwrap();
        assert!(matches!(
            verify_entry(&entry, &root, EITHER),
            Err(TlogError::UnknownLog(_))
        ));
        // Another key under the right log id: the SET must not verify.
        let mut root = rekor_root();
        root.tlogs[0].key = PublicKey::from_pem(&cosign).unwrap();
        assert!(matches!(
            verify_entry(&entry, &root, EITHER),
            Err(TlogError::BadSet(_))
        ));
        // A wrong key listed first under the same id does not hide the right one.
        let mut both = rekor_root();
        let right = both.tlogs[0].clone();
        both.tlogs[0].key = PublicKey::from_pem(&cosign).unwrap();
        both.tlogs.push(right);
        assert!(verify_entry(&entry, &both, EITHER).is_ok());
        // No Rekor key at all.
        assert!(matches!(
            verify_entry(&entry, &TrustRoot::default(), EITHER),
            Err(TlogError::UnknownLog(_))
        ));
        // The key exists but not at that time.
        let mut root = rekor_root();
        root.tlogs[0].valid_to = Some(entry.integrated_time - 1);
        assert!(matches!(
            verify_entry(&entry, &root, EITHER),
            Err(TlogError::KeyNotValidAtTime { .. })
        ));
        root.tlogs[0].valid_to = Some(entry.integrated_time);
        assert!(
            verify_entry(&entry, &root, EITHER).is_ok(),
            "validity bounds are inclusive"
        );
    }

    #[test]
    fn legacy_set_fields_are_all_signed() {
        let root = rekor_root();
        let good = legacy("dir-img-cosign-key-rekor-valid").entry();
        let mut e = good.clone();
        e.integrated_time += 1;
        assert!(matches!(
            verify_entry(&e, &root, EITHER),
            Err(TlogError::BadSet(_))
        ));
        let mut e = good.clone();
        e.log_index += 1;
        assert!(matches!(
            verify_entry(&e, &root, EITHER),
            Err(TlogError::BadSet(_))
        ));
        let mut e = good.clone();
        e.canonicalized_body.push(b' ');
        assert!(matches!(
            verify_entry(&e, &root, EITHER),
            Err(TlogError::BadSet(_))
        ));
        let mut e = good.clone();
        e.signed_entry_timestamp = Some(b"not a signature".to_vec());
        assert!(matches!(
            verify_entry(&e, &root, EITHER),
            Err(TlogError::BadSet(_))
        ));
        let mut e = good;
        e.signed_entry_timestamp = None;
        assert!(matches!(
            verify_entry(&e, &root, EITHER),
            Err(TlogError::NoProof(_))
        ));
    }

    #[test]
    fn grafted_set_is_about_another_signature() {
        // The SET of key-rekor-valid attached to dir-img-cosign-valid's signature.
        let donor = legacy("dir-img-cosign-key-rekor-valid");
        let victim = legacy("dir-img-cosign-valid");
        let entry = donor.entry();
        let root = rekor_root();
        assert!(
            verify_entry(&entry, &root, EITHER).is_ok(),
            "the SET itself is genuine"
        );
        let cosign = read("containers-image/signature/fixtures/cosign.pub");
        let cosign2 = read("containers-image/signature/fixtures/cosign2.pub");
        let expect = Expected::HashedRekord {
            payload_sha256: sha256(&victim.payload),
            signature: &victim.signature,
            verifier_pem_or_der: &cosign,
        };
        assert_eq!(
            check_body(&entry.canonicalized_body, &expect),
            Err(TlogError::BodyMismatch {
                what: "payload hash"
            })
        );
        assert!(matches!(
            verify_entry_for(&entry, &root, EITHER, &expect),
            Err(TlogError::BodyMismatch { .. })
        ));
        // Each field on its own.
        let only = |payload: &[u8], signature: &[u8], key: &[u8]| {
            check_body(
                &entry.canonicalized_body,
                &Expected::HashedRekord {
                    payload_sha256: sha256(payload),
                    signature,
                    verifier_pem_or_der: key,
                },
            )
        };
        assert_eq!(
            only(&donor.payload, &victim.signature, &cosign2),
            Err(TlogError::BodyMismatch { what: "signature" })
        );
        assert_eq!(
            only(&donor.payload, &donor.signature, &cosign),
            Err(TlogError::BodyMismatch {
                what: "public key or certificate"
            })
        );
        assert_eq!(only(&donor.payload, &donor.signature, &cosign2), Ok(()));
        // The right entry, asked about as another kind.
        let dsse = Expected::Dsse {
            payload_sha256: sha256(&donor.payload),
            pae: &[],
            signature: &donor.signature,
            verifier: &cosign2,
        };
        assert_eq!(
            check_body(&entry.canonicalized_body, &dsse),
            Err(TlogError::BodyMismatch { what: "entry kind" })
        );
    }

    #[test]
    fn legacy_keyless_signature_with_set() {
        let sig = legacy("dir-img-cosign-fulcio-rekor-valid");
        let entry = sig.entry();
        let v = verify_entry(&entry, &rekor_root(), EITHER).unwrap();
        assert_eq!(v.integrated_time(), Some(1674247893));
        assert_eq!(v.log_index(), 11605770);
        let cert_pem = sig.annotations["dev.sigstore.cosign/certificate"]
            .as_str()
            .unwrap();
        let payload_sha256 = sha256(&sig.payload);
        let check = |signature: &[u8], verifier: &[u8]| {
            check_body(
                &entry.canonicalized_body,
                &Expected::HashedRekord {
                    payload_sha256,
                    signature,
                    verifier_pem_or_der: verifier,
                },
            )
        };
        check(&sig.signature, cert_pem.as_bytes()).unwrap();
        check(&sig.signature, &pem_to_der(cert_pem)).unwrap();
        // PEM with CRLF line ends and extra text around it is the same certificate.
        let crlf = format!("leading text\r\n{}\r\n", cert_pem.replace('\n', "\r\n"));
        check(&sig.signature, crlf.as_bytes()).unwrap();
        // A certificate followed by another block is not "the" certificate.
        let two = format!("{cert_pem}{cert_pem}");
        assert!(check(&sig.signature, two.as_bytes()).is_err());
        let cosign = read("containers-image/signature/fixtures/cosign.pub");
        assert!(matches!(
            check(&sig.signature, &cosign),
            Err(TlogError::BodyMismatch { .. })
        ));
        let short = &sig.signature[..sig.signature.len() - 1];
        assert_eq!(
            check(short, cert_pem.as_bytes()),
            Err(TlogError::BodyMismatch { what: "signature" })
        );
    }

    #[test]
    fn containers_image_rekor_set_unit_vector() {
        let dir = "containers-image/signature/internal/testdata";
        let entry =
            TlogEntry::from_legacy_annotation(&read_str(&format!("{dir}/rekor-set"))).unwrap();
        let v = verify_entry(&entry, &rekor_root(), EITHER).unwrap();
        assert_eq!(v.integrated_time(), Some(1670870899));
        assert_eq!(v.log_index(), 8949589);
        let payload = read(&format!("{dir}/rekor-payload"));
        assert_eq!(
            hex::encode(sha256(&payload)),
            "0fd1e9832cc5a5f502e800fe9cdeefbd31362df16fe8c2250d308aea3fb1fc69"
        );
        let signature = B64
            .decode(read_str(&format!("{dir}/rekor-sig")).trim())
            .unwrap();
        let cert = read(&format!("{dir}/rekor-cert"));
        let expect = |p: &[u8]| Expected::HashedRekord {
            payload_sha256: sha256(p),
            signature: &signature,
            verifier_pem_or_der: &cert,
        };
        verify_entry_for(&entry, &rekor_root(), EITHER, &expect(&payload)).unwrap();
        assert!(matches!(
            check_body(
                &entry.canonicalized_body,
                &expect(b"this payload does not match")
            ),
            Err(TlogError::BodyMismatch {
                what: "payload hash"
            })
        ));
    }

    #[test]
    fn bundle_entry_with_set_proof_and_checkpoint() {
        let b = bundle(V03);
        let entry = b.entry();
        assert_eq!(entry.log_index, 1261105807);
        assert_eq!(entry.kind_version, Some(("dsse".into(), "0.0.1".into())));
        let proof = entry.inclusion_proof.as_ref().unwrap();
        assert_eq!(
            (proof.log_index, proof.tree_size, proof.hashes.len()),
            (1139201545, 1139201557, 18)
        );
        let root = prod_root();
        for policy in [
            TlogRequirement::Either,
            TlogRequirement::Set,
            TlogRequirement::Proof,
            TlogRequirement::Both,
        ] {
            let v = verify_entry_for(&entry, &root, policy, &b.expect()).unwrap();
            assert_eq!(v.integrated_time(), Some(1775719409));
            assert!(v.set_verified() && v.proof_verified());
        }
        // The proof alone (no SET) verifies, but then the time is not vouched for.
        let mut e = entry.clone();
        e.signed_entry_timestamp = None;
        e.integrated_time += 1000;
        let v = verify_entry(&e, &root, EITHER).unwrap();
        assert!(v.proof_verified() && !v.set_verified());
        assert_eq!(v.integrated_time(), None);
        assert!(matches!(
            verify_entry(&e, &root, TlogRequirement::Set),
            Err(TlogError::NoProof(_))
        ));
        // The SET alone.
        let mut e = entry.clone();
        e.inclusion_proof = None;
        assert!(verify_entry(&e, &root, TlogRequirement::Set).is_ok());
        assert!(matches!(
            verify_entry(&e, &root, TlogRequirement::Proof),
            Err(TlogError::NoProof(_))
        ));
        e.signed_entry_timestamp = None;
        assert!(matches!(
            verify_entry(&e, &root, EITHER),
            Err(TlogError::NoProof(_))
        ));
    }

    #[test]
    fn bundle_entry_tampering_is_caught() {
        let b = bundle(V03);
        let good = b.entry();
        let root = prod_root();
        let check = |e: &TlogEntry| verify_entry(e, &root, EITHER);
        let with_proof = |f: &dyn Fn(&mut InclusionProof)| {
            let mut e = good.clone();
            f(e.inclusion_proof.as_mut().unwrap());
            e
        };
        let is_proof_err =
            |r: Result<VerifiedEntry, TlogError>| matches!(r, Err(TlogError::BadInclusionProof(_)));

        assert!(is_proof_err(check(&with_proof(&|p| p.hashes[3][7] ^= 1))));
        // A path can fit a bigger tree too (the last leaf of 1139201557 is not a right child
        // at every level); then the signed checkpoint's size catches it.
        assert!(matches!(
            check(&with_proof(&|p| p.tree_size += 1)),
            Err(TlogError::BadCheckpoint(_))
        ));
        assert!(matches!(
            check(&with_proof(&|p| p.tree_size -= 1)),
            Err(TlogError::BadCheckpoint(_))
        ));
        assert!(is_proof_err(check(&with_proof(
            &|p| p.tree_size = p.log_index
        ))));
        assert!(is_proof_err(check(&with_proof(&|p| p.log_index += 1))));
        assert!(is_proof_err(check(&with_proof(
            &|p| p.log_index = p.tree_size
        ))));
        assert!(is_proof_err(check(&with_proof(&|p| p.root_hash[0] ^= 1))));
        assert!(is_proof_err(check(&with_proof(&|p| {
            p.hashes.pop();
        }))));
        assert!(is_proof_err(check(&with_proof(&|p| p
            .hashes
            .push(vec![0; 32])))));
        assert!(is_proof_err(check(&with_proof(&|p| p.hashes[0].push(0)))));

        // Checkpoint: any change to the signed note or the signature; a note for another tree.
        let cp = &good.inclusion_proof.as_ref().unwrap().checkpoint;
        let is_cp_err =
            |r: Result<VerifiedEntry, TlogError>| matches!(r, Err(TlogError::BadCheckpoint(_)));
        // (The signer name on the signature line is not signed, so it is not checked.)
        let note_len = cp.find("\n\n").unwrap();
        let sig_start = cp.rfind(' ').unwrap() + 1;
        for (i, _) in cp
            .char_indices()
            .filter(|(i, _)| *i < note_len || *i >= sig_start)
        {
            let mut bytes = cp.clone().into_bytes();
            let new = if bytes[i] == b'A' { b'B' } else { b'A' };
            if bytes[i] >= 0x80 || bytes[i] == b'\n' || bytes[i] == b' ' {
                continue;
            }
            bytes[i] = new;
            let text = String::from_utf8(bytes).unwrap();
            assert!(
                is_cp_err(check(&with_proof(&|p| p.checkpoint = text.clone()))),
                "byte {i} of the checkpoint"
            );
        }
        for end in 0..cp.len() - 1 {
            if cp.is_char_boundary(end) {
                let text = cp[..end].to_string();
                assert!(
                    is_cp_err(check(&with_proof(&|p| p.checkpoint = text.clone()))),
                    "checkpoint cut at {end}"
                );
            }
        }
        let other_size = cp.replacen("\n1139201557\n", "\n1139201558\n", 1);
        assert!(is_cp_err(check(&with_proof(
            &|p| p.checkpoint = other_size.clone()
        ))));
        let extra_line = cp.replacen("\n\n", "\nextra line\n\n", 1);
        assert!(
            is_cp_err(check(&with_proof(&|p| p.checkpoint = extra_line.clone()))),
            "extra lines are signed"
        );

        // The SET covers the global index, time and body.
        let mut e = good.clone();
        e.integrated_time += 1;
        assert!(matches!(check(&e), Err(TlogError::BadSet(_))));
        let mut e = good.clone();
        e.log_index = e.inclusion_proof.as_ref().unwrap().log_index;
        assert!(
            matches!(check(&e), Err(TlogError::BadSet(_))),
            "SET signs the global index"
        );
        // A changed body fails the SET and, without it, the proof.
        let mut e = good.clone();
        e.canonicalized_body[10] ^= 1;
        assert!(matches!(check(&e), Err(TlogError::BadSet(_))));
        e.signed_entry_timestamp = None;
        assert!(is_proof_err(check(&e)));
        // The log key before its validity window.
        let mut e = good.clone();
        e.integrated_time = 1_600_000_000;
        assert!(matches!(
            check(&e),
            Err(TlogError::KeyNotValidAtTime { .. })
        ));
        // Another key under the Rekor log id.
        let mut other = prod_root();
        other.tlogs[0].key = other.ctlogs[1].key.clone();
        assert!(matches!(
            verify_entry(&good, &other, EITHER),
            Err(TlogError::BadSet(_))
        ));
        let mut e = good.clone();
        e.signed_entry_timestamp = None;
        assert!(is_cp_err(verify_entry(&e, &other, EITHER)));
        // kindVersion must agree with the body.
        let mut e = good.clone();
        e.kind_version = Some(("hashedrekord".into(), "0.0.1".into()));
        assert!(matches!(check(&e), Err(TlogError::Malformed(_))));
        assert!(check(&good).is_ok());
    }

    #[test]
    fn cosign_attestation_bundle() {
        let b = bundle("cosign/pkg/cosign/testdata/oci-attestation.sigstore.json");
        let Ok(root_json) = std::fs::read(format!(
            "{V}/cosign/pkg/cosign/testdata/trusted_root_pgi.json"
        )) else {
            return;
        };
        let root = TrustRoot::from_json(&root_json).unwrap();
        let v = verify_entry_for(&b.entry(), &root, TlogRequirement::Both, &b.expect()).unwrap();
        assert_eq!(v.integrated_time(), Some(1740770291));
        assert_eq!(v.log_index(), 175508996);
    }
}
