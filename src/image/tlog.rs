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

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::pubkey::PublicKey;
use super::trust_root::{TrustRoot, TrustedKey};

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

/// A Merkle inclusion proof (RFC 9162) with the signed checkpoint naming its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// Index of the entry in the tree the proof is for (per shard; not the global index).
    pub log_index: i64,
    /// The tree's root hash (32 bytes).
    pub root_hash: Vec<u8>,
    /// The tree's size.
    pub tree_size: i64,
    /// Sibling hashes from the leaf upwards (32 bytes each).
    pub hashes: Vec<Vec<u8>>,
    /// The checkpoint: a signed note `origin\nsize\nb64(root)\n…\n\n— name b64(sig)\n`.
    pub checkpoint: String,
}

/// One Rekor entry as carried next to a signature (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogEntry {
    /// Global log index (the one the SET signs).
    pub log_index: i64,
    /// The log's id: SHA-256 of its key's DER SPKI.
    pub log_id: Vec<u8>,
    /// When the log integrated the entry (unix seconds); only the SET vouches for it.
    pub integrated_time: i64,
    /// The exact entry body JSON the log stored.
    pub canonicalized_body: Vec<u8>,
    /// The SET: the log's signature over (body, integrated time, log id, log index).
    pub signed_entry_timestamp: Option<Vec<u8>>,
    /// Inclusion proof and checkpoint, if carried.
    pub inclusion_proof: Option<InclusionProof>,
    /// The `(kind, version)` the bundle states, e.g. `("dsse", "0.0.1")`.
    pub kind_version: Option<(String, String)>,
}

impl TlogEntry {
    /// Parses a legacy cosign `dev.sigstore.cosign/bundle` annotation:
    /// `{"SignedEntryTimestamp": b64, "Payload": {"body": b64, "integratedTime": int,
    /// "logIndex": int, "logID": hex}}`.
    pub fn from_legacy_annotation(json: &str) -> Result<TlogEntry, TlogError> {
        if json.len() > MAX_ANNOTATION {
            return Err(malformed("bundle annotation is too large"));
        }
        let v: Value =
            serde_json::from_str(json).map_err(|e| malformed(format!("bundle annotation: {e}")))?;
        let set = b64_bytes(v.get("SignedEntryTimestamp"), "SignedEntryTimestamp")?;
        if set.is_empty() {
            return Err(malformed("empty SignedEntryTimestamp"));
        }
        let Some(p) = v.get("Payload").filter(|p| p.is_object()) else {
            return Err(malformed("no Payload object"));
        };
        let body = body_bytes(p.get("body"), "Payload.body")?;
        let int = |name: &str| {
            p.get(name)
                .and_then(Value::as_i64)
                .filter(|n| *n >= 0)
                .ok_or_else(|| malformed(format!("Payload.{name} is not a non-negative integer")))
        };
        let log_id = p
            .get("logID")
            .and_then(Value::as_str)
            .and_then(hex_decode_lower)
            .ok_or_else(|| malformed("Payload.logID is not lowercase hex"))?;
        Ok(TlogEntry {
            log_index: int("logIndex")?,
            log_id,
            integrated_time: int("integratedTime")?,
            canonicalized_body: body,
            signed_entry_timestamp: Some(set),
            inclusion_proof: None,
            kind_version: None,
        })
    }

    /// Parses one element of a sigstore bundle's `verificationMaterial.tlogEntries[]`
    /// (integers are protobuf-JSON strings there, though plain numbers are accepted too;
    /// `logId.keyId`, hashes and the body are base64). A missing `integratedTime` reads as 0.
    pub fn from_bundle_entry(v: &Value) -> Result<TlogEntry, TlogError> {
        if !v.is_object() {
            return Err(malformed("tlog entry is not an object"));
        }
        let log_id = b64_bytes(v.get("logId").and_then(|l| l.get("keyId")), "logId.keyId")?;
        let kind_version = match v.get("kindVersion") {
            None | Some(Value::Null) => None,
            Some(kv) => match (
                kv.get("kind").and_then(Value::as_str),
                kv.get("version").and_then(Value::as_str),
            ) {
                (Some(k), Some(ver)) => Some((k.to_string(), ver.to_string())),
                _ => return Err(malformed("kindVersion lacks kind or version")),
            },
        };
        let integrated_time = match v.get("integratedTime") {
            None | Some(Value::Null) => 0,
            Some(t) => pb_int(t, "integratedTime")?,
        };
        let signed_entry_timestamp = match v.get("inclusionPromise") {
            None | Some(Value::Null) => None,
            Some(p) => {
                let set = b64_bytes(
                    p.get("signedEntryTimestamp"),
                    "inclusionPromise.signedEntryTimestamp",
                )?;
                if set.is_empty() {
                    return Err(malformed("empty signedEntryTimestamp"));
                }
                Some(set)
            }
        };
        let inclusion_proof = match v.get("inclusionProof") {
            None | Some(Value::Null) => None,
            Some(p) => Some(proof_from_json(p)?),
        };
        Ok(TlogEntry {
            log_index: pb_int(v.get("logIndex").unwrap_or(&Value::Null), "logIndex")?,
            log_id,
            integrated_time,
            canonicalized_body: body_bytes(v.get("canonicalizedBody"), "canonicalizedBody")?,
            signed_entry_timestamp,
            inclusion_proof,
            kind_version,
        })
    }

