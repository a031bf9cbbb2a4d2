//! Signature verification keys for cosign: PEM/DER SubjectPublicKeyInfo holding ECDSA
//! P-256/P-384/P-521, Ed25519 or RSA. The scheme is fixed by the key type (signatures carry no
//! algorithm id), and each verification says which hash it used.

use std::fmt;

use openssl::nid::Nid;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::der::Decode;

/// Why a key or signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The key bytes are not a supported SubjectPublicKeyInfo.
    #[error("unsupported or malformed public key: {0}")]
    Malformed(String),
    /// The signature does not verify under this key.
    #[error("signature does not verify")]
    BadSignature,
}

/// A verification key parsed from a SubjectPublicKeyInfo.
#[derive(Clone)]
pub enum PublicKey {
    /// ECDSA on NIST P-256 (cosign's default).
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA on NIST P-384.
    P384(p384::ecdsa::VerifyingKey),
    /// ECDSA on NIST P-521 (verified through OpenSSL).
    P521(Box<P521Key>),
    /// Ed25519 (pure, or Ed25519ph as newer cosign signs).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSA (PKCS#1 v1.5 or PSS, SHA-256).
    Rsa(Box<rsa::RsaPublicKey>),
}

/// A P-521 public key: its DER SubjectPublicKeyInfo and SEC1 point (checked on the curve by
/// OpenSSL when parsed).
#[derive(Clone)]
pub struct P521Key {
    spki_der: Vec<u8>,
    point: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.kind())
    }
}

