//! cosign-compatible signing keys: the encrypted private key file that `cosign generate-key-pair`
//! writes (PEM `ENCRYPTED COSIGN PRIVATE KEY` or `ENCRYPTED SIGSTORE PRIVATE KEY`), and the
//! unencrypted PEM forms `cosign import-key-pair` reads.
//!
//! The encrypted form is PEM over base64 of a compact JSON document:
//! `{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"…"},
//! "cipher":{"name":"nacl/secretbox","nonce":"…"},"ciphertext":"…"}`. The secretbox key is
//! scrypt(password, salt) with a 32-byte output; the ciphertext is NaCl secretbox
//! (XSalsa20-Poly1305, tag first) over the private key as PKCS#8 DER.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::pubkey::{PublicKey, first_pem_block};

/// PEM label written by [`SigningKey::encrypt`] (cosign < 2.0.1; read by every cosign reader).
pub const LABEL_COSIGN: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// PEM label written by cosign ≥ 2.0.1 and sigstore-rs; accepted when reading.
pub const LABEL_SIGSTORE: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";

/// scrypt cost parameter written by [`SigningKey::encrypt`] (the one every reader accepts).
const WRITE_N: u64 = 32768;
/// scrypt cost parameters accepted when reading; anything else is refused (DoS guard).
const ACCEPTED_N: [u64; 3] = [32768, 65536, 131072];
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
const KDF_NAME: &str = "scrypt";
const CIPHER_NAME: &str = "nacl/secretbox";
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Largest PEM text accepted (an encrypted RSA-4096 key is under 5 KiB).
const MAX_PEM: usize = 64 * 1024;

const OID_EC: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ED25519: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA: pkcs8::ObjectIdentifier =
    pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Why a private key could not be read or written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CosignKeyError {
    /// The secretbox did not authenticate: wrong password (or a tampered file).
    #[error("wrong password for the private key (or the key file was altered)")]
    WrongPassword,
    /// The text is not a well-formed key file (PEM, base64, JSON, field sizes, PKCS#8).
    #[error("malformed private key: {0}")]
    Malformed(String),
    /// A well-formed file whose KDF or cipher parameters are not accepted (for example an
    /// scrypt cost other than N = 32768, 65536 or 131072 with r = 8, p = 1).
    #[error("unsupported private key parameters: {0}")]
    UnsupportedParameters(String),
    /// A well-formed private key of a type that cannot be used for signing here (RSA,
    /// curves other than P-256/P-384).
    #[error("unsupported private key type: {0}")]
    UnsupportedKey(String),
    /// Encoding or encrypting the key failed (not expected with valid keys).
    #[error("cannot encode the private key: {0}")]
    Encode(String),
}

/// A private key that signs cosign payloads. Secret material is zeroized on drop by the
/// underlying key types; `Debug` shows only the key type.
pub enum SigningKey {
    /// ECDSA on NIST P-256 with SHA-256 (cosign's default).
    P256(p256::ecdsa::SigningKey),
    /// ECDSA on NIST P-384 with SHA-384.
    P384(p384::ecdsa::SigningKey),
    /// Ed25519 (pure).
    Ed25519(ed25519_dalek::SigningKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.kind())
    }
}