    /// The bytes the SET signs: RFC 8785 canonical JSON of `{"body", "integratedTime",
    /// "logID", "logIndex"}` (sorted keys, no spaces; the values need no escaping). The body
    /// is re-encoded as padded standard base64, which is exactly the text it was carried in
    /// because parsing accepts only canonical base64.
    fn set_message(&self) -> Vec<u8> {
        format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            B64.encode(&self.canonicalized_body),
            self.integrated_time,
            hex::encode(&self.log_id),
            self.log_index
        )
        .into_bytes()
    }
}

fn proof_from_json(p: &Value) -> Result<InclusionProof, TlogError> {
    let hashes = match p.get("hashes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            if items.len() > MAX_PROOF_HASHES {
                return Err(malformed("inclusion proof has too many hashes"));
            }
            items
                .iter()
                .map(|h| b64_bytes(Some(h), "inclusionProof.hashes[]"))
                .collect::<Result<_, _>>()?
        }
        Some(_) => return Err(malformed("inclusionProof.hashes is not an array")),
    };
    let checkpoint = p
        .get("checkpoint")
        .and_then(|c| c.get("envelope"))
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("inclusion proof without checkpoint.envelope"))?;
    if checkpoint.len() > MAX_CHECKPOINT {
        return Err(malformed("checkpoint is too large"));
    }
    Ok(InclusionProof {
        log_index: pb_int(
            p.get("logIndex").unwrap_or(&Value::Null),
            "inclusionProof.logIndex",
        )?,
        root_hash: b64_bytes(p.get("rootHash"), "inclusionProof.rootHash")?,
        tree_size: pb_int(
            p.get("treeSize").unwrap_or(&Value::Null),
            "inclusionProof.treeSize",
        )?,
        hashes,
        checkpoint: checkpoint.to_string(),
    })
}

/// A non-negative protobuf-JSON int64: a string of ASCII digits, or a JSON integer.
fn pb_int(v: &Value, what: &str) -> Result<i64, TlogError> {
    let n = match v {
        Value::String(s)
            if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<i64>().ok()
        }
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    n.filter(|n| *n >= 0)
        .ok_or_else(|| malformed(format!("{what} is not a non-negative integer")))
}

/// Strict (canonical, padded) standard base64 from a JSON string.
fn b64_bytes(v: Option<&Value>, what: &str) -> Result<Vec<u8>, TlogError> {
    let s = v
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(format!("{what} is missing or not a string")))?;
    B64.decode(s)
        .map_err(|e| malformed(format!("{what}: bad base64: {e}")))
}

fn body_bytes(v: Option<&Value>, what: &str) -> Result<Vec<u8>, TlogError> {
    if v.and_then(Value::as_str)
        .is_some_and(|s| s.len() > MAX_BODY / 3 * 4 + 4)
    {
        return Err(malformed(format!("{what} is too large")));
    }
    let body = b64_bytes(v, what)?;
    if body.is_empty() {
        return Err(malformed(format!("{what} is empty")));
    }
    Ok(body)
}

/// Hex decoding; `lower_only` refuses upper-case digits.
fn hex_decode(s: &str, lower_only: bool) -> Option<Vec<u8>> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' if !lower_only => Some(c - b'A' + 10),
        _ => None,
    };
    if s.len() % 2 != 0 {
        return None;
    }
    s.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