pub(crate) const OID_EC: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_ED25519: spki::ObjectIdentifier = spki::ObjectIdentifier::new_unwrap("1.3.101.112");
pub(crate) const OID_RSA: spki::ObjectIdentifier =
    spki::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        let bad = |e: &dyn fmt::Display| KeyError::Malformed(e.to_string());
        let info = spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| bad(&e))?;
        let key_bytes = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| bad(&"unaligned key bits"))?;
        match info.algorithm.oid {
            OID_EC => {
                let curve = info.algorithm.parameters_oid().map_err(|e| bad(&e))?;
                match curve {
                    OID_P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                        .map(PublicKey::P256)
                        .map_err(|e| bad(&e)),
                    OID_P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                        .map(PublicKey::P384)
                        .map_err(|e| bad(&e)),
                    OID_P521 => {
                        let group = openssl::ec::EcGroup::from_curve_name(Nid::SECP521R1)
                            .map_err(|e| bad(&e))?;
                        let mut ctx = openssl::bn::BigNumContext::new().map_err(|e| bad(&e))?;
                        let point = openssl::ec::EcPoint::from_bytes(&group, key_bytes, &mut ctx)
                            .map_err(|e| bad(&e))?;
                        openssl::ec::EcKey::from_public_key(&group, &point)
                            .and_then(|k| k.check_key())
                            .map_err(|e| bad(&e))?;
                        Ok(PublicKey::P521(Box::new(P521Key {
                            spki_der: der.to_vec(),
                            point: key_bytes.to_vec(),
                        })))
                    }
                    other => Err(bad(&format!("unsupported EC curve {other}"))),
                }
            }
            OID_ED25519 => {
                let raw: [u8; 32] = key_bytes
                    .try_into()
                    .map_err(|_| bad(&"Ed25519 key is not 32 bytes"))?;
                ed25519_dalek::VerifyingKey::from_bytes(&raw)
                    .map(PublicKey::Ed25519)
                    .map_err(|e| bad(&e))
            }
            OID_RSA => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                let key = rsa::RsaPublicKey::from_pkcs1_der(key_bytes).map_err(|e| bad(&e))?;
                if rsa::traits::PublicKeyParts::size(&key) < 256 {
                    return Err(bad(&"RSA keys below 2048 bits are refused"));
                }
                Ok(PublicKey::Rsa(Box::new(key)))
            }
            other => Err(bad(&format!("unsupported key algorithm {other}"))),
        }
    }

    /// Parses a PEM `PUBLIC KEY` block (the first one in `text`).
    pub fn from_pem(text: &str) -> Result<PublicKey, KeyError> {
        let (label, der) = der::pem::decode_vec(first_pem_block(text).as_bytes())
            .map_err(|e| KeyError::Malformed(format!("PEM: {e}")))?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::Malformed(format!(
                "expected a PUBLIC KEY block, found {label}"
            )));
        }
        PublicKey::from_spki_der(&der)
    }

    /// The DER SubjectPublicKeyInfo of this key.
    pub fn to_spki_der(&self) -> Vec<u8> {
        use spki::EncodePublicKey;
        let doc = match self {
            PublicKey::P256(k) => k.to_public_key_der(),
            PublicKey::P384(k) => k.to_public_key_der(),
            PublicKey::P521(k) => return k.spki_der.clone(),
            PublicKey::Ed25519(k) => k.to_public_key_der(),
            PublicKey::Rsa(k) => k.to_public_key_der(),
        };
        doc.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// The PEM `PUBLIC KEY` form, as cosign writes it.
    pub fn to_pem(&self) -> String {
        der::pem::encode_string("PUBLIC KEY", der::pem::LineEnding::LF, &self.to_spki_der())
            .unwrap_or_default()
    }

    /// A short name of the key type, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            PublicKey::P256(_) => "ecdsa-p256",
            PublicKey::P384(_) => "ecdsa-p384",
            PublicKey::P521(_) => "ecdsa-p521",
            PublicKey::Ed25519(_) => "ed25519",
            PublicKey::Rsa(_) => "rsa",
        }
    }

    /// Verifies `sig` over `msg` with the key type's scheme: ECDSA (DER signature; the curve's
    /// hash, and SHA-256 for P-384/P-521 as cosign verifies keys), Ed25519 (pure, then Ed25519ph),
    /// RSA PKCS#1 v1.5 then PSS with SHA-256.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        use signature::hazmat::PrehashVerifier;
        let ok = match self {
            PublicKey::P256(k) => {
                p256::ecdsa::Signature::from_der(sig).map_err(|_| KeyError::BadSignature)?;
                let digest = Sha256::digest(msg);
                ossl_ecdsa(
                    Nid::X9_62_PRIME256V1,
                    &k.to_encoded_point(false),
                    &digest,
                    sig,
                )
                .unwrap_or_else(|| {
                    p256::ecdsa::Signature::from_der(sig)
                        .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok())
                })
            }
            PublicKey::P384(k) => {
                p384::ecdsa::Signature::from_der(sig).map_err(|_| KeyError::BadSignature)?;
                let point = k.to_encoded_point(false);
                [Sha384::digest(msg).to_vec(), Sha256::digest(msg).to_vec()]
                    .iter()
                    .any(|d| {
                        ossl_ecdsa(Nid::SECP384R1, &point, d, sig).unwrap_or_else(|| {
                            p384::ecdsa::Signature::from_der(sig)
                                .is_ok_and(|s| k.verify_prehash(d, &s).is_ok())
                        })
                    })
            }
            // SHA-512 (the curve's hash, as sigstore specifies), or SHA-256 (cosign's default
            // for keys).
            PublicKey::P521(k) => {
                strict_ecdsa_der(sig)?;
                [Sha512::digest(msg).to_vec(), Sha256::digest(msg).to_vec()]
                    .iter()
                    .any(|d| ossl_ecdsa(Nid::SECP521R1, &k.point, d, sig) == Some(true))
            }
            PublicKey::Ed25519(k) => {
                let s = ed25519_dalek::Signature::from_slice(sig)
                    .map_err(|_| KeyError::BadSignature)?;
                k.verify_strict(msg, &s).is_ok() || {
                    let mut h = sha2::Sha512::new();
                    h.update(msg);
                    k.verify_prehashed_strict(h, None, &s).is_ok()
                }
            }
            PublicKey::Rsa(k) => {
                let hashed = Sha256::digest(msg);
                k.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &hashed, sig)
                    .is_ok()
                    || k.verify(rsa::Pss::new::<Sha256>(), &hashed, sig).is_ok()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(KeyError::BadSignature)
        }
    }

    /// Verifies `sig` over an already computed digest (`hash` names it: `sha256`/`sha384`/`sha512`);
    /// used for certificate and SCT signatures whose algorithm is stated explicitly.
    pub fn verify_digest(&self, hash: &str, digest: &[u8], sig: &[u8]) -> Result<(), KeyError> {
        use signature::hazmat::PrehashVerifier;
        let ok = match (self, hash) {
            // OpenSSL does the arithmetic (several times faster than RustCrypto's, most for
            // P-384); the strict DER parse stays RustCrypto's, as in `verify`.
            (PublicKey::P256(k), "sha256" | "sha384" | "sha512") => {
                p256::ecdsa::Signature::from_der(sig).is_ok_and(|s| {
                    ossl_ecdsa(
                        Nid::X9_62_PRIME256V1,
                        &k.to_encoded_point(false),
                        digest,
                        sig,
                    )
                    .unwrap_or_else(|| k.verify_prehash(digest, &s).is_ok())
                })
            }
            (PublicKey::P384(k), "sha256" | "sha384" | "sha512") => {
                p384::ecdsa::Signature::from_der(sig).is_ok_and(|s| {
                    ossl_ecdsa(Nid::SECP384R1, &k.to_encoded_point(false), digest, sig)
                        .unwrap_or_else(|| k.verify_prehash(digest, &s).is_ok())
                })
            }
            (PublicKey::P521(k), "sha256" | "sha384" | "sha512") => {
                strict_ecdsa_der(sig).is_ok()
                    && ossl_ecdsa(Nid::SECP521R1, &k.point, digest, sig) == Some(true)
            }
            (PublicKey::Rsa(k), "sha256") => k
                .verify(rsa::Pkcs1v15Sign::new::<Sha256>(), digest, sig)
                .is_ok(),
            (PublicKey::Rsa(k), "sha384") => k
                .verify(rsa::Pkcs1v15Sign::new::<Sha384>(), digest, sig)
                .is_ok(),
            (PublicKey::Rsa(k), "sha512") => k
                .verify(rsa::Pkcs1v15Sign::new::<sha2::Sha512>(), digest, sig)
                .is_ok(),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(KeyError::BadSignature)
        }
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo (Rekor and CT log ids).
    pub fn log_id(&self) -> [u8; 32] {
        Sha256::digest(self.to_spki_der()).into()
    }
}

