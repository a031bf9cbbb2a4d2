//! What the gate knows, shared between the sync loops and the HTTP server: per-source
//! published revision and last attempt, recent refusals, metrics, and the trigger queue that
//! coalesces concurrent sync requests (at most one running plus one pending per source).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};

use serde::{Deserialize, Serialize};

/// Refusals kept per source for the status page.
pub const RECENT_REFUSALS: usize = 20;

/// Histogram bucket bounds (seconds) of `sigil_sync_duration_seconds`.
pub const DURATION_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A verified image of a published revision.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSummary {
    /// Normalised reference.
    pub image: String,
    /// Manifest digest verified.
    pub digest: Option<String>,
    /// Who signed it.
    pub signer: Option<String>,
}

/// The Flux artifact of a published revision.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactInfo {
    /// URL consumers fetch (`<base>/artifacts/<source>/<hex>.tar.gz`).
    pub url: String,
    /// `sha256:<hex>` of the tar.gz.
    pub digest: String,
    /// Flux revision string `<ref>@sha1:<commit>`.
    pub revision: String,
    /// Size in bytes.
    pub size: u64,
    /// RFC 3339 time it was written.
    pub last_update_time: String,
}

/// A revision that passed every check and was published.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    /// Commit id.
    pub commit: String,
    /// RFC 3339 publication time.
    pub published_at: String,
    /// Unix seconds of the publication.
    pub published_unix: i64,
    /// Who signed the commit (policy signer name) and the key fingerprint.
    pub signer: Option<String>,
    /// Key fingerprint of that signature.
    pub fingerprint: Option<String>,
    /// Commits verified for this publication.
    pub commits_checked: usize,
    /// SOPS files whose MAC was verified.
    pub sops_files: usize,
    /// Images verified.
    pub images: Vec<ImageSummary>,
    /// The Flux artifact, when the artifact publisher is on.
    pub artifact: Option<ArtifactInfo>,
    /// How the revision was rendered (mode, kustomize version, paths and object counts).
    #[serde(default)]
    pub render: Option<serde_json::Value>,
}

/// How a sync attempt ended (serialised in lowercase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptResult {
    /// A new verified revision was published.
    Published,
    /// The published revision is still the newest.
    Unchanged,
    /// A check refused the revision; the last good one stays.
    Refused,
    /// The gate could not decide (fetch, registry, render tool, publish); never a pass.
    Error,
}

impl AttemptResult {
    /// `published`, `unchanged`, `refused` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptResult::Published => "published",
            AttemptResult::Unchanged => "unchanged",
            AttemptResult::Refused => "refused",
            AttemptResult::Error => "error",
        }
    }
}

/// One sync attempt.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// The commit the ref resolved to (None if fetching failed).
    pub commit: Option<String>,
    /// RFC 3339 time.
    pub at: String,
    /// How it ended.
    pub result: AttemptResult,
    /// Reason code for refused/error.
    pub reason: Option<String>,
    /// The failing check: `commits`, `tags`, `ancestry`, `secrets`, `images`, `fetch`, `publish`,
    /// `policy`.
    pub check: Option<String>,
    /// The offending commit, file or image.
    pub subject: Option<String>,
    /// Human explanation (never secret).
    pub message: String,
    /// Seconds the attempt took.
    pub duration_seconds: f64,
}

/// Everything known about one source.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceState {
    /// Source name.
    pub name: String,
    /// Git URL or path, as [`crate::redact::url`] shows it (no userinfo, query or fragment).
    pub url: String,
    /// Ref followed.
    #[serde(rename = "ref")]
    pub refname: String,
    /// The verified revision being served.
    pub published: Option<Published>,
    /// The last attempt.
    pub last_attempt: Option<Attempt>,
    /// Recent refusals, newest first.
    pub recent_refusals: VecDeque<Attempt>,
    /// Consecutive refused or failed attempts.
    pub consecutive_failures: u64,
}

