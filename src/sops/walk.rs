//! Walking documents in sops order: encrypting, decrypting and computing the MAC.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cipher::{Cipher, looks_encrypted};
use super::error::Error;
use super::rules::Selector;
use super::tree::{Entry, Text, Value};

/// A leaf the walk visits: a value, or a comment line of a mapping.
enum Leaf<'a> {
    Value(&'a mut Value),
    Comment(&'a mut Text),
}

/// Walk state shared by all levels.
struct Walk<'s, F> {
    selector: &'s Selector,
    /// Comments in scope for the comment rules (only filled when the selector needs them).
    comments: Vec<String>,
    aad: String,
    /// Lengths of `aad` at each enclosing mapping, for the ancestor paths of a comment.
    levels: Vec<usize>,
    on_leaf: F,
}

impl<F> Walk<'_, F>
where
    F: FnMut(Leaf<'_>, &str, bool, &[String]) -> Result<(), Error>,
{
    fn encrypts(&self, key_hit: bool, own: Option<&str>) -> bool {
        match self.selector {
            Selector::UnencryptedSuffix(_) | Selector::UnencryptedRegex(_) => !key_hit,
            Selector::EncryptedSuffix(_) | Selector::EncryptedRegex(_) => key_hit,
            sel => {
                let scope: Vec<&str> = self.comments.iter().map(String::as_str).collect();
                sel.encrypts(&[], &scope, own)
            }
        }
    }

    fn key_matches(&self, key: &str) -> bool {
        match self.selector {
            Selector::UnencryptedSuffix(s) | Selector::EncryptedSuffix(s) => {
                key.ends_with(s.as_str())
            }
            Selector::UnencryptedRegex(r) | Selector::EncryptedRegex(r) => r.is_match(key),
            _ => false,
        }
    }

    /// Paths a comment of `entries[idx]` may have been encrypted under if a YAML emitter moved
    /// it across a mapping boundary: the enclosing mappings, and the mappings that end just
    /// before it or start just after it (sops's own emitter moves trailing comments like that).
    fn comment_alternatives(&self, entries: &[Entry], idx: usize) -> Vec<String> {
        let mut out: Vec<String> = self
            .levels
            .iter()
            .rev()
            .map(|&l| format!("{}:", &self.aad[..l]))
            .collect();
        let join = |base: &str, k: &str| {
            if base.is_empty() {
                k.to_string()
            } else {
                format!("{base}:{k}")
            }
        };
        let mut chain = |start: Option<&Entry>, last: bool| {
            let mut cur = start;
            let mut path = self.aad.clone();
            while let Some(Entry::Pair(k, v)) = cur {
                path = join(&path, k);
                out.push(format!("{path}:"));
                cur = match v {
                    Value::Map(e) if last => e.iter().rev().find(|x| matches!(x, Entry::Pair(..))),
                    Value::Map(e) => e.iter().find(|x| matches!(x, Entry::Pair(..))),
                    _ => None,
                };
            }
        };
        chain(
            entries[..idx]
                .iter()
                .rev()
                .find(|x| matches!(x, Entry::Pair(..))),
            true,
        );
        chain(
            entries[idx + 1..]
                .iter()
                .find(|x| matches!(x, Entry::Pair(..))),
            false,
        );
        out
    }

    fn comment(
        &mut self,
        text: &mut Text,
        key_hit: bool,
        alternatives: &[String],
    ) -> Result<(), Error> {
        let enc = self.encrypts(key_hit, Some(text.as_str()));
        let aad = format!("{}:", self.aad);
        (self.on_leaf)(Leaf::Comment(text), &aad, enc, alternatives)?;
        if self.selector.uses_comments() {
            self.comments.push(text.to_string());
        }
        Ok(())
    }

    fn map(&mut self, entries: &mut [Entry], key_hit: bool) -> Result<(), Error> {
        let base = self.comments.len();
        for idx in 0..entries.len() {
            let alternatives = match &entries[idx] {
                Entry::Comment(_) => self.comment_alternatives(entries, idx),
                Entry::Pair(..) => Vec::new(),
            };
            match &mut entries[idx] {
                Entry::Comment(text) => self.comment(text, key_hit, &alternatives)?,
                Entry::Pair(key, value) => {
                    let hit = key_hit || self.key_matches(key);
                    let saved = self.aad.len();
                    self.levels.push(saved);
                    if !self.aad.is_empty() {
                        self.aad.push(':');
                    }
                    self.aad.push_str(key);
                    self.node(value, hit)?;
                    self.aad.truncate(saved);
                    self.levels.pop();
                    self.comments.truncate(base);
                }
            }
        }
        self.comments.truncate(base);
        Ok(())
    }

    fn node(&mut self, value: &mut Value, key_hit: bool) -> Result<(), Error> {
        match value {
            Value::Null => Ok(()),
            Value::Map(entries) => self.map(entries, key_hit),
            Value::Seq(items) => {
                let base = self.comments.len();
                for item in items.iter_mut() {
                    self.node(item, key_hit)?;
                    match item {
                        Value::Comment(c) if self.selector.uses_comments() => {
                            self.comments.push(c.to_string())
                        }
                        _ => self.comments.truncate(base),
                    }
                }
                self.comments.truncate(base);
                Ok(())
            }
            Value::Comment(_) => {
                let own = match value {
                    Value::Comment(c) => Some(c.to_string()),
                    _ => None,
                };
                let enc = self.encrypts(key_hit, own.as_deref());
                let aad = format!("{}:", self.aad);
                (self.on_leaf)(Leaf::Value(value), &aad, enc, &[])
            }
            _ => {
                let enc = self.encrypts(key_hit, None);
                let aad = format!("{}:", self.aad);
                (self.on_leaf)(Leaf::Value(value), &aad, enc, &[])
            }
        }
    }
}

fn run<F>(docs: &mut [Vec<Entry>], selector: &Selector, on_leaf: F) -> Result<(), Error>
where
    F: FnMut(Leaf<'_>, &str, bool, &[String]) -> Result<(), Error>,
{
    let mut walk = Walk {
        selector,
        comments: Vec::new(),
        aad: String::new(),
        levels: Vec::new(),
        on_leaf,
    };
    for doc in docs.iter_mut() {
        walk.aad.clear();
        walk.map(doc, false)?;
    }
    Ok(())
}

/// The 32 bytes that start the MAC in `mac_only_encrypted` mode: SHA-256("sops").
fn mac_only_prefix() -> [u8; 32] {
    Sha256::digest(b"sops").into()
}

/// The MAC's SHA-512, computed by OpenSSL (about 20% faster than the pure-Rust one here, and
/// on the critical path of large values).
struct Sha512(openssl::sha::Sha512);

impl Sha512 {
    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finalize(self) -> [u8; 64] {
        self.0.finish()
    }
}

fn new_hasher(mac_only: bool) -> Sha512 {
    let mut h = Sha512(openssl::sha::Sha512::new());
    if mac_only {
        h.update(&mac_only_prefix());
    }
    h
}

/// Values at least this long are hashed on a second core while they are encrypted.
const PARALLEL_HASH_MIN: usize = 1 << 20;

/// Feeds `bytes` to the MAC hasher while `work` runs, on another core for large values.
fn hash_alongside<R>(hasher: &mut Sha512, bytes: &[u8], work: impl FnOnce() -> R) -> R {
    if bytes.len() < PARALLEL_HASH_MIN {
        hasher.update(bytes);
        return work();
    }
    std::thread::scope(|scope| {
        let hashing = scope.spawn(|| hasher.update(bytes));
        let out = work();
        // A panic while hashing is a bug, not bad input: propagate it.
        if let Err(panic) = hashing.join() {
            std::panic::resume_unwind(panic);
        }
        out
    })
}

fn hex_upper(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

/// Encrypts every selected leaf in place and returns the MAC (uppercase hex SHA-512).
pub fn encrypt(
    docs: &mut [Vec<Entry>],
    cipher: &Cipher,
    selector: &Selector,
    mac_only: bool,
) -> Result<Zeroizing<String>, Error> {
    let mut hasher = new_hasher(mac_only);
    run(docs, selector, |leaf, aad, enc, _| {
        match leaf {
            Leaf::Comment(text) => {
                if enc && !text.is_empty() {
                    *text = Zeroizing::new(cipher.encrypt_bytes(text.as_bytes(), "comment", aad));
                }
            }
            Leaf::Value(v) => {
                if let Value::Comment(text) = v {
                    if enc && !text.is_empty() {
                        let s = cipher.encrypt_bytes(text.as_bytes(), "comment", aad);
                        *v = Value::Str(Zeroizing::new(s.into_bytes()));
                    }
                    return Ok(());
                }
                let bytes = v.canonical_bytes().ok_or_else(|| {
                    Error::EncryptTree(format!("cannot encrypt the value at '{aad}'"))
                })?;
                let hashed = !mac_only || enc;
                if enc {
                    let kind = v.type_tag().unwrap_or("str");
                    let seal = || cipher.encrypt_bytes(&bytes, kind, aad);
                    let s = if hashed {
                        hash_alongside(&mut hasher, &bytes, seal)
                    } else {
                        seal()
                    };
                    drop(bytes);
                    *v = Value::Str(Zeroizing::new(s.into_bytes()));
                } else if hashed {
                    hasher.update(&bytes[..]);
                }
            }
        }
        Ok(())
    })?;
    Ok(Zeroizing::new(hex_upper(&hasher.finalize())))
}

/// What a decryption found besides the values.
#[derive(Default)]
pub struct DecryptReport {
    /// Plain comments met where the rules say comments are encrypted (files from sops < 3.4).
    pub plaintext_comments: usize,
    /// Encrypted comments that authenticated under a neighbouring mapping's path.
    pub displaced_comments: usize,
}

/// Decrypts every selected leaf in place and returns the recomputed MAC and a report.
///
/// Encrypted comments must authenticate (sops only warns); plain comments are allowed (old
/// files) and counted.
pub fn decrypt(
    docs: &mut [Vec<Entry>],
    cipher: &mut Cipher,
    selector: &Selector,
    mac_only: bool,
) -> Result<(Zeroizing<String>, DecryptReport), Error> {
    let mut hasher = new_hasher(mac_only);
    let mut report = DecryptReport::default();
    run(docs, selector, |leaf, aad, enc, alternatives| {
        match leaf {
            Leaf::Comment(text) => {
                if enc && looks_encrypted(text.as_bytes()) {
                    *text = match decrypt_comment(cipher, text, aad) {
                        Ok(t) => t,
                        Err(e) => {
                            // A comment another emitter moved across a mapping boundary still
                            // authenticates under the path it was encrypted with.
                            let found = alternatives
                                .iter()
                                .find_map(|alt| decrypt_comment(cipher, text, alt).ok());
                            match found {
                                Some(t) => {
                                    report.displaced_comments += 1;
                                    t
                                }
                                None => return Err(e),
                            }
                        }
                    };
                } else if enc && !text.is_empty() {
                    report.plaintext_comments += 1;
                }
            }
            Leaf::Value(v) => {
                if let Value::Comment(text) = v {
                    if enc && looks_encrypted(text.as_bytes()) {
                        *text = decrypt_comment(cipher, text, aad)?;
                    }
                    return Ok(());
                }
                if enc {
                    match v {
                        Value::Str(s) if s.is_empty() => {}
                        Value::Str(s) => {
                            let text = std::str::from_utf8(s).map_err(|_| not_sops(aad))?;
                            if !looks_encrypted(text.as_bytes()) {
                                return Err(not_sops(aad));
                            }
                            *v = cipher.decrypt_value(text, aad)?;
                            if matches!(v, Value::Comment(_)) {
                                return Ok(());
                            }
                        }
                        _ => return Err(not_sops(aad)),
                    }
                }
                if !mac_only || enc {
                    let bytes = v.canonical_bytes().ok_or_else(|| not_sops(aad))?;
                    hasher.update(&bytes[..]);
                }
            }
        }
        Ok(())
    })?;
    Ok((Zeroizing::new(hex_upper(&hasher.finalize())), report))
}

fn decrypt_comment(cipher: &mut Cipher, text: &str, aad: &str) -> Result<Text, Error> {
    match cipher.decrypt_value(text, aad) {
        Ok(Value::Comment(c)) => Ok(c),
        Ok(_) => Err(Error::Strict(format!(
            "an encrypted comment at '{aad}' does not have type:comment; the file was altered"
        ))),
        Err(_) => Err(Error::Strict(format!(
            "an encrypted comment at '{aad}' failed authentication (sops would only warn and print the ciphertext); the file was altered or mixes data keys"
        ))),
    }
}

fn not_sops(aad: &str) -> Error {
    Error::DecryptValue(format!(
        "the value at '{aad}' should be encrypted but does not match sops' data format; the file was altered or its encryption rules were changed"
    ))
}

/// Compares two MAC strings in constant time.
pub fn mac_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