fn hex_decode_lower(s: &str) -> Option<Vec<u8>> {
    hex_decode(s, true)
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

fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(body);
    h.finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root hash an audit path leads to (RFC 9162 §2.1.3.2), or why it cannot.
fn root_from_path(
    leaf: [u8; 32],
    index: u64,
    size: u64,
    path: &[[u8; 32]],
) -> Result<[u8; 32], String> {
    if index >= size {
        return Err(format!("leaf index {index} is not below tree size {size}"));
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = leaf;
    for p in path {
        if sn == 0 {
            return Err("more hashes than the tree needs".into());
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err("fewer hashes than the tree needs".into());
    }
    Ok(r)
}

/// Checks the proof and returns its (now confirmed) root hash.
fn verify_inclusion(body: &[u8], proof: &InclusionProof) -> Result<[u8; 32], TlogError> {
    let bad = |why: String| TlogError::BadInclusionProof(why);
    let index = u64::try_from(proof.log_index).map_err(|_| bad("negative leaf index".into()))?;
    let size = u64::try_from(proof.tree_size).map_err(|_| bad("negative tree size".into()))?;
    let expected: [u8; 32] = proof
        .root_hash
        .as_slice()
        .try_into()
        .map_err(|_| bad("root hash is not 32 bytes".into()))?;
    if proof.hashes.len() > MAX_PROOF_HASHES {
        return Err(bad("too many hashes".into()));
    }
    let path = proof
        .hashes
        .iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("a hash is not 32 bytes".into()))?;
    let computed = root_from_path(leaf_hash(body), index, size, &path).map_err(bad)?;
    if computed != expected {
        return Err(bad("the path does not lead to the root hash".into()));
    }
    Ok(computed)
}

/// Checks the checkpoint (a signed note) names the proof's tree and is signed by `key`.
fn verify_checkpoint(
    proof: &InclusionProof,
    root_hash: &[u8; 32],
    key: &TrustedKey,
) -> Result<(), TlogError> {
    let bad = |why: &str| TlogError::BadCheckpoint(why.to_string());
    let text = proof.checkpoint.as_str();
    if text.len() > MAX_CHECKPOINT {
        return Err(bad("too large"));
    }
    let Some((note, signatures)) = text.split_once("\n\n") else {
        return Err(bad("no blank line between the note and its signatures"));
    };
    let mut lines = note.split('\n');
    let origin = lines.next().unwrap_or_default();
    if origin.is_empty() {
        return Err(bad("empty origin line"));
    }
    let size = lines
        .next()
        .filter(|s| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| bad("tree size line is not a number"))?;
    let root = lines
        .next()
        .and_then(|s| B64.decode(s).ok())
        .ok_or_else(|| bad("root hash line is not base64"))?;
    if u64::try_from(proof.tree_size).ok() != Some(size) {
        return Err(bad("tree size differs from the inclusion proof's"));
    }
    if root.as_slice() != root_hash.as_slice() {
        return Err(bad("root hash differs from the inclusion proof's"));
    }
    if !matches!(
        key.key,
        PublicKey::P256(_) | PublicKey::P384(_) | PublicKey::Ed25519(_)
    ) {
        return Err(bad("the log key is neither ECDSA nor Ed25519"));
    }
    // The signed text is the note including the newline that ends its last line.
    let signed = text.as_bytes().get(..note.len() + 1).unwrap_or_default();
    let hint = key.log_id.get(..4).unwrap_or_default();
    let mut verified = false;
    for line in signatures.split('\n').filter(|l| !l.is_empty()) {
        let Some((_name, sig_b64)) = line
            .strip_prefix("\u{2014} ")
            .and_then(|l| l.rsplit_once(' '))
        else {
            return Err(bad("malformed signature line"));
        };
        let blob = B64
            .decode(sig_b64)
            .map_err(|_| bad("signature is not base64"))?;
        let (Some(line_hint), Some(sig)) = (blob.get(..4), blob.get(4..)) else {
            return Err(bad("signature too short"));
        };
        if line_hint == hint && !sig.is_empty() && key.key.verify(signed, sig).is_ok() {
            verified = true;
        }
    }
    if verified {
        Ok(())
    } else {
        Err(bad("no valid signature by the log's key"))
    }
}

/// What a log entry body must describe.
#[derive(Debug, Clone, Copy)]
pub enum Expected<'a> {
    /// `hashedrekord` v0.0.1, or 0.0.2 (Rekor v2) with a SHA-256 digest (legacy cosign
    /// signatures and bundles' message signatures).
    HashedRekord {
        /// SHA-256 of the signed payload.
        payload_sha256: [u8; 32],
        /// The raw (decoded) signature.
        signature: &'a [u8],
        /// The verifying key or certificate, PEM or DER.
        verifier_pem_or_der: &'a [u8],
    },
    /// A DSSE envelope (sigstore bundles): `dsse` v0.0.1, or Rekor v2's `hashedrekord` 0.0.2
    /// over the PAE (and the withdrawn `dsse` 0.0.2).
    Dsse {
        /// SHA-256 of the decoded DSSE payload.
        payload_sha256: [u8; 32],
        /// The DSSE pre-authentication encoding (what the signature covers).
        pae: &'a [u8],
        /// The raw (decoded) DSSE signature.
        signature: &'a [u8],
        /// The verifying key or certificate, PEM or DER.
        verifier: &'a [u8],
    },
    /// `intoto` v0.0.2 (legacy cosign `.att` attestations).
    Intoto {
        /// SHA-256 of the decoded DSSE payload.
        payload_sha256: [u8; 32],
        /// The raw (decoded) DSSE signature.
        signature: &'a [u8],
        /// The verifying key or certificate, PEM or DER.
        verifier: &'a [u8],
    },
}

struct Body {
    kind: String,
    api_version: String,
    spec: Value,
}

fn parse_body(body: &[u8]) -> Result<Body, TlogError> {
    if body.len() > MAX_BODY {
        return Err(malformed("entry body is too large"));
    }
    let mut v: Value =
        serde_json::from_slice(body).map_err(|e| malformed(format!("entry body: {e}")))?;
    let text = |v: &Value, name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| malformed(format!("entry body has no {name}")))
    };
    let (kind, api_version) = (text(&v, "kind")?, text(&v, "apiVersion")?);
    let spec = v.get_mut("spec").map(Value::take).filter(Value::is_object);
    let spec = spec.ok_or_else(|| malformed("entry body has no spec object"))?;
    Ok(Body {
        kind,
        api_version,
        spec,
    })
}