/// Prometheus metrics (rendered by the server).
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    /// `sigil_sync_runs_total{source,result}`.
    pub sync_runs: BTreeMap<(String, String), u64>,
    /// `sigil_sync_duration_seconds{source}`: bucket counts (per `DURATION_BUCKETS`, plus +Inf last), sum, count.
    pub durations: BTreeMap<String, (Vec<u64>, f64, u64)>,
    /// `sigil_refusals_total{source,check,reason}`.
    pub refusals: BTreeMap<(String, String, String), u64>,
    /// `sigil_http_requests_total{handler,code}`.
    pub http_requests: BTreeMap<(String, u16), u64>,
    /// `sigil_notifications_total{type,result}`.
    pub notifications: BTreeMap<(String, String), u64>,
}

/// The whole gate's state.
#[derive(Debug, Default)]
pub struct GateState {
    /// Sources in configuration order.
    pub sources: Vec<SourceState>,
    /// Metrics.
    pub metrics: Metrics,
    /// Set on SIGTERM: readiness fails, loops stop.
    pub shutting_down: bool,
    /// Unix seconds of the last loop heartbeat (liveness).
    pub heartbeat: i64,
    /// Liveness bound: a heartbeat older than this many seconds fails `/livez`.
    pub liveness_seconds: i64,
}

/// The state shared between threads.
pub type Shared = Arc<Mutex<GateState>>;

impl GateState {
    /// Records an attempt (and, when published, the new publication) and updates metrics.
    pub fn record(&mut self, source: &str, attempt: Attempt, published: Option<Published>) {
        let m = &mut self.metrics;
        *m.sync_runs
            .entry((source.to_string(), attempt.result.as_str().to_string()))
            .or_default() += 1;
        let d = m
            .durations
            .entry(source.to_string())
            .or_insert_with(|| (vec![0; DURATION_BUCKETS.len() + 1], 0.0, 0));
        let slot = DURATION_BUCKETS
            .iter()
            .position(|b| attempt.duration_seconds <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        for c in d.0.iter_mut().skip(slot) {
            *c += 1;
        }
        d.1 += attempt.duration_seconds;
        d.2 += 1;
        if attempt.result == AttemptResult::Refused {
            let key = (
                source.to_string(),
                attempt.check.clone().unwrap_or_default(),
                attempt.reason.clone().unwrap_or_default(),
            );
            *m.refusals.entry(key).or_default() += 1;
        }
        let Some(s) = self.sources.iter_mut().find(|s| s.name == source) else {
            return;
        };
        match attempt.result {
            AttemptResult::Refused | AttemptResult::Error => s.consecutive_failures += 1,
            _ => s.consecutive_failures = 0,
        }
        if attempt.result == AttemptResult::Refused {
            s.recent_refusals.push_front(attempt.clone());
            s.recent_refusals.truncate(RECENT_REFUSALS);
        }
        if let Some(p) = published {
            s.published = Some(p);
        }
        s.last_attempt = Some(attempt);
    }

    /// Ready once every source serves a verified revision (and not shutting down).
    pub fn ready(&self) -> bool {
        !self.shutting_down && self.sources.iter().all(|s| s.published.is_some())
    }
}

/// Sync requests per source: a request while a sync runs leaves exactly one pending.
#[derive(Default)]
pub struct Triggers {
    state: Mutex<HashMap<String, bool>>,
    wake: Condvar,
    closed: std::sync::atomic::AtomicBool,
}

impl Triggers {
    /// Asks for a sync of `source` (webhook, poll timer). Returns false for an unknown source.
    pub fn request(&self, source: &str) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        match s.get_mut(source) {
            Some(pending) => {
                *pending = true;
                self.wake.notify_all();
                true
            }
            None => false,
        }
    }

    /// Registers a source (pending at start, so the first sync runs at once).
    pub fn add(&self, source: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.insert(source.to_string(), true);
        }
    }

    /// Waits until `source` is pending or `timeout` passes; clears and returns the pending
    /// flag. The caller then runs one sync: requests arriving meanwhile coalesce into one.
    pub fn wait(&self, source: &str, timeout: std::time::Duration) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return false;
            }
            if let Some(p) = s.get_mut(source)
                && *p
            {
                *p = false;
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            match self.wake.wait_timeout(s, deadline - now) {
                Ok((guard, _)) => s = guard,
                Err(_) => return false,
            }
        }
    }

    /// Wakes every waiter and makes every later wait return at once (shutdown).
    pub fn wake_all(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let _guard = self.state.lock();
        self.wake.notify_all();
    }
}
