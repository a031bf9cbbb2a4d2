//! The SOPS value cipher: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` strings.
//!
//! AES-256-GCM with a 32-byte IV (sops uses `NewGCMWithNonceSize(32)`), the key path as AAD, and
//! typed plaintexts serialised exactly as sops does (see `Value::canonical_bytes`).

use aes_gcm::aead::AeadInPlace;
use aes_gcm::aead::consts::U32;
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, KeyInit, Nonce, Tag};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use std::collections::HashMap;
use zeroize::{Zeroize, Zeroizing};

use super::error::Error;
use super::tree::{Bytes, Value};

type Aes256Gcm32 = AesGcm<Aes256, U32>;

/// A SOPS data key: 32 bytes, wiped on drop.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> DataKey {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut k[..]);
        DataKey(k)
    }

    /// Wraps recovered key bytes; anything but 32 bytes is refused.
    pub fn from_slice(bytes: &[u8]) -> Result<DataKey, Error> {
        if bytes.len() != 32 {
            return Err(Error::KeyRecovery(format!(
                "the recovered data key has {} bytes, expected 32",
                bytes.len()
            )));
        }
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(bytes);
        Ok(DataKey(k))
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The parts of an `ENC[…]` string, still base64-decoded but not decrypted.
pub struct EncValue {
    /// Ciphertext (same length as the plaintext).
    pub data: Vec<u8>,
    /// The IV (32 bytes in every file sops writes).
    pub iv: Vec<u8>,
    /// The 16-byte GCM tag.
    pub tag: Vec<u8>,
    /// The `type:` word.
    pub kind: String,
}

/// Does `s` look like an encrypted value (starts with the `ENC[AES256_GCM,` marker)?
pub fn looks_encrypted(s: &[u8]) -> bool {
    s.starts_with(b"ENC[AES256_GCM,")
}

/// Parses an `ENC[…]` string. Stricter than sops: nothing may follow the closing bracket.
pub fn parse_enc(s: &str) -> Result<EncValue, Error> {
    let bad = || {
        Error::DecryptValue(format!(
            "input string {} does not match sops' data format",
            shorten(s)
        ))
    };
    let rest = s.strip_prefix("ENC[AES256_GCM,data:").ok_or_else(bad)?;
    let rest = rest.strip_suffix(']').ok_or_else(bad)?;
    // The IV, tag and type are short and at the end: search from the end (data may be huge).
    let (rest, kind) = rest.rsplit_once(",type:").ok_or_else(bad)?;
    let (rest, tag) = rest.rsplit_once(",tag:").ok_or_else(bad)?;
    let (data, iv) = rest.rsplit_once(",iv:").ok_or_else(bad)?;
    if data.is_empty() || iv.is_empty() || tag.is_empty() || kind.is_empty() {
        return Err(bad());
    }
    let decode = |part: &str, what: &str| {
        B64.decode(part).map_err(|_| {
            Error::DecryptValue(format!("{what} of {} is not valid base64", shorten(s)))
        })
    };
    let v = EncValue {
        data: decode(data, "data")?,
        iv: decode(iv, "iv")?,
        tag: decode(tag, "tag")?,
        kind: kind.to_string(),
    };
    if v.iv.len() != 32 {
        return Err(Error::DecryptValue(format!(
            "IV of {} has {} bytes; sops always writes 32",
            shorten(s),
            v.iv.len()
        )));
    }
    if v.tag.len() != 16 {
        return Err(Error::DecryptValue(format!(
            "tag of {} is not 16 bytes",
            shorten(s)
        )));
    }
    Ok(v)
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(48).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Remembers the IV of each decrypted (AAD, type, plaintext) so re-encrypting an unchanged value
/// gives byte-identical ciphertext, as sops does during edit/set.
#[derive(Default)]
pub struct IvCache(HashMap<Vec<u8>, [u8; 32]>);

impl IvCache {
    fn key(aad: &str, kind: &str, plain: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(aad.len() + kind.len() + plain.len() + 2);
        k.extend_from_slice(kind.as_bytes());
        k.push(0);
        k.extend_from_slice(aad.as_bytes());
        k.push(0);
        k.extend_from_slice(plain);
        k
    }
}

impl Drop for IvCache {
    fn drop(&mut self) {
        for (mut k, _) in self.0.drain() {
            k.zeroize();
        }
    }
}

/// A value cipher bound to one data key (the AES key schedule is computed once per file).
pub struct Cipher {
    aead: Aes256Gcm32,
    /// IVs seen while decrypting, reused when encrypting the same value again.
    pub ivs: Option<IvCache>,
}

impl Cipher {
    /// A cipher for `key`.
    pub fn new(key: &DataKey) -> Cipher {
        Cipher {
            aead: Aes256Gcm32::new(key.as_bytes().into()),
            ivs: None,
        }
    }

    /// Encrypts raw bytes with the given type tag and AAD. Empty input gives an empty string.
    pub fn encrypt_bytes(&self, plain: &[u8], kind: &str, aad: &str) -> String {
        if plain.is_empty() {
            return String::new();
        }
        let mut iv = [0u8; 32];
        match self
            .ivs
            .as_ref()
            .and_then(|c| c.0.get(&IvCache::key(aad, kind, plain)))
        {
            Some(known) => iv = *known,
            None => rand::rngs::OsRng.fill_bytes(&mut iv),
        }
        // The buffer holds plaintext only until it is encrypted in place.
        let mut buf = plain.to_vec();
        let tag = self
            .aead
            .encrypt_in_place_detached(Nonce::from_slice(&iv), aad.as_bytes(), &mut buf)
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        let mut out = String::with_capacity(buf.len() / 3 * 4 + 128);
        out.push_str("ENC[AES256_GCM,data:");
        B64.encode_string(&buf, &mut out);
        out.push_str(",iv:");
        B64.encode_string(iv, &mut out);
        out.push_str(",tag:");
        B64.encode_string(tag, &mut out);
        out.push_str(",type:");
        out.push_str(kind);
        out.push(']');
        out
    }

    /// Encrypts a leaf value (string, number, bool, time, comment).
    pub fn encrypt_value(&self, v: &Value, aad: &str) -> Option<String> {
        let kind = v.type_tag()?;
        let bytes = v.canonical_bytes()?;
        Some(self.encrypt_bytes(&bytes, kind, aad))
    }

    /// Decrypts an `ENC[…]` string to its raw plaintext bytes and type word.
    pub fn decrypt_raw(&mut self, s: &str, aad: &str) -> Result<(Bytes, String), Error> {
        let enc = parse_enc(s)?;
        let mut buf = Zeroizing::new(enc.data);
        self.aead
            .decrypt_in_place_detached(
                Nonce::from_slice(&enc.iv),
                aad.as_bytes(),
                &mut buf,
                Tag::from_slice(&enc.tag),
            )
            .map_err(|_| {
                Error::DecryptValue(format!(
                    "value at '{aad}' failed authentication (wrong key, or the value, IV, tag or its position was changed)"
                ))
            })?;
        if let Some(cache) = self.ivs.as_mut() {
            let mut iv = [0u8; 32];
            iv.copy_from_slice(&enc.iv);
            cache.0.insert(IvCache::key(aad, &enc.kind, &buf), iv);
        }
        Ok((buf, enc.kind))
    }

    /// Decrypts an `ENC[…]` string into a typed value.
    pub fn decrypt_value(&mut self, s: &str, aad: &str) -> Result<Value, Error> {
        let (bytes, kind) = self.decrypt_raw(s, aad)?;
        typed(bytes, &kind, aad)
    }
}

/// Turns decrypted bytes into a value of the given sops type.
fn typed(bytes: Bytes, kind: &str, aad: &str) -> Result<Value, Error> {
    let text = || {
        std::str::from_utf8(&bytes).map_err(|_| {
            Error::DecryptValue(format!("value at '{aad}' of type {kind} is not UTF-8"))
        })
    };
    let bad = |what: &str| Error::DecryptValue(format!("value at '{aad}' is not a valid {what}"));
    Ok(match kind {
        "str" | "bytes" => Value::Str(bytes),
        "comment" => Value::Comment(Zeroizing::new(text()?.to_string())),
        "int" => Value::Int(parse_go_int(text()?).ok_or_else(|| bad("int"))?),
        "float" => Value::Float(parse_go_float(text()?).ok_or_else(|| bad("float"))?),
        "bool" => Value::Bool(parse_go_bool(text()?).ok_or_else(|| bad("bool"))?),
        "time" => Value::Time(Zeroizing::new(
            super::time::canonical_rfc3339_nano(text()?).ok_or_else(|| bad("RFC 3339 time"))?,
        )),
        other => {
            return Err(Error::DecryptValue(format!(
                "value at '{aad}' has unknown type '{other}'"
            )));
        }
    })
}

/// Go `strconv.Atoi`: optional sign, decimal digits, within i64.
pub fn parse_go_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// Go `strconv.ParseFloat(s, 64)` for the forms sops meets (decimal, exponent, inf, nan).
pub fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let unsigned = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    let neg = lower.starts_with('-');
    match unsigned {
        "inf" | "infinity" => {
            return Some(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "nan" if !lower.starts_with(['+', '-']) => return Some(f64::NAN),
        _ => {}
    }
    if unsigned.contains('_') || unsigned.starts_with("0x") {
        return None;
    }
    if !unsigned
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'e' || b == b'+' || b == b'-')
    {
        return None;
    }
    lower.parse::<f64>().ok()
}

/// Go `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_aad_binding() {
        let key = DataKey::generate();
        let mut c = Cipher::new(&key);
        let enc = c.encrypt_value(&Value::Int(8080), "app:port:").unwrap();
        assert!(enc.starts_with("ENC[AES256_GCM,data:") && enc.ends_with(",type:int]"));
        match c.decrypt_value(&enc, "app:port:").unwrap() {
            Value::Int(8080) => {}
            _ => panic!("wrong value"),
        }
        assert!(c.decrypt_value(&enc, "app:other:").is_err());
        assert_eq!(c.encrypt_bytes(b"", "str", "a:"), "");
    }

    #[test]
    fn known_vector_from_spec() {
        // Data key and value from specs/sops-format.md §10.3 (sample.enc.yaml).
        let key = hex("59ed26fb137e6ce467720cfefa3b080c507550364f9c924c6f2f90266034349e");
        let mut c = Cipher::new(&DataKey::from_slice(&key).unwrap());
        let v = c
            .decrypt_value("ENC[AES256_GCM,data:ZwNszg==,iv:ZGqg9J/ZKqGgAUphROKiEPVhcZNC22+yDs+HmKthdKI=,tag:L+I85FySrwCvGzhz6ATq9A==,type:str]", "app:name:")
            .unwrap();
        match v {
            Value::Str(b) => assert_eq!(&b[..], b"demo"),
            _ => panic!(),
        }
    }

    #[test]
    fn malformed_enc_rejected() {
        for s in [
            "ENC[AES256_GCM,data:,iv:a,tag:b,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]",
            "ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]x",
            "hello",
        ] {
            assert!(parse_enc(s).is_err(), "{s}");
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