/// Checks that a log entry body describes this signature, payload and key:
///
/// * `hashedrekord` 0.0.1: `spec.data.hash` is `{algorithm: sha256, value: hex}` of the
///   payload; `spec.signature.content` decodes to the signature;
///   `spec.signature.publicKey.content` decodes to the same key or certificate.
/// * `dsse` 0.0.1: `spec.payloadHash` as above; some `spec.signatures[]` element has both
///   `signature` = the signature and `verifier` = the key or certificate. `envelopeHash` is
///   not checked (its serialisation differs between clients; the signature over the PAE and
///   the payload hash already pin the envelope).
/// * `intoto` 0.0.2 (best effort): `spec.content.payloadHash` as above; some
///   `spec.content.envelope.signatures[]` element has `publicKey` = the key or certificate and
///   `sig` = the signature (Rekor stores it base64 of the base64 text; single encoding is
///   accepted too). `spec.content.hash` (envelope hash) is not checked.
///
/// * Rekor v2's `hashedrekord` 0.0.2 (and the withdrawn `dsse` 0.0.2): see
///   [`check_body_v002`].
///
/// Keys and certificates are compared as DER, whatever their PEM formatting; a PEM text
/// must hold exactly one `PUBLIC KEY` or `CERTIFICATE` block. Any other kind or version is
/// an error.
pub fn check_body(entry_body: &[u8], expect: &Expected<'_>) -> Result<(), TlogError> {
    let body = parse_body(entry_body)?;
    let accepted: &[(&str, &str)] = match expect {
        Expected::HashedRekord { .. } => &[("hashedrekord", "0.0.1"), ("hashedrekord", "0.0.2")],
        Expected::Dsse { .. } => &[
            ("dsse", "0.0.1"),
            ("hashedrekord", "0.0.2"),
            ("dsse", "0.0.2"),
        ],
        Expected::Intoto { .. } => &[("intoto", "0.0.2")],
    };
    const KNOWN: [(&str, &str); 5] = [
        ("hashedrekord", "0.0.1"),
        ("hashedrekord", "0.0.2"),
        ("dsse", "0.0.1"),
        ("dsse", "0.0.2"),
        ("intoto", "0.0.2"),
    ];
    let pair = (body.kind.as_str(), body.api_version.as_str());
    if KNOWN.contains(&pair) && !accepted.contains(&pair) {
        return Err(TlogError::BodyMismatch { what: "entry kind" });
    }
    if !accepted
        .iter()
        .any(|(k, v)| *k == body.kind && *v == body.api_version)
    {
        return Err(TlogError::UnsupportedKind(format!(
            "{}/{}",
            body.kind, body.api_version
        )));
    }
    if body.api_version == "0.0.2" && body.kind != "intoto" {
        return check_body_v002(&body, expect);
    }
    let spec = &body.spec;
    match *expect {
        Expected::HashedRekord {
            payload_sha256,
            signature,
            verifier_pem_or_der,
        } => {
            check_hash(spec.pointer("/data/hash"), &payload_sha256, "payload hash")?;
            let sig = b64_bytes(spec.pointer("/signature/content"), "spec.signature.content")?;
            if sig != signature {
                return Err(TlogError::BodyMismatch { what: "signature" });
            }
            let logged = b64_bytes(
                spec.pointer("/signature/publicKey/content"),
                "spec.signature.publicKey.content",
            )?;
            if !same_verifier(&logged, verifier_pem_or_der)? {
                return Err(TlogError::BodyMismatch {
                    what: "public key or certificate",
                });
            }
        }
        Expected::Dsse {
            payload_sha256,
            signature,
            verifier,
            ..
        } => {
            check_hash(spec.get("payloadHash"), &payload_sha256, "payload hash")?;
            let sigs = signature_list(spec.get("signatures"))?;
            return find_signer(
                sigs,
                verifier,
                |s| Ok(b64_bytes(s.get("signature"), "spec.signatures[].signature")? == signature),
                |s| b64_bytes(s.get("verifier"), "spec.signatures[].verifier"),
            );
        }
        Expected::Intoto {
            payload_sha256,
            signature,
            verifier,
        } => {
            let content = spec.get("content");
            check_hash(
                content.and_then(|c| c.get("payloadHash")),
                &payload_sha256,
                "payload hash",
            )?;
            let sigs = signature_list(content.and_then(|c| c.pointer("/envelope/signatures")))?;
            return find_signer(
                sigs,
                verifier,
                |s| {
                    let once = b64_bytes(s.get("sig"), "envelope.signatures[].sig")?;
                    let twice = std::str::from_utf8(&once)
                        .ok()
                        .and_then(|t| B64.decode(t.trim()).ok());
                    Ok(once == signature || twice.as_deref() == Some(signature))
                },
                |s| b64_bytes(s.get("publicKey"), "envelope.signatures[].publicKey"),
            );
        }
    }
    Ok(())
}

