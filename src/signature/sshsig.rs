//! The SSHSIG format (OpenSSH `PROTOCOL.sshsig`): armor, blob fields and the bytes signed.

use base64::Engine;
use sha2::Digest;

/// A parsed `-----BEGIN SSH SIGNATURE-----` block.
#[derive(Debug, Clone)]
pub struct SshSig {
    /// The signer's public key blob (a plain key or an OpenSSH certificate).
    pub public_key: Vec<u8>,
    /// The namespace (git uses `git`).
    pub namespace: String,
    /// The reserved field (empty in every signature OpenSSH makes).
    pub reserved: Vec<u8>,
    /// `sha256` or `sha512`.
    pub hash_algorithm: String,
    /// The signature blob (`string algorithm, string signature`).
    pub signature: Vec<u8>,
}

const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
const END: &str = "-----END SSH SIGNATURE-----";
/// Largest armored signature accepted.
const MAX_ARMOR: usize = 64 * 1024;

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// Appends an SSH `string` (length-prefixed bytes).
pub fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

impl SshSig {
    /// Parses the armored signature strictly: exact armor lines, canonical base64, version 1,
    /// no trailing bytes.
    pub fn from_armor(armored: &[u8]) -> Result<SshSig, String> {
        if armored.len() > MAX_ARMOR {
            return Err("SSH signature is too large".into());
        }
        let text = std::str::from_utf8(armored).map_err(|_| "SSH signature is not ASCII")?;
        let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
        if lines.len() < 3 || lines[0] != BEGIN || lines[lines.len() - 1] != END {
            return Err("malformed SSH signature armor".into());
        }
        let body: String = lines[1..lines.len() - 1].concat();
        let blob = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| "SSH signature armor is not valid base64")?;
        SshSig::from_blob(&blob)
    }

    /// Parses the binary blob.
    pub fn from_blob(blob: &[u8]) -> Result<SshSig, String> {
        let mut r = Reader(blob);
        let bad = || "malformed SSH signature blob".to_string();
        if r.take(6) != Some(b"SSHSIG".as_slice()) {
            return Err(bad());
        }
        if r.u32() != Some(1) {
            return Err("unsupported SSH signature version".into());
        }
        let public_key = r.string().ok_or_else(bad)?.to_vec();
        let namespace =
            String::from_utf8(r.string().ok_or_else(bad)?.to_vec()).map_err(|_| bad())?;
        let reserved = r.string().ok_or_else(bad)?.to_vec();
        let hash_algorithm =
            String::from_utf8(r.string().ok_or_else(bad)?.to_vec()).map_err(|_| bad())?;
        let signature = r.string().ok_or_else(bad)?.to_vec();
        if !r.0.is_empty() {
            return Err("trailing bytes after the SSH signature blob".into());
        }
        Ok(SshSig {
            public_key,
            namespace,
            reserved,
            hash_algorithm,
            signature,
        })
    }

    /// The bytes the key signed for `message`; refuses hash algorithms other than sha256/sha512.
    pub fn signed_data(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let digest: Vec<u8> = match self.hash_algorithm.as_str() {
            "sha256" => sha2::Sha256::digest(message).to_vec(),
            "sha512" => sha2::Sha512::digest(message).to_vec(),
            other => {
                return Err(format!(
                    "hash algorithm '{other}' is not allowed (sha256 or sha512 only)"
                ));
            }
        };
        let mut out = b"SSHSIG".to_vec();
        put_string(&mut out, self.namespace.as_bytes());
        put_string(&mut out, &self.reserved);
        put_string(&mut out, self.hash_algorithm.as_bytes());
        put_string(&mut out, &digest);
        Ok(out)
    }

    /// The signature algorithm name inside the signature blob (e.g. `rsa-sha2-512`).
    pub fn signature_algorithm(&self) -> Option<String> {
        let mut r = Reader(&self.signature);
        r.string().and_then(|a| String::from_utf8(a.to_vec()).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_malformed() {
        assert!(SshSig::from_armor(b"").is_err());
        assert!(
            SshSig::from_armor(
                b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"
            )
            .is_err()
        );
        let mut blob = b"SSHSIG".to_vec();
        blob.extend_from_slice(&1u32.to_be_bytes());
        for f in [&b"key"[..], b"git", b"", b"sha512", b"sig"] {
            put_string(&mut blob, f);
        }
        let s = SshSig::from_blob(&blob).unwrap();
        assert_eq!(s.namespace, "git");
        blob.push(0);
        assert!(SshSig::from_blob(&blob).is_err());
    }
}
