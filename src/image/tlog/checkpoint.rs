//! Signed checkpoints (C2SP signed-note / tlog-checkpoint): the log's signature over the tree
//! size and root hash an inclusion proof leads to. The note is parsed whole first
//! ([`Checkpoint::parse`]); then one signature line must be the log's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::{InclusionProof, MAX_CHECKPOINT, TlogError};
use crate::image::pubkey::PublicKey;
use crate::image::trust_root::TrustedKey;

/// A parsed signed note: its first three lines and its signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint<'a> {
    /// The log's origin line.
    pub origin: &'a str,
    /// The tree size.
    pub size: u64,
    /// The root hash (decoded).
    pub root: Vec<u8>,
    /// The signed text: the note up to and including the newline that ends its last line.
    pub signed: &'a [u8],
    /// Signature lines: (key name, 4-byte key hint, signature).
    pub signatures: Vec<(&'a str, [u8; 4], Vec<u8>)>,
}

fn bad(why: &str) -> TlogError {
    TlogError::BadCheckpoint(why.to_string())
}

impl<'a> Checkpoint<'a> {
    /// Parses a checkpoint: `origin\nsize\nb64(root)\n[extension lines\n]\n` then signature
    /// lines `— <name> b64(hint ‖ signature)\n`. At least one signature line is required;
    /// lines from unknown keys are kept (the caller ignores them).
    pub fn parse(text: &'a str) -> Result<Checkpoint<'a>, TlogError> {
        if text.is_empty() {
            return Err(bad("the inclusion proof carries no checkpoint"));
        }
        if text.len() > MAX_CHECKPOINT {
            return Err(bad("too large"));
        }
        let Some((note, sig_block)) = text.split_once("\n\n") else {
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
            .filter(|s| !s.is_empty())
            .and_then(|s| B64.decode(s).ok())
            .ok_or_else(|| bad("root hash line is missing or not base64"))?;
        let signed = text.as_bytes().get(..note.len() + 1).unwrap_or_default();
        let mut signatures = Vec::new();
        for line in sig_block.split('\n').filter(|l| !l.is_empty()) {
            let Some((name, sig_b64)) = line
                .strip_prefix("\u{2014} ")
                .and_then(|l| l.rsplit_once(' '))
            else {
                return Err(bad("malformed signature line"));
            };
            let blob = B64
                .decode(sig_b64)
                .map_err(|_| bad("signature is not base64"))?;
            let (Some(hint), Some(sig)) = (blob.get(..4), blob.get(4..)) else {
                return Err(bad("signature too short"));
            };
            let hint: [u8; 4] = hint.try_into().unwrap_or_default();
            signatures.push((name, hint, sig.to_vec()));
        }
        if signatures.is_empty() {
            return Err(bad("no signature lines"));
        }
        Ok(Checkpoint {
            origin,
            size,
            root,
            signed,
            signatures,
        })
    }
}

/// Checks the checkpoint names the proof's tree and is signed by `key` (key hint = the first
/// 4 bytes of the trust root's log id).
pub(super) fn verify_checkpoint(
    proof: &InclusionProof,
    root_hash: &[u8; 32],
    key: &TrustedKey,
) -> Result<(), TlogError> {
    let cp = Checkpoint::parse(&proof.checkpoint)?;
    if u64::try_from(proof.tree_size).ok() != Some(cp.size) {
        return Err(bad("tree size differs from the inclusion proof's"));
    }
    if cp.root.as_slice() != root_hash.as_slice() {
        return Err(bad("root hash differs from the inclusion proof's"));
    }
    if !matches!(
        key.key,
        PublicKey::P256(_) | PublicKey::P384(_) | PublicKey::Ed25519(_)
    ) {
        return Err(bad("the log key is neither ECDSA nor Ed25519"));
    }
    let hint = key.log_id.get(..4).unwrap_or_default();
    let verified = cp.signatures.iter().any(|(_, line_hint, sig)| {
        line_hint.as_slice() == hint && !sig.is_empty() && key.key.verify(cp.signed, sig).is_ok()
    });
    if verified {
        Ok(())
    } else {
        Err(bad("no valid signature by the log's key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_notes_with_cosignatures_and_refuses_broken_ones() {
        let text = "log.example\n736\nrs1YPY0ydAV0lxgfrq5pE4oRpUJwo3syeps5+eGUTDI=\n\n\u{2014} log.example AAAAAQID\n\u{2014} witness.example/w1 sE1vjwAAAABo\n";
        let cp = Checkpoint::parse(text).unwrap();
        assert_eq!(
            (cp.origin, cp.size, cp.root.len()),
            ("log.example", 736, 32)
        );
        assert_eq!(cp.signatures.len(), 2);
        assert_eq!(cp.signatures[0].1, [0, 0, 0, 1]);
        assert!(cp.signed.ends_with(b"=\n"));
        for broken in [
            "",
            "log\n736\nAAAA\n",
            "log\n736\nAAAA\n\n",
            "736\nAAAA\n\n\u{2014} log AAAAAQID\n",
            "log\n736\n\n\u{2014} log AAAAAQID\n",
            "log\n\nAAAA\n\n\u{2014} log AAAAAQID\n",
            "log\n736\nAAAA\n\n- log AAAAAQID\n",
            "log\n736\nAAAA\n\n\u{2014} log AAA\n",
        ] {
            assert!(Checkpoint::parse(broken).is_err(), "{broken:?}");
        }
    }
}
