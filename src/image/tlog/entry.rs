//! Rekor entries as carried next to a signature, parsed but not yet verified: a legacy cosign
//! `dev.sigstore.cosign/bundle` annotation or a sigstore bundle's `tlogEntries[]` element, and
//! the strict decoding of their JSON fields (protobuf-JSON integers, canonical base64, hex).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use super::{MAX_ANNOTATION, MAX_BODY, MAX_CHECKPOINT, MAX_PROOF_HASHES, TlogError, malformed};

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
    /// The checkpoint: a signed note `origin\nsize\nb64(root)\n…\n\n— name b64(sig)\n`
    /// (empty when the bundle carries none, which fails verification).
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
    pub(super) fn set_message(&self) -> Vec<u8> {
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
    // A missing checkpoint is refused when the proof is verified, after the Merkle path (so
    // that a proof that leads nowhere is reported as such).
    let checkpoint = match p.get("checkpoint").and_then(|c| c.get("envelope")) {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(malformed("checkpoint.envelope is not a string")),
    };
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
pub(super) fn b64_bytes(v: Option<&Value>, what: &str) -> Result<Vec<u8>, TlogError> {
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
pub(super) fn hex_decode(s: &str, lower_only: bool) -> Option<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{V03, bundle, read_str};
    use super::*;

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
            ("/inclusionProof/checkpoint/envelope", Value::from(7)),
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
}
