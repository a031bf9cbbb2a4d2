//! Rendered Secrets against the SOPS files of the verified tree. Every `kind: Secret` the
//! consumer will apply must carry only ciphertext that comes, unchanged, from a SOPS file of
//! this revision whose MAC verifies (with the configured key; without one, its structure):
//!
//! - a SOPS-encrypted Secret manifest (its `sops.mac` names the file; every `data`/`stringData`
//!   value is an `ENC[...]` string equal to that file's value at the same place, whatever the
//!   file's own `encrypted_regex` says);
//! - a kustomize `secretGenerator` over a SOPS file (`files:`: the value is the file's exact
//!   bytes, which kustomize-controller decrypts by its marker) or a SOPS dotenv file (`envs:`:
//!   every key and value is the file's);
//! - or no data at all.
//!
//! Anything else (literals, plaintext files, a patch that changed a value) is refused as
//! `plaintext-secret` or `unverified-secret`. Objects of other kinds that carry `sops`
//! metadata, or that the policy requires to be encrypted, are held to the same rule.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::git::tree::{Entry, MODE_SYMLINK};
use crate::sops::format::{Format, Layout, clone_entry, emit_plain, load_encrypted};
use crate::sops::keys::Unlocker;
use crate::sops::metadata::Metadata;
use crate::sops::tree::{Entry as SopsEntry, Value as SopsValue};

/// A refusal of a rendered object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Reason code.
    pub code: &'static str,
    /// The object or file.
    pub subject: String,
    /// What is wrong and what to do (never a secret value).
    pub message: String,
}

impl Refusal {
    /// The check a refusal belongs to: `sources`, `images`, `render` or `secrets`.
    pub fn check(&self) -> &'static str {
        match self.code {
            "unverified-source" => "sources",
            "unknown-pod-spec" | "unresolved-substitution" | "invalid-reference" => "images",
            "substitution-failed" | "render-failed" => "render",
            _ => "secrets",
        }
    }
}

fn refuse(code: &'static str, subject: &str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        subject: subject.to_string(),
        message: message.into(),
    }
}

/// Where a rendered Secret's ciphertext comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// No `data` or `stringData` values.
    Empty,
    /// A SOPS-encrypted manifest: file and document index.
    Manifest {
        /// The SOPS file.
        file: String,
        /// Its document (0-based).
        document: usize,
    },
    /// `secretGenerator` `files:` entries: data key → SOPS file whose bytes it holds.
    Files(BTreeMap<String, String>),
    /// `secretGenerator` `envs:` over one SOPS dotenv file.
    Env {
        /// The SOPS dotenv file.
        file: String,
    },
}

impl Source {
    /// The SOPS files it uses.
    pub fn files(&self) -> Vec<&str> {
        match self {
            Source::Empty => Vec::new(),
            Source::Manifest { file, .. } | Source::Env { file } => vec![file.as_str()],
            Source::Files(m) => m.values().map(String::as_str).collect(),
        }
    }
}

struct Parsed {
    format: Format,
    /// The encrypted documents as the store read them, and the metadata.
    encrypted: Vec<Vec<SopsEntry>>,
    meta: Metadata,
    /// Encrypted documents as JSON (YAML/JSON files).
    docs: Vec<Value>,
    /// Raw `KEY=value` pairs (dotenv files).
    env: BTreeMap<String, String>,
}

impl Parsed {
    /// Reads a SOPS file in the store its name says, else the one its marker says, else
    /// binary.
    fn load(path: &str, data: &[u8]) -> Result<Parsed, crate::sops::Error> {
        let by_name = Format::from_path(Path::new(path));
        let attempt = |format: Format| load_encrypted(format, data).map(|l| (format, l));
        let (format, (encrypted, meta)) = match by_name {
            Format::Binary => Err(crate::sops::Error::Generic(String::new())),
            f => attempt(f),
        }
        .or_else(|_| attempt(marker_format(data).unwrap_or(Format::Binary)))?;
        Ok(Parsed {
            format,
            docs: encrypted
                .iter()
                .map(|d| Value::Object(map_to_json(d)))
                .collect(),
            env: if format == Format::Dotenv {
                env_pairs(data)
            } else {
                BTreeMap::new()
            },
            encrypted,
            meta,
        })
    }

