//! The verdict cache: verified verdicts keyed by object, ref, policy, first-seen time and sigil
//! version, authenticated under the local cache key.

use std::collections::HashMap;

use serde::Serialize;

use super::{Context, Verdict};
use crate::cache_key::CacheKey;
use crate::verdict::Decision;

/// A store of verified verdicts keyed by (object id, ref, policy digest, first-seen time, sigil
/// version): re-verifying a long history costs only the new commits. Verdicts are appended to
/// the cache file and read only when needed; the tips of fully verified ranges live beside it
/// in `<file>.tips`. Each line, and the tips, carry an HMAC under the local [`CacheKey`]: what
/// does not authenticate is ignored, so writing the files cannot mark anything verified.
pub struct Cache<'k> {
    path: std::path::PathBuf,
    key: &'k CacheKey,
    entries: Option<HashMap<String, Cached>>,
    added: Vec<(String, Cached)>,
    /// For ranges `A..B` verified completely: A's key → B.
    tips: HashMap<String, String>,
    tips_dirty: bool,
}

/// What a cached verified verdict keeps.
#[derive(Serialize, serde::Deserialize, Clone)]
pub(super) struct Cached {
    signature_type: Option<String>,
    signer: Option<String>,
    fingerprint: Option<String>,
    principal: Option<String>,
    rule: Option<String>,
    committer: Option<String>,
}

impl Cached {
    pub(super) fn of(v: &Verdict) -> Cached {
        Cached {
            signature_type: v.signature_type.map(String::from),
            signer: v.signer.clone(),
            fingerprint: v.fingerprint.clone(),
            principal: v.principal.clone(),
            rule: v.rule.clone(),
            committer: v.committer.clone(),
        }
    }

    pub(super) fn verdict(&self, id: &str) -> Verdict {
        let mut v = Verdict::new(id, "commit");
        v.result = Decision::Verified;
        v.signature_type = match self.signature_type.as_deref() {
            Some("openpgp") => Some("openpgp"),
            Some("ssh") => Some("ssh"),
            _ => None,
        };
        v.signer = self.signer.clone();
        v.fingerprint = self.fingerprint.clone();
        v.principal = self.principal.clone();
        v.rule = self.rule.clone();
        v.committer = self.committer.clone();
        v
    }
}

/// MAC domains of the cache's records.
const ENTRY_DOMAIN: &str = "sigil commit verdict v1";
const TIPS_DOMAIN: &str = "sigil commit range tips v1";

impl<'k> Cache<'k> {
    /// Opens a cache file authenticated with `key` (missing or unreadable files start empty;
    /// tips that do not authenticate are dropped).
    pub fn load(path: &std::path::Path, key: &'k CacheKey) -> Cache<'k> {
        let tips = std::fs::read(tips_path(path))
            .ok()
            .and_then(|t| {
                let body = key.open_sealed(TIPS_DOMAIN, b"", &t)?;
                serde_json::from_slice(body).ok()
            })
            .unwrap_or_default();
        Cache {
            path: path.to_path_buf(),
            key,
            entries: None,
            added: Vec::new(),
            tips,
            tips_dirty: false,
        }
    }

    pub(super) fn get(&mut self, key: &str) -> Option<&Cached> {
        let (path, mac_key) = (&self.path, self.key);
        let entries = self.entries.get_or_insert_with(|| {
            let mut map = HashMap::new();
            if let Ok(text) = std::fs::read(path) {
                for line in text.split(|&b| b == b'\n') {
                    let Some(body) = mac_key.open_sealed(ENTRY_DOMAIN, b"", line) else {
                        continue;
                    };
                    if let Ok((k, v)) = serde_json::from_slice::<(String, Cached)>(body) {
                        map.insert(k, v);
                    }
                }
            }
            map
        });
        entries.get(key)
    }

    pub(super) fn insert(&mut self, key: String, v: Cached) {
        self.added.push((key.clone(), v.clone()));
        if let Some(e) = self.entries.as_mut() {
            e.insert(key, v);
        }
    }

    /// Appends new verdicts and rewrites the tips if they changed.
    pub fn save(&self) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        if !self.added.is_empty() {
            let mut text = Vec::new();
            for (k, v) in &self.added {
                let entry = serde_json::to_vec(&(k, v)).map_err(std::io::Error::other)?;
                text.extend(self.key.seal(ENTRY_DOMAIN, b"", &entry));
                text.push(b'\n');
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?
                .write_all(&text)?;
        }
        if self.tips_dirty {
            let tmp = tips_path(&self.path).with_extension("tmp");
            let tips = serde_json::to_vec(&self.tips).map_err(std::io::Error::other)?;
            std::fs::write(&tmp, self.key.seal(TIPS_DOMAIN, b"", &tips))?;
            std::fs::rename(tmp, tips_path(&self.path))?;
        }
        Ok(())
    }

    /// The last commit up to which the range starting after `from` was fully verified.
    pub fn tip(&self, from: &str, ctx: &Context<'_>) -> Option<&String> {
        self.tips
            .get(&Cache::key(&format!("range-from:{from}"), ctx))
    }

    /// Records that every commit of `from..to` is verified.
    pub fn set_tip(&mut self, from: &str, to: &str, ctx: &Context<'_>) {
        let key = Cache::key(&format!("range-from:{from}"), ctx);
        if self.tips.get(&key).map(String::as_str) != Some(to) {
            self.tips.insert(key, to.to_string());
            self.tips_dirty = true;
        }
    }

    pub(super) fn key(id: &str, ctx: &Context<'_>) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        for part in [
            id,
            &ctx.refname,
            &ctx.policy.digest,
            &format!("{:?}", ctx.first_seen_of(id)),
            &anchors_digest(ctx),
            env!("CARGO_PKG_VERSION"),
            &format!("{:?}", ctx.tag_signers),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    }
}

/// A digest of the trust anchors' history (empty without anchors), part of every cache key.
fn anchors_digest(ctx: &Context<'_>) -> String {
    use sha2::Digest;
    let Some(a) = &ctx.anchored else {
        return String::new();
    };
    let mut ids: Vec<&String> = a.iter().collect();
    ids.sort();
    let mut h = sha2::Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
    }
    hex::encode(h.finalize())
}

fn tips_path(path: &std::path::Path) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".tips");
    std::path::PathBuf::from(p)
}