impl SigningKey {
    /// A fresh ECDSA P-256 key from the operating system's RNG.
    pub fn generate_p256() -> SigningKey {
        SigningKey::P256(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// A short name of the key type, for messages (same names as [`PublicKey::kind`]).
    pub fn kind(&self) -> &'static str {
        match self {
            SigningKey::P256(_) => "ecdsa-p256",
            SigningKey::P384(_) => "ecdsa-p384",
            SigningKey::Ed25519(_) => "ed25519",
        }
    }

    /// Signs `msg`: ECDSA P-256/SHA-256 or P-384/SHA-384 (RFC 6979 nonces, DER signature), or
    /// pure Ed25519 (64 bytes). This is what `cosign sign --key` puts in the signature
    /// annotation (before base64).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        use signature::Signer;
        match self {
            SigningKey::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(msg);
                s.to_der().as_bytes().to_vec()
            }
            SigningKey::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign(msg);
                s.to_der().as_bytes().to_vec()
            }
            SigningKey::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
        }
    }

    /// Signs a SHA-256 digest as ECDSA does for a message with that digest (a sigstore
    /// bundle's message signature over an artifact); `None` for Ed25519, which signs whole
    /// messages only.
    pub fn sign_sha256_digest(&self, digest: &[u8; 32]) -> Option<Vec<u8>> {
        use signature::hazmat::PrehashSigner;
        match self {
            SigningKey::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign_prehash(digest).ok()?;
                Some(s.to_der().as_bytes().to_vec())
            }
            SigningKey::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign_prehash(digest).ok()?;
                Some(s.to_der().as_bytes().to_vec())
            }
            SigningKey::Ed25519(_) => None,
        }
    }

    /// The matching verification key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::P256(k) => PublicKey::P256(*k.verifying_key()),
            SigningKey::P384(k) => PublicKey::P384(*k.verifying_key()),
            SigningKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// Reads a PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` (DER) holding an ECDSA P-256 or
    /// P-384 key or an Ed25519 key. RSA and other curves are refused as
    /// [`CosignKeyError::UnsupportedKey`].
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, CosignKeyError> {
        let bad = |e: &dyn fmt::Display| CosignKeyError::Malformed(format!("PKCS#8: {e}"));
        let info = pkcs8::PrivateKeyInfo::try_from(der).map_err(|e| bad(&e))?;
        match info.algorithm.oid {
            OID_EC => match info.algorithm.parameters_oid().map_err(|e| bad(&e))? {
                OID_P256 => p256::SecretKey::from_pkcs8_der(der)
                    .map(|k| SigningKey::P256(k.into()))
                    .map_err(|e| bad(&e)),
                OID_P384 => p384::SecretKey::from_pkcs8_der(der)
                    .map(|k| SigningKey::P384(k.into()))
                    .map_err(|e| bad(&e)),
                other => Err(CosignKeyError::UnsupportedKey(format!(
                    "EC curve {other} (only P-256 and P-384)"
                ))),
            },
            OID_ED25519 => ed25519_dalek::SigningKey::from_pkcs8_der(der)
                .map(SigningKey::Ed25519)
                .map_err(|e| bad(&e)),
            OID_RSA => Err(CosignKeyError::UnsupportedKey(
                "RSA signing keys are not supported (use ECDSA P-256)".into(),
            )),
            other => Err(CosignKeyError::UnsupportedKey(format!(
                "key algorithm {other}"
            ))),
        }
    }

    /// The private key as PKCS#8 DER (what the encrypted file holds), zeroized on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, CosignKeyError> {
        let doc = match self {
            SigningKey::P256(k) => k.to_pkcs8_der(),
            SigningKey::P384(k) => k.to_pkcs8_der(),
            SigningKey::Ed25519(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| CosignKeyError::Encode(e.to_string()))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// Encrypts the key the way cosign does: PEM label `ENCRYPTED COSIGN PRIVATE KEY`, scrypt
    /// N = 32768, r = 8, p = 1 with a fresh 32-byte salt, secretbox with a fresh 24-byte nonce
    /// (both from the OS RNG), compact JSON, 64-column base64 lines, trailing newline.
    /// The password may be empty.
    pub fn encrypt(&self, password: &[u8]) -> Result<String, CosignKeyError> {
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let key = derive_key(password, &salt, WRITE_N)?;
        let mut buf = self.to_pkcs8_der()?;
        XSalsa20Poly1305::new(Key::from_slice(key.as_slice()))
            .encrypt_in_place(Nonce::from_slice(&nonce), b"", &mut *buf)
            .map_err(|_| CosignKeyError::Encode("secretbox encryption failed".into()))?;
        let doc = Envelope {
            kdf: Kdf {
                name: KDF_NAME.into(),
                params: ScryptParams {
                    n: WRITE_N,
                    r: SCRYPT_R,
                    p: SCRYPT_P,
                },
                salt: B64.encode(salt),
            },
            cipher: Cipher {
                name: CIPHER_NAME.into(),
                nonce: B64.encode(nonce),
            },
            ciphertext: B64.encode(buf.as_slice()),
        };
        let json = serde_json::to_vec(&doc).map_err(|e| CosignKeyError::Encode(e.to_string()))?;
        der::pem::encode_string(LABEL_COSIGN, der::pem::LineEnding::LF, &json)
            .map_err(|e| CosignKeyError::Encode(e.to_string()))
    }
}