    /// The encrypted documents decrypted with `unlocker` (every value, and the MAC verified).
    fn decrypt(&self, unlocker: &mut Unlocker) -> Result<Vec<Vec<SopsEntry>>, crate::sops::Error> {
        let mut docs: Vec<Vec<SopsEntry>> = self
            .encrypted
            .iter()
            .map(|d| d.iter().map(clone_entry).collect())
            .collect();
        crate::sops::ops::decrypt(&mut docs, &self.meta, unlocker, false, false)?;
        Ok(docs)
    }
}

/// The SOPS files of a tree, parsed and verified on demand, with what the render used.
pub struct SopsFiles<'a> {
    entries: HashMap<&'a str, &'a Entry>,
    by_mac: HashMap<String, Vec<&'a str>>,
    env_files: Vec<&'a str>,
    by_hash: Option<HashMap<[u8; 32], &'a str>>,
    parsed: HashMap<String, Parsed>,
    unlocker: Option<Unlocker>,
    verified: HashMap<String, Result<(), Refusal>>,
    plaintext: HashMap<String, Vec<Value>>,
    /// Files the rendered objects used → whether their MAC was verified with a key.
    pub used: BTreeMap<String, bool>,
}

/// Which store a file belongs to, by its contents' SOPS marker (as kustomize-controller tells).
fn marker_format(data: &[u8]) -> Option<Format> {
    let has = |m: &[u8]| data.windows(m.len()).any(|w| w == m);
    if has(b"sops_mac=ENC[") {
        Some(Format::Dotenv)
    } else if has(b"\"mac\": \"ENC[") || has(b"\"mac\":\"ENC[") {
        Some(Format::Json)
    } else if has(b"mac: ENC[") {
        Some(Format::Yaml)
    } else if has(b"[sops]") {
        Some(Format::Ini)
    } else {
        None
    }
}

/// A SOPS document tree as JSON (strings lossily decoded; comments dropped).
fn sops_to_json(v: &SopsValue) -> Value {
    match v {
        SopsValue::Null | SopsValue::Comment(_) => Value::Null,
        SopsValue::Str(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        SopsValue::Int(i) => Value::from(*i),
        SopsValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        SopsValue::Bool(b) => Value::Bool(*b),
        SopsValue::Time(t) => Value::String(t.to_string()),
        SopsValue::Map(entries) => Value::Object(map_to_json(entries)),
        SopsValue::Seq(items) => Value::Array(
            items
                .iter()
                .filter(|i| !matches!(i, SopsValue::Comment(_)))
                .map(sops_to_json)
                .collect(),
        ),
    }
}

fn map_to_json(entries: &[SopsEntry]) -> Map<String, Value> {
    entries
        .iter()
        .filter_map(|e| match e {
            SopsEntry::Pair(k, v) => Some((k.to_string(), sops_to_json(v))),
            SopsEntry::Comment(_) => None,
        })
        .collect()
}

/// Every string leaf of `v` with its JSON pointer.
fn leaves<'v>(v: &'v Value, pointer: &mut String, out: &mut Vec<(String, &'v Value)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                leaves(x, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                leaves(x, pointer, out);
                pointer.truncate(len);
            }
        }
        leaf => out.push((pointer.clone(), leaf)),
    }
}

fn is_enc(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| crate::sops::cipher::looks_encrypted(s.as_bytes()))
}

/// Raw `KEY=value` lines of a dotenv file, as kustomize's `envs` reads them.
fn env_pairs(data: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(data)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect()
}

