//! Rekor `TransparencyLogEntry` in protobuf binary form (sigstore protobuf-specs
//! `dev.sigstore.rekor.v1`), as gitsign stores it in a CMS unsigned attribute: a minimal,
//! strict wire-format reader (varints and length-delimited fields; other wire types skipped;
//! truncation, overlong varints and oversized fields refused).

use super::entry::{InclusionProof, TlogEntry};
use super::{MAX_BODY, MAX_CHECKPOINT, MAX_PROOF_HASHES, TlogError, malformed};

/// Largest serialized entry accepted.
const MAX_ENTRY: usize = 64 << 10;

/// One field of a message.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

/// Reads the fields of one message, in order.
fn fields(mut buf: &[u8]) -> Result<Vec<(u64, Value<'_>)>, TlogError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        if out.len() > 1024 {
            return Err(malformed("protobuf message has too many fields"));
        }
        let key = varint(&mut buf)?;
        let (number, wire) = (key >> 3, key & 7);
        if number == 0 {
            return Err(malformed("protobuf field number 0"));
        }
        let value = match wire {
            0 => Value::Varint(varint(&mut buf)?),
            2 => {
                let len = usize::try_from(varint(&mut buf)?)
                    .ok()
                    .filter(|l| *l <= buf.len())
                    .ok_or_else(|| malformed("protobuf field runs past the end"))?;
                let (v, rest) = buf.split_at(len);
                buf = rest;
                Value::Bytes(v)
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                buf = buf
                    .get(n..)
                    .ok_or_else(|| malformed("protobuf fixed field runs past the end"))?;
                Value::Other
            }
            _ => return Err(malformed(format!("protobuf wire type {wire}"))),
        };
        out.push((number, value));
    }
    Ok(out)
}

fn varint(buf: &mut &[u8]) -> Result<u64, TlogError> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = buf
            .split_first()
            .ok_or_else(|| malformed("protobuf varint runs past the end"))?;
        *buf = rest;
        if i == 9 && b > 1 {
            return Err(malformed("protobuf varint overflows 64 bits"));
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(malformed("protobuf varint longer than 10 bytes"))
}

fn int(v: &Value<'_>, what: &str) -> Result<i64, TlogError> {
    match v {
        Value::Varint(n) => {
            i64::try_from(*n).map_err(|_| malformed(format!("{what} is negative or too large")))
        }
        _ => Err(malformed(format!("{what} is not a varint"))),
    }
}

fn bytes<'a>(v: &Value<'a>, what: &str) -> Result<&'a [u8], TlogError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(malformed(format!("{what} is not length-delimited"))),
    }
}

fn text(v: &Value<'_>, what: &str) -> Result<String, TlogError> {
    std::str::from_utf8(bytes(v, what)?)
        .map(str::to_string)
        .map_err(|_| malformed(format!("{what} is not UTF-8")))
}

impl TlogEntry {
    /// Reads a protobuf `TransparencyLogEntry`. Its `canonicalized_body` is used when present,
    /// else `body` (gitsign clears it and the verifier recomputes it from the signature).
    pub fn from_protobuf(pb: &[u8], body: Vec<u8>) -> Result<TlogEntry, TlogError> {
        if pb.len() > MAX_ENTRY {
            return Err(malformed("transparency-log entry is too large"));
        }
        let mut e = TlogEntry {
            log_index: -1,
            log_id: Vec::new(),
            integrated_time: 0,
            canonicalized_body: body,
            signed_entry_timestamp: None,
            inclusion_proof: None,
            kind_version: None,
        };
        for (n, v) in fields(pb)? {
            match n {
                1 => e.log_index = int(&v, "logIndex")?,
                2 => {
                    for (m, w) in fields(bytes(&v, "logId")?)? {
                        if m == 1 {
                            e.log_id = bytes(&w, "logId.keyId")?.to_vec();
                        }
                    }
                }
                3 => {
                    let (mut kind, mut version) = (String::new(), String::new());
                    for (m, w) in fields(bytes(&v, "kindVersion")?)? {
                        match m {
                            1 => kind = text(&w, "kindVersion.kind")?,
                            2 => version = text(&w, "kindVersion.version")?,
                            _ => {}
                        }
                    }
                    e.kind_version = Some((kind, version));
                }
                4 => e.integrated_time = int(&v, "integratedTime")?,
                5 => {
                    for (m, w) in fields(bytes(&v, "inclusionPromise")?)? {
                        if m == 1 {
                            let set = bytes(&w, "signedEntryTimestamp")?;
                            if set.is_empty() {
                                return Err(malformed("empty signedEntryTimestamp"));
                            }
                            e.signed_entry_timestamp = Some(set.to_vec());
                        }
                    }
                }
                6 => e.inclusion_proof = Some(proof(bytes(&v, "inclusionProof")?)?),
                7 => {
                    let b = bytes(&v, "canonicalizedBody")?;
                    if b.len() > MAX_BODY {
                        return Err(malformed("entry body is too large"));
                    }
                    if !b.is_empty() {
                        e.canonicalized_body = b.to_vec();
                    }
                }
                _ => {}
            }
        }
        if e.log_index < 0 || e.log_id.is_empty() {
            return Err(malformed("the entry has no logIndex or logId"));
        }
        Ok(e)
    }
}

fn proof(buf: &[u8]) -> Result<InclusionProof, TlogError> {
    let mut p = InclusionProof {
        log_index: -1,
        root_hash: Vec::new(),
        tree_size: -1,
        hashes: Vec::new(),
        checkpoint: String::new(),
    };
    for (m, w) in fields(buf)? {
        match m {
            1 => p.log_index = int(&w, "inclusionProof.logIndex")?,
            2 => p.root_hash = bytes(&w, "inclusionProof.rootHash")?.to_vec(),
            3 => p.tree_size = int(&w, "inclusionProof.treeSize")?,
            4 => {
                if p.hashes.len() >= MAX_PROOF_HASHES {
                    return Err(malformed("inclusion proof has too many hashes"));
                }
                p.hashes.push(bytes(&w, "inclusionProof.hashes")?.to_vec());
            }
            5 => {
                for (c, x) in fields(bytes(&w, "checkpoint")?)? {
                    if c == 1 {
                        p.checkpoint = text(&x, "checkpoint.envelope")?;
                    }
                }
                if p.checkpoint.len() > MAX_CHECKPOINT {
                    return Err(malformed("checkpoint is too large"));
                }
            }
            _ => {}
        }
    }
    if p.log_index < 0 || p.tree_size < 0 {
        return Err(malformed("inclusion proof without logIndex or treeSize"));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_truncation() {
        let mut b: &[u8] = &[0xac, 0x02];
        assert_eq!(varint(&mut b).unwrap(), 300);
        let mut b: &[u8] = &[0x80];
        assert!(varint(&mut b).is_err());
        let mut b: &[u8] = &[0xff; 11];
        assert!(varint(&mut b).is_err());
        // logIndex 5, logId { keyId: "ab" }, a field running past the end.
        let ok = [0x08, 0x05, 0x12, 0x04, 0x0a, 0x02, b'a', b'b'];
        let e = TlogEntry::from_protobuf(&ok, b"{}".to_vec()).unwrap();
        assert_eq!((e.log_index, e.log_id.as_slice()), (5, &b"ab"[..]));
        assert!(TlogEntry::from_protobuf(&ok[..7], Vec::new()).is_err());
        // No log id.
        assert!(TlogEntry::from_protobuf(&[0x08, 0x05], Vec::new()).is_err());
    }
}