/// Rekor v2 bodies (protobuf JSON, JCS-canonical; bytes are standard base64):
///
/// * `hashedrekord` 0.0.2: `spec.hashedRekordV002.data` is `{algorithm: SHA2_256|SHA2_384|
///   SHA2_512, digest}` of the signed bytes (the payload; for a DSSE envelope, its PAE),
///   `signature.content` is the signature and `signature.verifier` holds
///   `x509Certificate.rawBytes` or `publicKey.rawBytes` (DER) equal to the verifier.
/// * `dsse` 0.0.2 (withdrawn, still in 2025 staging logs): `spec.dsseV002.payloadHash` is the
///   SHA-256 of the payload, and `signatures` holds exactly one `{content, verifier}`, this
///   signature and verifier.
fn check_body_v002(body: &Body, expect: &Expected<'_>) -> Result<(), TlogError> {
    let (payload_sha256, signed, signature, verifier) = match *expect {
        Expected::HashedRekord {
            payload_sha256,
            signature,
            verifier_pem_or_der,
        } => (payload_sha256, None, signature, verifier_pem_or_der),
        Expected::Dsse {
            payload_sha256,
            pae,
            signature,
            verifier,
        } => (payload_sha256, Some(pae), signature, verifier),
        Expected::Intoto { .. } => {
            return Err(TlogError::UnsupportedKind("intoto/0.0.2 as v2".into()));
        }
    };
    let check_signature = |s: Option<&Value>| -> Result<(), TlogError> {
        let s = s.ok_or_else(|| malformed("entry body has no signature"))?;
        if b64_bytes(s.get("content"), "signature.content")? != signature {
            return Err(TlogError::BodyMismatch { what: "signature" });
        }
        let v = s.get("verifier");
        let logged = match (
            v.and_then(|v| v.pointer("/x509Certificate/rawBytes")),
            v.and_then(|v| v.pointer("/publicKey/rawBytes")),
        ) {
            (Some(c), None) => b64_bytes(Some(c), "verifier.x509Certificate.rawBytes")?,
            (None, Some(k)) => b64_bytes(Some(k), "verifier.publicKey.rawBytes")?,
            _ => {
                return Err(malformed(
                    "the signature's verifier is not one certificate or key",
                ));
            }
        };
        if !same_verifier(&logged, verifier)? {
            return Err(TlogError::BodyMismatch {
                what: "public key or certificate",
            });
        }
        Ok(())
    };
    if body.kind == "hashedrekord" {
        let spec = body
            .spec
            .get("hashedRekordV002")
            .ok_or_else(|| malformed("entry body has no hashedRekordV002"))?;
        let data = spec
            .get("data")
            .ok_or_else(|| malformed("entry body has no data"))?;
        let logged = b64_bytes(data.get("digest"), "data.digest")?;
        let expected = match (data.get("algorithm").and_then(Value::as_str), signed) {
            (Some("SHA2_256"), None) => payload_sha256.to_vec(),
            (Some("SHA2_256"), Some(pae)) => Sha256::digest(pae).to_vec(),
            (Some("SHA2_384"), Some(pae)) => sha2::Sha384::digest(pae).to_vec(),
            (Some("SHA2_512"), Some(pae)) => sha2::Sha512::digest(pae).to_vec(),
            _ => {
                return Err(TlogError::BodyMismatch {
                    what: "hash algorithm",
                });
            }
        };
        if logged != expected {
            return Err(TlogError::BodyMismatch {
                what: "signed digest",
            });
        }
        return check_signature(spec.get("signature"));
    }
    // dsse 0.0.2
    let spec = body
        .spec
        .get("dsseV002")
        .ok_or_else(|| malformed("entry body has no dsseV002"))?;
    let hash = spec.get("payloadHash");
    if hash
        .and_then(|h| h.get("algorithm"))
        .and_then(Value::as_str)
        != Some("SHA2_256")
    {
        return Err(TlogError::BodyMismatch {
            what: "hash algorithm",
        });
    }
    if b64_bytes(hash.and_then(|h| h.get("digest")), "payloadHash.digest")? != payload_sha256 {
        return Err(TlogError::BodyMismatch {
            what: "payload hash",
        });
    }
    match signature_list(spec.get("signatures"))? {
        [only] => check_signature(Some(only)),
        _ => Err(TlogError::BodyMismatch {
            what: "signature count",
        }),
    }
}

/// Some logged signature must be `signature` (per `is_signature`) with `verifier` as its key or
/// certificate (per `verifier_of`); otherwise says which of the two did not match.
fn find_signer(
    sigs: &[Value],
    verifier: &[u8],
    is_signature: impl Fn(&Value) -> Result<bool, TlogError>,
    verifier_of: impl Fn(&Value) -> Result<Vec<u8>, TlogError>,
) -> Result<(), TlogError> {
    let mut sig_seen = false;
    for s in sigs {
        if !is_signature(s)? {
            continue;
        }
        sig_seen = true;
        if same_verifier(&verifier_of(s)?, verifier)? {
            return Ok(());
        }
    }
    let what = if sig_seen {
        "public key or certificate"
    } else {
        "signature"
    };
    Err(TlogError::BodyMismatch { what })
}

fn signature_list(v: Option<&Value>) -> Result<&[Value], TlogError> {
    match v {
        Some(Value::Array(items)) if !items.is_empty() => Ok(items),
        _ => Err(malformed("entry body has no signatures")),
    }
}

/// `{algorithm: "sha256", value: hex}` equal to `want`.
fn check_hash(v: Option<&Value>, want: &[u8; 32], what: &'static str) -> Result<(), TlogError> {
    let Some(h) = v.filter(|h| h.is_object()) else {
        return Err(malformed(format!("entry body has no {what}")));
    };
    if h.get("algorithm").and_then(Value::as_str) != Some("sha256") {
        return Err(TlogError::BodyMismatch {
            what: "hash algorithm",
        });
    }
    let value = h
        .get("value")
        .and_then(Value::as_str)
        .and_then(|s| hex_decode(s, false))
        .ok_or_else(|| malformed(format!("{what} is not hex")))?;
    if value.as_slice() != want.as_slice() {
        return Err(TlogError::BodyMismatch { what });
    }
    Ok(())
}

/// The DER of a key or certificate given as one PEM block or as DER.
fn verifier_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.contains("-----BEGIN "));
    let Some(text) = text else {
        return if bytes.is_empty() {
            Err("empty".into())
        } else {
            Ok(bytes.to_vec())
        };
    };
    if text.matches("-----BEGIN ").count() != 1 {
        return Err("more than one PEM block".into());
    }
    let block = super::pubkey::first_pem_block(text);
    let (label, der) = der::pem::decode_vec(block.as_bytes()).map_err(|e| format!("PEM: {e}"))?;
    if label != "PUBLIC KEY" && label != "CERTIFICATE" {
        return Err(format!("unexpected PEM block {label}"));
    }
    Ok(der)
}