impl<'a> SopsFiles<'a> {
    /// Indexes the SOPS files of `entries`; `unlocker` (the age key) verifies their MACs.
    pub fn new(entries: &'a [Entry], unlocker: Option<Unlocker>) -> SopsFiles<'a> {
        let mut by_mac: HashMap<String, Vec<&str>> = HashMap::new();
        let mut env_files = Vec::new();
        let mut files = HashMap::new();
        let mut parsed = HashMap::new();
        for e in entries.iter().filter(|e| e.mode != MODE_SYMLINK) {
            files.insert(e.path.as_str(), e);
            match marker_format(&e.data) {
                Some(Format::Dotenv) => env_files.push(e.path.as_str()),
                Some(Format::Yaml | Format::Json) => {
                    if let Ok(p) = Parsed::load(&e.path, &e.data)
                        && matches!(p.format, Format::Yaml | Format::Json)
                    {
                        by_mac
                            .entry(p.meta.mac.clone())
                            .or_default()
                            .push(e.path.as_str());
                        parsed.insert(e.path.clone(), p);
                    }
                }
                _ => {}
            }
        }
        SopsFiles {
            entries: files,
            by_mac,
            env_files,
            by_hash: None,
            parsed,
            unlocker,
            verified: HashMap::new(),
            plaintext: HashMap::new(),
            used: BTreeMap::new(),
        }
    }

    fn parse(&mut self, path: &str) -> Result<&Parsed, Refusal> {
        if !self.parsed.contains_key(path) {
            let e = self
                .entries
                .get(path)
                .ok_or_else(|| refuse("unverified-secret", path, "not a file of this revision"))?;
            let parsed = Parsed::load(path, &e.data).map_err(|err| {
                refuse(
                    "invalid-sops-file",
                    path,
                    format!("not a valid SOPS file: {err}"),
                )
            })?;
            self.parsed.insert(path.to_string(), parsed);
        }
        Ok(&self.parsed[path])
    }

    /// Verifies `path`'s MAC (every value decrypts) when a key is configured, and records its use.
    fn verify(&mut self, path: &str) -> Result<(), Refusal> {
        if let Some(r) = self.verified.get(path) {
            return r.clone();
        }
        let result = self.decrypt(path).map(|_| ());
        self.verified.insert(path.to_string(), result.clone());
        if result.is_ok() {
            self.used.insert(path.to_string(), self.unlocker.is_some());
        }
        result
    }

    /// Decrypts `path` (MAC verified) into plaintext documents; without a key, checks the
    /// structure only and returns nothing.
    fn decrypt(&mut self, path: &str) -> Result<Option<Vec<Value>>, Refusal> {
        if let Some(p) = self.plaintext.get(path) {
            return Ok(Some(p.clone()));
        }
        self.parse(path)?;
        let Some(unlocker) = self.unlocker.as_mut() else {
            return Ok(None);
        };
        let docs = self.parsed[path].decrypt(unlocker).map_err(|err| {
            let code = match err {
                crate::sops::Error::MacMismatch(_) => "mac-mismatch",
                crate::sops::Error::KeyRecovery(_) => "no-key",
                _ => "sops-decrypt-failed",
            };
            refuse(code, path, err.to_string())
        })?;
        let plain: Vec<Value> = docs.iter().map(|d| Value::Object(map_to_json(d))).collect();
        self.plaintext.insert(path.to_string(), plain.clone());
        Ok(Some(plain))
    }

    /// Checks any object carrying `sops` metadata, or of a kind that must be encrypted, and
    /// every Secret. Returns where its ciphertext comes from.
    pub fn check(
        &mut self,
        obj: &Value,
        subject: &str,
        require_sops: &[String],
    ) -> Result<Option<Source>, Refusal> {
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let is_secret = kind == "Secret";
        if let Some(sops) = obj.get("sops") {
            return self.manifest(obj, sops, subject, is_secret).map(Some);
        }
        if require_sops.iter().any(|k| k == kind) && !is_secret {
            return Err(refuse(
                "plaintext-secret",
                subject,
                format!("a {kind} must be SOPS-encrypted (policy secrets.requireSops)"),
            ));
        }
        if !is_secret {
            return Ok(None);
        }
        self.generated(obj, subject).map(Some)
    }

    /// A SOPS-encrypted manifest: its metadata names a file of this revision, and its
    /// ciphertext is that file's.
    fn manifest(
        &mut self,
        obj: &Value,
        sops: &Value,
        subject: &str,
        is_secret: bool,
    ) -> Result<Source, Refusal> {
        let mac = sops.get("mac").and_then(Value::as_str).unwrap_or("");
        let candidates = self.by_mac.get(mac).cloned().unwrap_or_default();
        if candidates.is_empty() {
            return Err(refuse(
                "unverified-secret",
                subject,
                "carries SOPS metadata that no SOPS file of this revision has (built, patched or copied from elsewhere)",
            ));
        }
        let mut body = obj.clone();
        if let Some(m) = body.as_object_mut() {
            m.remove("sops");
        }
        let mut rendered = Vec::new();
        leaves(&body, &mut String::new(), &mut rendered);
        if is_secret {
            for (p, v) in &rendered {
                let field = p.starts_with("/data/") || p.starts_with("/stringData/");
                if field && !v.is_null() && !(v.as_str() == Some("") || is_enc(v)) {
                    let (f, key) = p[1..].split_once('/').unwrap_or((&p[1..], ""));
                    let key = key.replace("~1", "/").replace("~0", "~");
                    return Err(refuse(
                        "plaintext-secret",
                        subject,
                        format!(
                            "{f}[\"{key}\"] is not encrypted: every data and stringData value of a Secret must be SOPS ciphertext, whatever the file's encrypted_regex says (encrypt it with sigil encrypt)"
                        ),
                    ));
                }
            }
        }
        for file in candidates {
            let parsed = self.parse(file)?;
            for (d, doc) in parsed.docs.iter().enumerate() {
                let mut source = Vec::new();
                leaves(doc, &mut String::new(), &mut source);
                let source: HashMap<&str, &Value> =
                    source.iter().map(|(p, v)| (p.as_str(), *v)).collect();
                let rendered_map: HashMap<&str, &Value> =
                    rendered.iter().map(|(p, v)| (p.as_str(), *v)).collect();
                let ours = rendered
                    .iter()
                    .filter(|(_, v)| is_enc(v))
                    .all(|(p, v)| source.get(p.as_str()) == Some(v));
                let kept = source
                    .iter()
                    .filter(|(_, v)| is_enc(v))
                    .all(|(p, v)| rendered_map.get(p).is_none_or(|r| r == v));
                if ours && kept {
                    let file = file.to_string();
                    self.verify(&file)?;
                    return Ok(Source::Manifest { file, document: d });
                }
            }
        }
        Err(refuse(
            "unverified-secret",
            subject,
            "its ciphertext differs from the SOPS file its metadata names (a value was moved, replaced or patched)",
        ))
    }

    /// A SOPS file a generated Secret is made from holds only ciphertext, whatever its own
    /// selection rule says: consumers decrypt it whole into the Secret.
    fn all_encrypted(&mut self, file: &str, subject: &str) -> Result<(), Refusal> {
        let parsed = self.parse(file)?;
        let mut leaves_ = Vec::new();
        for d in &parsed.docs {
            leaves(d, &mut String::new(), &mut leaves_);
        }
        let plain = leaves_
            .iter()
            .find(|(_, v)| !(v.is_null() || v.as_str() == Some("") || is_enc(v)))
            .map(|(p, _)| p.clone())
            .or_else(|| {
                parsed
                    .env
                    .iter()
                    .find(|(k, v)| {
                        !k.starts_with("sops_") && !v.is_empty() && !v.starts_with("ENC[")
                    })
                    .map(|(k, _)| k.clone())
            });
        match plain {
            Some(p) => Err(refuse(
                "plaintext-secret",
                subject,
                format!(
                    "is generated from {file}, whose value {p} is not encrypted (every value must be ciphertext, whatever the file's encrypted_regex says)"
                ),
            )),
            None => Ok(()),
        }
    }

    /// A Secret without SOPS metadata: empty, or made by `secretGenerator` from SOPS files.
    fn generated(&mut self, obj: &Value, subject: &str) -> Result<Source, Refusal> {
        match obj.get("stringData") {
            None | Some(Value::Null) => {}
            Some(Value::Object(sd)) => {
                if let Some((k, _)) = sd
                    .iter()
                    .find(|(_, v)| !v.is_null() && v.as_str() != Some(""))
                {
                    return Err(refuse(
                        "plaintext-secret",
                        subject,
                        format!(
                            "stringData[\"{k}\"] is plaintext: encrypt the Secret with sigil encrypt (SOPS)"
                        ),
                    ));
                }
            }
            Some(_) => {
                return Err(refuse(
                    "plaintext-secret",
                    subject,
                    "stringData is not a mapping",
                ));
            }
        }
        let data: Vec<(String, Vec<u8>)> = match obj.get("data") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(m)) => {
                let mut out = Vec::new();
                for (k, v) in m {
                    let s = v.as_str().ok_or_else(|| {
                        refuse(
                            "plaintext-secret",
                            subject,
                            format!("data[\"{k}\"] is not a string"),
                        )
                    })?;
                    // Go's base64 decoder (the API server's) skips line breaks.
                    let compact: String = s.chars().filter(|c| *c != '\n' && *c != '\r').collect();
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .map_err(|_| {
                            refuse(
                                "plaintext-secret",
                                subject,
                                format!("data[\"{k}\"] is not base64"),
                            )
                        })?;
                    out.push((k.clone(), bytes));
                }
                out
            }
            Some(_) => return Err(refuse("plaintext-secret", subject, "data is not a mapping")),
        };
        let data: Vec<(String, Vec<u8>)> =
            data.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        if data.is_empty() {
            return Ok(Source::Empty);
        }
        // `envs:` over a SOPS dotenv file: every key and value is that file's.
        let env_like = data
            .iter()
            .any(|(k, v)| k == "sops_mac" || crate::sops::cipher::looks_encrypted(v));
        if env_like {
            for file in self.env_files.clone() {
                let pairs = self.parse(file)?.env.clone();
                let all = data
                    .iter()
                    .all(|(k, v)| pairs.get(k).is_some_and(|p| p.as_bytes() == v.as_slice()));
                if all {
                    if data.len() != pairs.len() {
                        return Err(refuse(
                            "unverified-secret",
                            subject,
                            format!(
                                "holds only some keys of the SOPS dotenv file {file} (patched after generation)"
                            ),
                        ));
                    }
                    self.verify(file)?;
                    self.all_encrypted(file, subject)?;
                    return Ok(Source::Env {
                        file: file.to_string(),
                    });
                }
            }
            return Err(refuse(
                "unverified-secret",
                subject,
                "holds SOPS values that match no SOPS dotenv file of this revision",
            ));
        }
        // `files:` entries: each value is a whole SOPS file of this revision.
        if self.by_hash.is_none() {
            self.by_hash = Some(
                self.entries
                    .iter()
                    .filter(|(_, e)| marker_format(&e.data).is_some())
                    .map(|(p, e)| (Sha256::digest(&e.data).into(), *p))
                    .collect(),
            );
        }
        let mut files = BTreeMap::new();
        for (k, v) in &data {
            let hash: [u8; 32] = Sha256::digest(v).into();
            let Some(file) = self.by_hash.as_ref().and_then(|m| m.get(&hash)).copied() else {
                return Err(refuse(
                    "plaintext-secret",
                    subject,
                    format!(
                        "data[\"{k}\"] is not ciphertext from a SOPS file of this revision (a secretGenerator over literals or plaintext files?): generate it from a SOPS-encrypted file"
                    ),
                ));
            };
            self.verify(file)?;
            self.all_encrypted(file, subject)?;
            files.insert(k.clone(), file.to_string());
        }
        Ok(Source::Files(files))
    }

    /// The object as the consumer will hold it once decrypted: values from the verified,
    /// decrypted SOPS file(s), `sops` metadata removed. Needs the key.
    pub fn decrypt_object(
        &mut self,
        obj: &Value,
        source: &Source,
        subject: &str,
    ) -> Result<Value, Refusal> {
        let no_key = || {
            refuse(
                "no-key",
                subject,
                "decrypting needs the key (secrets.ageKeyFile, or secrets.awsKms for AWS KMS)",
            )
        };
        let mut out = obj.clone();
        match source {
            Source::Empty => {}
            Source::Manifest { file, document } => {
                let plain = self.decrypt(file)?.ok_or_else(no_key)?;
                let parsed = self.parse(file)?;
                let enc_doc = &parsed.docs[*document];
                let plain_doc = &plain[*document];
                let mut enc = Vec::new();
                leaves(enc_doc, &mut String::new(), &mut enc);
                for (p, v) in enc.iter().filter(|(_, v)| is_enc(v)) {
                    if out.pointer(p) == Some(v)
                        && let (Some(slot), Some(clear)) =
                            (out.pointer_mut(p), plain_doc.pointer(p))
                    {
                        *slot = clear.clone();
                    }
                }
                if let Some(m) = out.as_object_mut() {
                    m.remove("sops");
                }
            }
            Source::Files(keys) => {
                for (k, file) in keys {
                    let plain = self.decrypt(file)?.ok_or_else(no_key)?;
                    let parsed = self.parse(file)?;
                    let docs: Vec<Vec<SopsEntry>> = plain.iter().map(json_to_sops_doc).collect();
                    // Re-emitted in the format of the data key's extension, as kustomize-controller does.
                    let format = match Format::from_path(Path::new(k)) {
                        Format::Binary => parsed.format,
                        f => f,
                    };
                    let bytes = emit_plain(format, &docs, &Layout::default())
                        .map_err(|e| refuse("sops-decrypt-failed", file, e.to_string()))?;
                    out["data"][k] =
                        Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes));
                }
            }
            Source::Env { file } => {
                let plain = self.decrypt(file)?.ok_or_else(no_key)?;
                let mut data = Map::new();
                if let Some(Value::Object(m)) = plain.first() {
                    for (k, v) in m {
                        let text = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        data.insert(
                            k.clone(),
                            Value::String(
                                base64::engine::general_purpose::STANDARD.encode(text.as_bytes()),
                            ),
                        );
                    }
                }
                out["data"] = Value::Object(data);
            }
        }
        Ok(out)
    }

    /// Every SOPS file of the tree (`.yaml`, `.yml`, `.json`, `.env`, `.ini` files that load as
    /// SOPS files of their store), in path order.
    pub fn sops_paths(&mut self) -> Vec<String> {
        let mut candidates: Vec<String> = self
            .entries
            .iter()
            .filter(|(p, e)| {
                Format::from_path(Path::new(p)) != Format::Binary
                    && marker_format(&e.data).is_some()
            })
            .map(|(p, _)| p.to_string())
            .collect();
        candidates.sort();
        candidates.retain(|p| {
            self.parse(p)
                .is_ok_and(|x| x.format == Format::from_path(Path::new(p)))
        });
        candidates
    }

    /// A SOPS file decrypted whole (MAC verified), in its own format (for a volume of the
    /// repository tree with `decryptSecrets`).
    pub fn decrypted_file(&mut self, path: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, Refusal> {
        self.parse(path)?;
        let unlocker = self.unlocker.as_mut().ok_or_else(|| {
            refuse(
                "no-key",
                path,
                "decrypting needs the key (secrets.ageKeyFile, or secrets.awsKms for AWS KMS)",
            )
        })?;
        let parsed = &self.parsed[path];
        let docs = parsed
            .decrypt(unlocker)
            .map_err(|e| refuse("sops-decrypt-failed", path, e.to_string()))?;
        emit_plain(parsed.format, &docs, &Layout::default())
            .map(zeroize::Zeroizing::new)
            .map_err(|e| refuse("sops-decrypt-failed", path, e.to_string()))
    }

    /// The bytes of a tree file (for republishing a SOPS dotenv file).
    pub fn bytes(&self, path: &str) -> Option<&[u8]> {
        self.entries.get(path).map(|e| e.data.as_slice())
    }
}

