//! Finding a Rekor v1 entry online, for signatures that do not carry theirs (gitsign's legacy
//! online mode logs the object id, signed by the same key, instead of the signature itself).
//! Explicit: only with a Rekor URL the policy names. What comes back is untrusted: each entry
//! is parsed here and verified by the caller (SET, body, certificate) like an embedded one.
//! Entries the caller verified are kept in a local cache, so each object costs one search
//! only; a cached entry is verified again at every use, so the cache needs no protection.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::TlogEntry;

/// Largest answer read from the log.
const MAX_ANSWER: u64 = 4 << 20;
/// Most candidate entries fetched for one object.
const MAX_CANDIDATES: usize = 16;
/// Per request.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A Rekor server searched for entries, with an optional cache directory.
pub struct Search {
    base: String,
    cache: Option<PathBuf>,
}

/// One candidate: the entry, and its form for the cache.
pub struct Found {
    /// The parsed entry (not yet verified).
    pub entry: TlogEntry,
    annotation: String,
}

impl Search {
    /// A search of the Rekor server at `base` (`https://rekor.sigstore.dev`), caching in
    /// `$XDG_CACHE_HOME/sigil/rekor`, else `~/.cache/sigil/rekor`.
    pub fn new(base: &str) -> Search {
        Search {
            base: base.trim_end_matches('/').to_string(),
            cache: crate::user_dirs::path("XDG_CACHE_HOME", ".cache", "sigil/rekor"),
        }
    }

    fn cache_file(&self, data_sha256: &str) -> Option<PathBuf> {
        let server = hex::encode(&Sha256::digest(self.base.as_bytes())[..8]);
        self.cache
            .as_ref()
            .map(|d| d.join(format!("{server}-{data_sha256}.json")))
    }

    /// Entries remembered for data hashing to `data_sha256` (hex).
    pub fn cached(&self, data_sha256: &str) -> Vec<Found> {
        let Some(text) = self
            .cache_file(data_sha256)
            .and_then(|f| std::fs::read_to_string(f).ok())
        else {
            return Vec::new();
        };
        serde_json::from_str::<Vec<String>>(&text)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| {
                TlogEntry::from_legacy_annotation(&a)
                    .ok()
                    .map(|entry| Found {
                        entry,
                        annotation: a,
                    })
            })
            .collect()
    }

    /// Remembers an entry the caller verified (best effort: a cache that cannot be written
    /// only costs a search next time).
    pub fn remember(&self, data_sha256: &str, found: &Found) {
        if let Some(f) = self.cache_file(data_sha256) {
            if let Some(dir) = f.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let text = serde_json::to_vec(&[&found.annotation]).unwrap_or_default();
            let _ = crate::atomic::write(&f, &text, crate::atomic::Mode::Public);
        }
    }

    /// Searches the log for entries of data hashing to `data_sha256` (hex) and fetches them.
    pub fn online(&self, data_sha256: &str) -> Result<Vec<Found>, String> {
        let agent = crate::http::agent(ureq::tls::RootCerts::PlatformVerifier, TIMEOUT, 0);
        let url = format!("{}/api/v1/index/retrieve", self.base);
        let query = json!({"hash": format!("sha256:{data_sha256}")}).to_string();
        let reply = agent
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .send(query.as_bytes())
            .map_err(|e| format!("cannot search Rekor at {}: {e}", self.base))?;
        let ids: Vec<String> = serde_json::from_slice(&read(reply, &url)?)
            .map_err(|e| format!("{url}: not a list of entry ids: {e}"))?;
        let mut out = Vec::new();
        for id in ids.iter().take(MAX_CANDIDATES) {
            if id.is_empty() || id.len() > 80 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{url}: '{id}' is not an entry id"));
            }
            let url = format!("{}/api/v1/log/entries/{id}", self.base);
            let reply = agent
                .get(&url)
                .header("Accept", "application/json")
                .call()
                .map_err(|e| format!("cannot fetch {url}: {e}"))?;
            let v: Value = serde_json::from_slice(&read(reply, &url)?)
                .map_err(|e| format!("{url}: not JSON: {e}"))?;
            if let Some(found) = Value::as_object(&v)
                .and_then(|o| o.values().next())
                .and_then(annotation)
            {
                if let Ok(entry) = TlogEntry::from_legacy_annotation(&found) {
                    out.push(Found {
                        entry,
                        annotation: found,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The body of a 200 answer.
fn read(reply: ureq::http::Response<ureq::Body>, url: &str) -> Result<Vec<u8>, String> {
    let status = reply.status().as_u16();
    if status != 200 {
        return Err(format!("{url}: HTTP {status}"));
    }
    reply
        .into_body()
        .into_with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(|e| format!("{url}: {e}"))
}

/// A Rekor API `LogEntryAnon` in the shape of cosign's bundle annotation (which the entry
/// parser reads): SET, body, integrated time, index and log id.
fn annotation(e: &Value) -> Option<String> {
    let set = e.pointer("/verification/signedEntryTimestamp")?.as_str()?;
    let body = e.get("body")?.as_str()?;
    B64.decode(body).ok()?;
    Some(
        json!({
            "SignedEntryTimestamp": set,
            "Payload": {
                "body": body,
                "integratedTime": e.get("integratedTime")?,
                "logIndex": e.get("logIndex")?,
                "logID": e.get("logID")?,
            }
        })
        .to_string(),
    )
}

/// SHA-256 of `data`, hex: the key Rekor indexes hashed data by.
pub fn data_key(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}