/// The JSON inside the encrypted PEM, in cosign's field order.
#[derive(Serialize, Deserialize)]
struct Envelope {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// scrypt(password, salt, N, 8, 1) → 32-byte secretbox key. `n` must be a power of two.
fn derive_key(password: &[u8], salt: &[u8], n: u64) -> Result<Zeroizing<[u8; 32]>, CosignKeyError> {
    let log_n = u8::try_from(n.trailing_zeros()).unwrap_or(u8::MAX);
    let params = scrypt::Params::new(log_n, SCRYPT_R, SCRYPT_P, 32)
        .map_err(|e| CosignKeyError::UnsupportedParameters(format!("scrypt: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, salt, &params, out.as_mut_slice())
        .map_err(|e| CosignKeyError::UnsupportedParameters(format!("scrypt: {e}")))?;
    Ok(out)
}

/// Decrypts a cosign encrypted private key (label `ENCRYPTED COSIGN PRIVATE KEY` or
/// `ENCRYPTED SIGSTORE PRIVATE KEY`; text before the PEM block is ignored). Only scrypt with
/// N ∈ {32768, 65536, 131072}, r = 8, p = 1 and `nacl/secretbox` are accepted. The password
/// may be empty. A failed secretbox authentication is [`CosignKeyError::WrongPassword`].
pub fn decrypt(pem_text: &str, password: &[u8]) -> Result<SigningKey, CosignKeyError> {
    let malformed = |m: String| CosignKeyError::Malformed(m);
    if pem_text.len() > MAX_PEM {
        return Err(malformed(format!("key file larger than {MAX_PEM} bytes")));
    }
    let (label, json) = der::pem::decode_vec(first_pem_block(pem_text).as_bytes())
        .map_err(|e| malformed(format!("PEM: {e}")))?;
    if label != LABEL_COSIGN && label != LABEL_SIGSTORE {
        return Err(malformed(format!(
            "expected an {LABEL_COSIGN} or {LABEL_SIGSTORE} block, found {label}"
        )));
    }
    let doc: Envelope =
        serde_json::from_slice(&json).map_err(|e| malformed(format!("JSON: {e}")))?;
    if doc.kdf.name != KDF_NAME {
        return Err(CosignKeyError::UnsupportedParameters(format!(
            "KDF {:?} (only {KDF_NAME})",
            doc.kdf.name
        )));
    }
    let ScryptParams { n, r, p } = doc.kdf.params;
    if !ACCEPTED_N.contains(&n) || r != SCRYPT_R || p != SCRYPT_P {
        return Err(CosignKeyError::UnsupportedParameters(format!(
            "scrypt N={n} r={r} p={p} (accepted: N 32768, 65536 or 131072 with r=8, p=1)"
        )));
    }
    if doc.cipher.name != CIPHER_NAME {
        return Err(CosignKeyError::UnsupportedParameters(format!(
            "cipher {:?} (only {CIPHER_NAME})",
            doc.cipher.name
        )));
    }
    let field = |name: &str, v: &str| {
        B64.decode(v)
            .map_err(|e| malformed(format!("{name} is not base64: {e}")))
    };
    let salt = field("salt", &doc.kdf.salt)?;
    if salt.is_empty() {
        return Err(malformed("empty salt".into()));
    }
    let nonce = field("nonce", &doc.cipher.nonce)?;
    if nonce.len() != NONCE_LEN {
        return Err(malformed(format!(
            "nonce is {} bytes, expected {NONCE_LEN}",
            nonce.len()
        )));
    }
    let mut buf = Zeroizing::new(field("ciphertext", &doc.ciphertext)?);
    if buf.len() <= TAG_LEN {
        return Err(malformed(
            "ciphertext shorter than the secretbox tag".into(),
        ));
    }
    let key = derive_key(password, &salt, n)?;
    XSalsa20Poly1305::new(Key::from_slice(key.as_slice()))
        .decrypt_in_place(Nonce::from_slice(&nonce), b"", &mut *buf)
        .map_err(|_| CosignKeyError::WrongPassword)?;
    SigningKey::from_pkcs8_der(&buf)
}

/// Reads an unencrypted private key as `cosign import-key-pair` does: PEM `PRIVATE KEY`
/// (PKCS#8) or `EC PRIVATE KEY` (SEC1, P-256 or P-384). PKCS#1 `RSA PRIVATE KEY` is refused
/// as [`CosignKeyError::UnsupportedKey`].
pub fn from_unencrypted_pem(pem_text: &str) -> Result<SigningKey, CosignKeyError> {
    let malformed = |m: String| CosignKeyError::Malformed(m);
    if pem_text.len() > MAX_PEM {
        return Err(malformed(format!("key file larger than {MAX_PEM} bytes")));
    }
    let (label, der) = der::pem::decode_vec(first_pem_block(pem_text).as_bytes())
        .map_err(|e| malformed(format!("PEM: {e}")))?;
    let der = Zeroizing::new(der);
    match label {
        "PRIVATE KEY" => SigningKey::from_pkcs8_der(&der),
        "EC PRIVATE KEY" => {
            // The curve comes from the SEC1 parameters; P-256 first (cosign's default).
            if let Ok(k) = p256::SecretKey::from_sec1_der(&der) {
                Ok(SigningKey::P256(k.into()))
            } else if let Ok(k) = p384::SecretKey::from_sec1_der(&der) {
                Ok(SigningKey::P384(k.into()))
            } else {
                Err(malformed(
                    "EC PRIVATE KEY is not a SEC1 P-256 or P-384 key".into(),
                ))
            }
        }
        "RSA PRIVATE KEY" => Err(CosignKeyError::UnsupportedKey(
            "RSA signing keys are not supported (use ECDSA P-256)".into(),
        )),
        LABEL_COSIGN | LABEL_SIGSTORE => Err(malformed(
            "the key is encrypted; a password is needed".into(),
        )),
        other => Err(malformed(format!(
            "expected a PRIVATE KEY or EC PRIVATE KEY block, found {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../shared/vectors/cosign/sigstore-rs/tests/data/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn roundtrip_sign(k: &SigningKey) {
        let msg = b"cosign payload";
        let sig = k.sign(msg);
        k.public_key().verify(msg, &sig).unwrap();
        assert!(k.public_key().verify(b"other payload", &sig).is_err());
    }

    /// (file, password or None for the unencrypted reader, expected kind or None for RSA).
    type Case = (&'static str, Option<&'static [u8]>, Option<&'static str>);

    #[test]
    fn every_sigstore_rs_vector_reads() {
        let cases: [Case; 7] = [
            (
                "ecdsa_encrypted_private.key",
                Some(b"123"),
                Some("ecdsa-p256"),
            ),
            (
                "cosign_generated_encrypted_empty_private.key",
                Some(b""),
                Some("ecdsa-p256"),
            ),
            (
                "ed25519_encrypted_private.key",
                Some(b"123"),
                Some("ed25519"),
            ),
            ("rsa_encrypted_private.key", Some(b"123"), None),
            ("ecdsa_private.key", None, Some("ecdsa-p256")),
            ("ed25519_private.key", None, Some("ed25519")),
            ("rsa_private.key", None, None),
        ];
        let dir = format!(
            "{}/../shared/vectors/cosign/sigstore-rs/tests/data/keys",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let mut listed: Vec<String> = cases.iter().map(|c| c.0.to_string()).collect();
        listed.sort();
        assert_eq!(files, listed, "every vector file is covered");
        for (name, password, kind) in cases {
            let text = vector(name);
            let got = match password {
                Some(pw) => decrypt(&text, pw),
                None => from_unencrypted_pem(&text),
            };
            match kind {
                Some(kind) => {
                    let k = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(k.kind(), kind, "{name}");
                    roundtrip_sign(&k);
                }
                // RSA: the password is right (the secretbox opens) but the key type is refused.
                None => assert!(
                    matches!(got, Err(CosignKeyError::UnsupportedKey(_))),
                    "{name}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn wrong_password() {
        let text = vector("ecdsa_encrypted_private.key");
        assert_eq!(
            decrypt(&text, b"1234").unwrap_err(),
            CosignKeyError::WrongPassword
        );
        let text = vector("cosign_generated_encrypted_empty_private.key");
        assert_eq!(
            decrypt(&text, b"x").unwrap_err(),
            CosignKeyError::WrongPassword
        );
    }

    #[test]
    fn encrypt_decrypt_round_trip() {
        let k = SigningKey::generate_p256();
        let pem = k.encrypt(b"s3cret").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n"));
        assert!(pem.ends_with("-----END ENCRYPTED COSIGN PRIVATE KEY-----\n"));
        for line in pem.lines() {
            assert!(line.len() <= 64, "{line}");
        }
        let back = decrypt(&pem, b"s3cret").unwrap();
        assert_eq!(
            back.public_key().to_spki_der(),
            k.public_key().to_spki_der()
        );
        // Envelope layout and parameters, byte for byte in cosign's field order.
        let (_, json) = der::pem::decode_vec(pem.as_bytes()).unwrap();
        let json = String::from_utf8(json).unwrap();
        assert!(
            json.starts_with(
                r#"{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":""#
            ),
            "{json}"
        );
        assert!(json.contains(r#"},"cipher":{"name":"nacl/secretbox","nonce":""#));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            B64.decode(v["kdf"]["salt"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            B64.decode(v["cipher"]["nonce"].as_str().unwrap())
                .unwrap()
                .len(),
            24
        );
        // Fresh salt and nonce each time.
        assert_ne!(k.encrypt(b"s3cret").unwrap(), pem);
        // Empty password.
        let pem = k.encrypt(b"").unwrap();
        assert!(decrypt(&pem, b"").is_ok());
        assert_eq!(
            decrypt(&pem, b"s3cret").unwrap_err(),
            CosignKeyError::WrongPassword
        );
    }

    #[test]
    fn other_key_types_round_trip() {
        let k = from_unencrypted_pem(&vector("ed25519_private.key")).unwrap();
        let back = decrypt(&k.encrypt(b"pw").unwrap(), b"pw").unwrap();
        assert_eq!(
            back.public_key().to_spki_der(),
            k.public_key().to_spki_der()
        );
        let p384 = SigningKey::P384(p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng));
        let back = decrypt(&p384.encrypt(b"pw").unwrap(), b"pw").unwrap();
        assert_eq!(back.kind(), "ecdsa-p384");
        roundtrip_sign(&back);
        let sig = back.sign(b"m");
        // SHA-384 DER signature.
        use signature::hazmat::PrehashVerifier;
        let PublicKey::P384(vk) = back.public_key() else {
            panic!()
        };
        let s = p384::ecdsa::Signature::from_der(&sig).unwrap();
        use sha2::Digest;
        vk.verify_prehash(&sha2::Sha384::digest(b"m"), &s).unwrap();
    }

    /// Rewrites the JSON inside an encrypted PEM and re-armours it with `label`.
    fn rewrap(pem: &str, label: &str, edit: impl Fn(&mut serde_json::Value)) -> String {
        let (_, json) = der::pem::decode_vec(pem.as_bytes()).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        edit(&mut v);
        der::pem::encode_string(
            label,
            der::pem::LineEnding::LF,
            serde_json::to_string(&v).unwrap().as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn tampered_ciphertext_is_wrong_password() {
        let pem = SigningKey::generate_p256().encrypt(b"pw").unwrap();
        for pos in [0usize, 20, 60] {
            let t = rewrap(&pem, LABEL_COSIGN, |v| {
                let mut ct = B64.decode(v["ciphertext"].as_str().unwrap()).unwrap();
                ct[pos] ^= 1;
                v["ciphertext"] = B64.encode(ct).into();
            });
            assert_eq!(
                decrypt(&t, b"pw").unwrap_err(),
                CosignKeyError::WrongPassword
            );
        }
        // A different nonce or salt also fails authentication.
        let t = rewrap(&pem, LABEL_COSIGN, |v| {
            v["cipher"]["nonce"] = B64.encode([7u8; 24]).into()
        });
        assert_eq!(
            decrypt(&t, b"pw").unwrap_err(),
            CosignKeyError::WrongPassword
        );
        // The sigstore label is accepted too.
        let t = rewrap(&pem, LABEL_SIGSTORE, |_| {});
        assert!(decrypt(&t, b"pw").is_ok());
    }

    #[test]
    fn refused_parameters() {
        let pem = SigningKey::generate_p256().encrypt(b"pw").unwrap();
        let unsupported = |edit: &dyn Fn(&mut serde_json::Value)| {
            let t = rewrap(&pem, LABEL_COSIGN, edit);
            match decrypt(&t, b"pw") {
                Err(CosignKeyError::UnsupportedParameters(_)) => {}
                other => panic!("{other:?}"),
            }
        };
        unsupported(&|v| v["kdf"]["params"]["N"] = 1024.into());
        unsupported(&|v| v["kdf"]["params"]["N"] = (1u64 << 20).into());
        unsupported(&|v| v["kdf"]["params"]["N"] = 32769.into());
        unsupported(&|v| v["kdf"]["params"]["r"] = 16.into());
        unsupported(&|v| v["kdf"]["params"]["p"] = 2.into());
        unsupported(&|v| v["kdf"]["name"] = "pbkdf2".into());
        unsupported(&|v| v["cipher"]["name"] = "aes-gcm".into());

        let malformed = |edit: &dyn Fn(&mut serde_json::Value), label: &str| {
            let t = rewrap(&pem, label, edit);
            match decrypt(&t, b"pw") {
                Err(CosignKeyError::Malformed(_)) => {}
                other => panic!("{other:?}"),
            }
        };
        malformed(&|v| v["kdf"]["params"]["N"] = (-1).into(), LABEL_COSIGN);
        malformed(&|v| v["kdf"]["params"]["N"] = "32768".into(), LABEL_COSIGN);
        malformed(&|v| v["kdf"]["salt"] = "".into(), LABEL_COSIGN);
        malformed(&|v| v["kdf"]["salt"] = "!!".into(), LABEL_COSIGN);
        malformed(
            &|v| v["cipher"]["nonce"] = B64.encode([0u8; 12]).into(),
            LABEL_COSIGN,
        );
        malformed(
            &|v| v["ciphertext"] = B64.encode([0u8; 16]).into(),
            LABEL_COSIGN,
        );
        malformed(&|v| v.as_object_mut().unwrap().clear(), LABEL_COSIGN);
        malformed(&|_| {}, "PRIVATE KEY");
        for junk in [
            "",
            "hello",
            "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----\n!!\n",
        ] {
            assert!(matches!(
                decrypt(junk, b""),
                Err(CosignKeyError::Malformed(_))
            ));
            assert!(matches!(
                from_unencrypted_pem(junk),
                Err(CosignKeyError::Malformed(_))
            ));
        }
        // An encrypted file given to the unencrypted reader says so.
        assert!(
            matches!(from_unencrypted_pem(&pem), Err(CosignKeyError::Malformed(m)) if m.contains("encrypted"))
        );
    }

    #[test]
    fn sec1_ec_private_key() {
        let k = SigningKey::generate_p256();
        let SigningKey::P256(inner) = &k else {
            panic!()
        };
        let sec1 = p256::SecretKey::from(inner).to_sec1_der().unwrap();
        let pem =
            der::pem::encode_string("EC PRIVATE KEY", der::pem::LineEnding::LF, &sec1).unwrap();
        let back = from_unencrypted_pem(&pem).unwrap();
        assert_eq!(
            back.public_key().to_spki_der(),
            k.public_key().to_spki_der()
        );

        let k384 = p384::SecretKey::random(&mut rand::rngs::OsRng);
        let sec1 = k384.to_sec1_der().unwrap();
        let pem =
            der::pem::encode_string("EC PRIVATE KEY", der::pem::LineEnding::LF, &sec1).unwrap();
        assert_eq!(from_unencrypted_pem(&pem).unwrap().kind(), "ecdsa-p384");
    }

    #[test]
    fn p256_signature_verifies_under_pem_round_tripped_public_key() {
        let k = SigningKey::generate_p256();
        let msg = br#"{"critical":{"identity":{"docker-reference":"r"}},"optional":null}"#;
        let sig = k.sign(msg);
        // DER-encoded ECDSA signature.
        assert_eq!(sig.first(), Some(&0x30));
        let pem = k.public_key().to_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let pk = PublicKey::from_pem(&pem).unwrap();
        assert_eq!(pk.kind(), "ecdsa-p256");
        pk.verify(msg, &sig).unwrap();
        assert!(pk.verify(b"tampered", &sig).is_err());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let k = decrypt(&vector("ecdsa_encrypted_private.key"), b"123").unwrap();
        let d = format!("{k:?}");
        assert_eq!(d, "SigningKey(ecdsa-p256)");
    }
}
