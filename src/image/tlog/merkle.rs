//! Merkle inclusion proofs (RFC 9162 §2.1.3.2): the root hash an audit path leads to from the
//! leaf hash of an entry body.

use sha2::{Digest, Sha256};

use super::{InclusionProof, MAX_PROOF_HASHES, TlogError};

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
pub(super) fn verify_inclusion(body: &[u8], proof: &InclusionProof) -> Result<[u8; 32], TlogError> {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::sha256;
    use super::*;

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
}
