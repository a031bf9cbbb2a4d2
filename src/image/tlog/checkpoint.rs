//! Signed checkpoints (a signed note): the log's signature over the tree size and root hash an
//! inclusion proof leads to.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::{InclusionProof, MAX_CHECKPOINT, TlogError};
use crate::image::pubkey::PublicKey;
use crate::image::trust_root::TrustedKey;

/// Checks the checkpoint (a signed note) names the proof's tree and is signed by `key`.
pub(super) fn verify_checkpoint(
    proof: &InclusionProof,
    root_hash: &[u8; 32],
    key: &TrustedKey,
) -> Result<(), TlogError> {
    let bad = |why: &str| TlogError::BadCheckpoint(why.to_string());
    let text = proof.checkpoint.as_str();
    if text.is_empty() {
        return Err(bad("the inclusion proof carries no checkpoint"));
    }
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