/// Whether the logged verifier is the expected one. A logged verifier that cannot be read is
/// a malformed entry; an expected one that cannot be read is a mismatch.
fn same_verifier(logged: &[u8], expected: &[u8]) -> Result<bool, TlogError> {
    let logged = verifier_der(logged).map_err(|e| malformed(format!("logged verifier: {e}")))?;
    Ok(verifier_der(expected).is_ok_and(|der| der == logged))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/cosign");

    fn read(path: &str) -> Vec<u8> {
        std::fs::read(format!("{V}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn read_str(path: &str) -> String {
        String::from_utf8(read(path)).unwrap()
    }

    fn sha256(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }

    /// A containers/image `dir:` signature file: payload, decoded signature, annotations.
    struct Legacy {
        payload: Vec<u8>,
        signature: Vec<u8>,
        annotations: serde_json::Map<String, Value>,
    }

    fn legacy(dir: &str) -> Legacy {
        let raw = read(&format!(
            "containers-image/signature/fixtures/{dir}/signature-1"
        ));
        let json = raw
            .strip_prefix(b"\x00sigstore-json\n".as_slice())
            .expect("signature file header");
        let v: Value = serde_json::from_slice(json).unwrap();
        let annotations = v["annotations"].as_object().unwrap().clone();
        let signature = B64
            .decode(
                annotations["dev.cosignproject.cosign/signature"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
        Legacy {
            payload: B64.decode(v["payload"].as_str().unwrap()).unwrap(),
            signature,
            annotations,
        }
    }

    impl Legacy {
        fn entry(&self) -> TlogEntry {
            TlogEntry::from_legacy_annotation(
                self.annotations["dev.sigstore.cosign/bundle"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap()
        }
    }

    fn rekor_root() -> TrustRoot {
        let rekor = read_str("containers-image/signature/internal/testdata/rekor.pub");
        TrustRoot::from_pem(None, &[&rekor], &[]).unwrap()
    }

    fn prod_root() -> TrustRoot {
        TrustRoot::from_json(&read("sigstore-rs/trust_root/prod/trusted_root.json")).unwrap()
    }

    fn pem_to_der(pem: &str) -> Vec<u8> {
        der::pem::decode_vec(pem.as_bytes()).unwrap().1
    }

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
    fn legacy_annotation_parsing() {
        assert!(matches!(
            TlogEntry::from_legacy_annotation("this is not a valid SET"),
            Err(TlogError::Malformed(_))
        ));
        let text = read_str("containers-image/signature/internal/testdata/rekor-set");
        let v: Value = serde_json::from_str(&text).unwrap();
        let variants: [(&str, Value); 6] = [
            ("/SignedEntryTimestamp", Value::from("")),
            (
                "/Payload/logID",
                Value::from(v["Payload"]["logID"].as_str().unwrap().to_uppercase()),
            ),
            ("/Payload/integratedTime", Value::from("1670870899")),
            ("/Payload/logIndex", Value::from(-1)),
            (
                "/Payload/body",
                Value::from(v["Payload"]["body"].as_str().unwrap().trim_end_matches('=')),
            ),
            ("/Payload/body", Value::from("")),
        ];
        for (ptr, bad) in variants {
            let mut w = v.clone();
            *w.pointer_mut(ptr).unwrap() = bad;
            let r = TlogEntry::from_legacy_annotation(&w.to_string());
            assert!(matches!(r, Err(TlogError::Malformed(_))), "{ptr}: {r:?}");
        }
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

    /// The DSSE bundle: its tlog entry, payload, signature and leaf certificate (DER).
    struct Bundle {
        json: Value,
        payload: Vec<u8>,
        signature: Vec<u8>,
        cert: Vec<u8>,
    }

    fn bundle(path: &str) -> Bundle {
        let json: Value = serde_json::from_slice(&read(path)).unwrap();
        let env = &json["dsseEnvelope"];
        Bundle {
            payload: B64.decode(env["payload"].as_str().unwrap()).unwrap(),
            signature: B64
                .decode(env["signatures"][0]["sig"].as_str().unwrap())
                .unwrap(),
            cert: B64
                .decode(
                    json["verificationMaterial"]["certificate"]["rawBytes"]
                        .as_str()
                        .unwrap(),
                )
                .unwrap(),
            json,
        }
    }

    impl Bundle {
        fn entry_json(&self) -> Value {
            self.json["verificationMaterial"]["tlogEntries"][0].clone()
        }
        fn entry(&self) -> TlogEntry {
            TlogEntry::from_bundle_entry(&self.entry_json()).unwrap()
        }
        fn expect(&self) -> Expected<'_> {
            Expected::Dsse {
                payload_sha256: sha256(&self.payload),
                pae: &[],
                signature: &self.signature,
                verifier: &self.cert,
            }
        }
    }

    const V03: &str = "sigstore-rs/tests/data/bundle_v03.json";

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
    fn bundle_body_binding() {
        let b = bundle(V03);
        let entry = b.entry();
        let body = &entry.canonicalized_body;
        check_body(body, &b.expect()).unwrap();
        // Another bundle's signature, payload and certificate.
        let other = bundle("cosign/pkg/cosign/testdata/oci-attestation.sigstore.json");
        assert_eq!(
            check_body(body, &other.expect()),
            Err(TlogError::BodyMismatch {
                what: "payload hash"
            })
        );
        let mix = |payload: &[u8], signature: &[u8], verifier: &[u8]| {
            check_body(
                body,
                &Expected::Dsse {
                    payload_sha256: sha256(payload),
                    pae: &[],
                    signature,
                    verifier,
                },
            )
        };
        assert_eq!(
            mix(&b.payload, &other.signature, &b.cert),
            Err(TlogError::BodyMismatch { what: "signature" })
        );
        assert_eq!(
            mix(&b.payload, &b.signature, &other.cert),
            Err(TlogError::BodyMismatch {
                what: "public key or certificate"
            })
        );
        // Tampered bodies: algorithm, kind, version, garbage.
        let text = std::str::from_utf8(body).unwrap();
        let tampered = |from: &str, to: &str| {
            assert!(text.contains(from));
            check_body(text.replacen(from, to, 1).as_bytes(), &b.expect())
        };
        assert_eq!(
            tampered(
                r#""payloadHash":{"algorithm":"sha256""#,
                r#""payloadHash":{"algorithm":"sha512""#
            ),
            Err(TlogError::BodyMismatch {
                what: "hash algorithm"
            })
        );
        assert_eq!(
            tampered(r#""kind":"dsse""#, r#""kind":"hashedrekord""#),
            Err(TlogError::BodyMismatch { what: "entry kind" })
        );
        // Relabelled as the v2 form, it lacks that form's fields.
        assert!(matches!(
            tampered(r#""apiVersion":"0.0.1""#, r#""apiVersion":"0.0.2""#),
            Err(TlogError::Malformed(_))
        ));
        assert!(matches!(
            tampered(r#""apiVersion":"0.0.1""#, r#""apiVersion":"0.0.3""#),
            Err(TlogError::UnsupportedKind(_))
        ));
        assert!(matches!(
            tampered(r#""kind":"dsse""#, r#""kind":"rekord""#),
            Err(TlogError::UnsupportedKind(_))
        ));
        assert!(matches!(
            check_body(b"{", &b.expect()),
            Err(TlogError::Malformed(_))
        ));
        assert!(matches!(
            check_body(br#"{"kind":"dsse","apiVersion":"0.0.1"}"#, &b.expect()),
            Err(TlogError::Malformed(_))
        ));
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

    #[test]
    fn bundle_entry_parsing() {
        let b = bundle(V03);
        let good = b.entry_json();
        let e = TlogEntry::from_bundle_entry(&good).unwrap();
        assert_eq!(e.integrated_time, 1775719409);
        let cases: [(&str, Value); 9] = [
            ("/logIndex", Value::from("-5")),
            ("/logIndex", Value::from("12a")),
            ("/logIndex", Value::from("")),
            ("/integratedTime", Value::from("+1")),
            ("/logId/keyId", Value::from("%%%")),
            ("/canonicalizedBody", Value::from("")),
            ("/inclusionProof/checkpoint", Value::Null),
            (
                "/inclusionProof/hashes",
                Value::from(vec![Value::from("AAAA"); 65]),
            ),
            ("/inclusionPromise/signedEntryTimestamp", Value::from(1)),
        ];
        for (ptr, bad) in cases {
            let mut v = good.clone();
            *v.pointer_mut(ptr).unwrap() = bad;
            let r = TlogEntry::from_bundle_entry(&v);
            assert!(matches!(r, Err(TlogError::Malformed(_))), "{ptr}: {r:?}");
        }
        assert!(TlogEntry::from_bundle_entry(&Value::from("x")).is_err());
        // Plain JSON numbers are read like strings.
        let mut v = good.clone();
        v["logIndex"] = Value::from(1261105807u64);
        assert_eq!(TlogEntry::from_bundle_entry(&v).unwrap(), e);
    }

    // RFC 9162 §2.1.1 and §2.1.3.1, written from the recursive definitions, to check the
    // iterative verifier on every leaf of small trees.
    fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => sha256(b""),
            1 => leaves[0],
            n => {
                let k = split(n);
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split(n);
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    #[test]
    fn inclusion_algorithm_on_small_trees() {
        for n in 1..=17usize {
            let leaves: Vec<[u8; 32]> = (0..n)
                .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
                .collect();
            let root = mth(&leaves);
            for m in 0..n {
                let p = path(m, &leaves);
                let (mu, nu) = (m as u64, n as u64);
                assert_eq!(
                    root_from_path(leaves[m], mu, nu, &p),
                    Ok(root),
                    "n={n} m={m}"
                );
                // Wrong leaf, wrong index, wrong size, a hash more or less: never the root.
                assert_ne!(root_from_path(leaf_hash(b"other"), mu, nu, &p), Ok(root));
                if n > 1 {
                    assert_ne!(
                        root_from_path(leaves[m], (mu + 1) % nu, nu, &p),
                        Ok(root),
                        "n={n} m={m}"
                    );
                }
                // (A wrong tree size can still lead to the root, e.g. leaf 0 of 3 and of 4:
                // only the signed checkpoint binds the size.)
                let mut longer = p.clone();
                longer.push(root);
                assert!(root_from_path(leaves[m], mu, nu, &longer).is_err());
                if !p.is_empty() {
                    assert!(root_from_path(leaves[m], mu, nu, &p[..p.len() - 1]).is_err());
                }
            }
            assert!(root_from_path(leaves[0], n as u64, n as u64, &[]).is_err());
        }
        assert!(root_from_path([0; 32], 0, 0, &[]).is_err());
    }

    #[test]
    fn intoto_body_binding() {
        let cert = read("containers-image/signature/fixtures/fulcio-cert");
        let other_key = read("containers-image/signature/fixtures/cosign.pub");
        let payload = b"{\"_type\":\"https://in-toto.io/Statement/v0.1\"}";
        let signature = b"\x30\x06\x02\x01\x01\x02\x01\x02".to_vec();
        let body = |sig_field: String, verifier: &[u8], hash: [u8; 32]| {
            serde_json::json!({
                "apiVersion": "0.0.2",
                "kind": "intoto",
                "spec": {"content": {
                    "envelope": {"payloadType": "application/vnd.in-toto+json",
                                 "signatures": [{"publicKey": B64.encode(verifier), "sig": sig_field}]},
                    "hash": {"algorithm": "sha256", "value": "00"},
                    "payloadHash": {"algorithm": "sha256", "value": hex::encode(hash)}
                }}
            })
            .to_string()
            .into_bytes()
        };
        let expect = Expected::Intoto {
            payload_sha256: sha256(payload),
            signature: &signature,
            verifier: &cert,
        };
        let twice = B64.encode(B64.encode(&signature));
        check_body(&body(twice.clone(), &cert, sha256(payload)), &expect).unwrap();
        check_body(
            &body(B64.encode(&signature), &cert, sha256(payload)),
            &expect,
        )
        .unwrap();
        assert_eq!(
            check_body(&body(twice.clone(), &other_key, sha256(payload)), &expect),
            Err(TlogError::BodyMismatch {
                what: "public key or certificate"
            })
        );
        assert_eq!(
            check_body(&body(B64.encode(b"other"), &cert, sha256(payload)), &expect),
            Err(TlogError::BodyMismatch { what: "signature" })
        );
        assert_eq!(
            check_body(&body(twice, &cert, sha256(b"other")), &expect),
            Err(TlogError::BodyMismatch {
                what: "payload hash"
            })
        );
    }

    #[test]
    fn rekor_v2_bodies() {
        let cert = b"certificate DER".to_vec();
        let sig = b"raw signature".to_vec();
        let payload = b"{\"_type\":\"statement\"}".to_vec();
        let pae = b"DSSEv1 28 application/vnd.in-toto+json 23 {...}".to_vec();
        let payload_sha256 = sha256(&payload);
        let sig_json = |content: &[u8], verifier: &[u8]| {
            serde_json::json!({"content": B64.encode(content), "verifier": {
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "x509Certificate": {"rawBytes": B64.encode(verifier)}}})
        };
        let hashed = |alg: &str, digest: &[u8], s: Value| {
            serde_json::to_vec(&serde_json::json!({"apiVersion": "0.0.2", "kind": "hashedrekord",
                "spec": {"hashedRekordV002": {"data": {"algorithm": alg, "digest": B64.encode(digest)}, "signature": s}}}))
            .unwrap()
        };
        let dsse = Expected::Dsse {
            payload_sha256,
            pae: &pae,
            signature: &sig,
            verifier: &cert,
        };
        let message = Expected::HashedRekord {
            payload_sha256,
            signature: &sig,
            verifier_pem_or_der: &cert,
        };
        // DSSE as hashedrekord 0.0.2: the digest of the PAE, with the algorithm named.
        let ok = hashed("SHA2_256", &sha256(&pae), sig_json(&sig, &cert));
        assert_eq!(check_body(&ok, &dsse), Ok(()));
        let ok384 = hashed(
            "SHA2_384",
            &sha2::Sha384::digest(&pae),
            sig_json(&sig, &cert),
        );
        assert_eq!(check_body(&ok384, &dsse), Ok(()));
        let of_payload = hashed("SHA2_256", &payload_sha256, sig_json(&sig, &cert));
        assert_eq!(
            check_body(&of_payload, &dsse),
            Err(TlogError::BodyMismatch {
                what: "signed digest"
            })
        );
        // A message signature: the payload's SHA-256.
        assert_eq!(check_body(&of_payload, &message), Ok(()));
        assert_eq!(
            check_body(
                &hashed("SHA2_256", &payload_sha256, sig_json(b"other", &cert)),
                &message
            ),
            Err(TlogError::BodyMismatch { what: "signature" })
        );
        assert_eq!(
            check_body(
                &hashed("SHA2_256", &payload_sha256, sig_json(&sig, b"other")),
                &message
            ),
            Err(TlogError::BodyMismatch {
                what: "public key or certificate"
            })
        );
        // The withdrawn dsse 0.0.2: payload hash, exactly one signature.
        let dsse_v2 = |sigs: Vec<Value>| {
            serde_json::to_vec(&serde_json::json!({"apiVersion": "0.0.2", "kind": "dsse",
                "spec": {"dsseV002": {"payloadHash": {"algorithm": "SHA2_256", "digest": B64.encode(payload_sha256)}, "signatures": sigs}}}))
            .unwrap()
        };
        assert_eq!(
            check_body(&dsse_v2(vec![sig_json(&sig, &cert)]), &dsse),
            Ok(())
        );
        assert_eq!(
            check_body(
                &dsse_v2(vec![sig_json(&sig, &cert), sig_json(b"x", &cert)]),
                &dsse
            ),
            Err(TlogError::BodyMismatch {
                what: "signature count"
            })
        );
        // A dsse body where a message signature is expected.
        assert_eq!(
            check_body(&dsse_v2(vec![sig_json(&sig, &cert)]), &message),
            Err(TlogError::BodyMismatch { what: "entry kind" })
        );
    }
}