/// A plaintext JSON document back into a SOPS tree, for emitting it in a store's format.
fn json_to_sops_doc(v: &Value) -> Vec<SopsEntry> {
    fn conv(v: &Value) -> SopsValue {
        match v {
            Value::Null => SopsValue::Null,
            Value::Bool(b) => SopsValue::Bool(*b),
            Value::Number(n) => n
                .as_i64()
                .map(SopsValue::Int)
                .unwrap_or_else(|| SopsValue::Float(n.as_f64().unwrap_or(0.0))),
            Value::String(s) => SopsValue::str(s),
            Value::Array(items) => SopsValue::Seq(items.iter().map(conv).collect()),
            Value::Object(m) => SopsValue::Map(
                m.iter()
                    .map(|(k, v)| SopsEntry::Pair(zeroize::Zeroizing::new(k.clone()), conv(v)))
                    .collect(),
            ),
        }
    }
    match conv(v) {
        SopsValue::Map(entries) => entries,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_secret_without_values_is_empty() {
        let mut sops = SopsFiles::new(&[], None);
        let empty =
            json!({"kind": "Secret", "data": {"a": "", "b": "\n"}, "stringData": {"c": null}});
        assert_eq!(sops.check(&empty, "s", &[]), Ok(Some(Source::Empty)));
        // Not a mapping, as `data` that is not one: refused, never taken for no data (the
        // rendered_secret fuzz target's invariant).
        for sd in [json!("hunter2"), json!(["hunter2"]), json!(7), json!([])] {
            let obj = json!({"kind": "Secret", "stringData": sd});
            let r = sops.check(&obj, "s", &[]).unwrap_err();
            assert_eq!(r.code, "plaintext-secret", "{obj}");
        }
        let obj = json!({"kind": "Secret", "stringData": {"password": "hunter2"}});
        assert_eq!(
            sops.check(&obj, "s", &[]).unwrap_err().code,
            "plaintext-secret"
        );
    }
}