/// ECDSA verification of a prehashed message with OpenSSL (several times faster than the
/// pure-Rust curve code); `None` if OpenSSL could not take the key, so the caller falls back.
/// Parsed keys are kept per thread (a policy has few keys; the cache is bounded).
fn ossl_ecdsa(curve: Nid, point: &impl AsRef<[u8]>, digest: &[u8], sig: &[u8]) -> Option<bool> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    type Key = openssl::ec::EcKey<openssl::pkey::Public>;
    thread_local! {
        static KEYS: RefCell<HashMap<Vec<u8>, Key>> = RefCell::new(HashMap::new());
    }
    let point = point.as_ref();
    let sig = openssl::ecdsa::EcdsaSig::from_der(sig).ok()?;
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if !keys.contains_key(point) {
            let group = openssl::ec::EcGroup::from_curve_name(curve).ok()?;
            let mut ctx = openssl::bn::BigNumContext::new().ok()?;
            let p = openssl::ec::EcPoint::from_bytes(&group, point, &mut ctx).ok()?;
            let key = openssl::ec::EcKey::from_public_key(&group, &p).ok()?;
            if keys.len() >= 64 {
                keys.clear();
            }
            keys.insert(point.to_vec(), key);
        }
        sig.verify(digest, keys.get(point)?).ok()
    })
}

/// Refuses ECDSA signatures that are not exactly DER (OpenSSL's parser alone accepts some
/// other encodings), as the RustCrypto parsers used for P-256/P-384 do.
fn strict_ecdsa_der(sig: &[u8]) -> Result<(), KeyError> {
    let parsed = openssl::ecdsa::EcdsaSig::from_der(sig).map_err(|_| KeyError::BadSignature)?;
    match parsed.to_der() {
        Ok(again) if again == sig => Ok(()),
        _ => Err(KeyError::BadSignature),
    }
}

/// The first `-----BEGIN ...-----` … `-----END ...-----` block of `text` (or `text`).
pub fn first_pem_block(text: &str) -> &str {
    let Some(start) = text.find("-----BEGIN ") else {
        return text;
    };
    let rest = &text[start..];
    let Some(end_marker) = rest.find("-----END ") else {
        return rest;
    };
    let tail = &rest[end_marker + 9..];
    let end = tail
        .find("-----")
        .map(|i| end_marker + 9 + i + 5)
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Every PEM block of `text` with the given label, decoded.
pub fn pem_blocks(text: &str, label: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = first_pem_block(&rest[start..]);
        let (found, der) =
            der::pem::decode_vec(block.as_bytes()).map_err(|e| format!("PEM: {e}"))?;
        if found == label {
            out.push(der);
        }
        rest = &rest[start + block.len()..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(path: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../shared/vectors/cosign/containers-image/signature/fixtures/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn reads_cosign_public_keys() {
        let k = PublicKey::from_pem(&vector("cosign.pub")).unwrap();
        assert_eq!(k.kind(), "ecdsa-p256");
        let again = PublicKey::from_pem(&k.to_pem()).unwrap();
        assert_eq!(again.to_spki_der(), k.to_spki_der());
        assert!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
    }

    #[test]
    fn p521_keys_verify_through_openssl() {
        use openssl::ec::{EcGroup, EcKey};
        use openssl::ecdsa::EcdsaSig;
        let group = EcGroup::from_curve_name(Nid::SECP521R1).unwrap();
        let private = EcKey::generate(&group).unwrap();
        let public_der = EcKey::from_public_key(&group, private.public_key())
            .unwrap()
            .public_key_to_der()
            .unwrap();
        let key = PublicKey::from_spki_der(&public_der).unwrap();
        assert_eq!(key.kind(), "ecdsa-p521");
        assert_eq!(key.to_spki_der(), public_der);
        assert_eq!(
            PublicKey::from_pem(&key.to_pem()).unwrap().to_spki_der(),
            public_der
        );
        let msg = b"cosign payload";
        for digest in [Sha512::digest(msg).to_vec(), Sha256::digest(msg).to_vec()] {
            let sig = EcdsaSig::sign(&digest, &private).unwrap().to_der().unwrap();
            assert_eq!(key.verify(msg, &sig), Ok(()));
            assert_eq!(
                key.verify(b"other payload", &sig),
                Err(KeyError::BadSignature)
            );
        }
        let sig = EcdsaSig::sign(&Sha384::digest(msg), &private)
            .unwrap()
            .to_der()
            .unwrap();
        assert_eq!(
            key.verify_digest("sha384", &Sha384::digest(msg), &sig),
            Ok(())
        );
        // A point off the curve is refused when parsed.
        let mut bad = public_der.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(PublicKey::from_spki_der(&bad).is_err());
    }
}
