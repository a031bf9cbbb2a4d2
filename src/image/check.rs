//! Verifying a set of images against the policy's image rules: rule selection, digest pinning,
//! tag resolution (by hashing the manifest bytes), signature discovery, per-signature checks,
//! threshold, and a verdict cache keyed by (image, digest, rule, policy digest) whose entries
//! are authenticated with the local [`CacheKey`]. Images are checked in parallel with a bound.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::reference::Reference;
use super::registry::{Client, RegistryError};
use super::sign::simple_signing_payload;
use super::signature::{self, Location};
use super::verify::{self, Requirements, SignatureReport};
use crate::cache_key::CacheKey;
use crate::policy::images::{ImagePolicy, ImageRule};
use crate::verdict::Decision;

/// The outcome of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Enough signatures passed every check (or the image matches no rule and unmatched images are allowed).
    Verified,
    /// Refused by policy.
    Refused,
    /// Could not be decided (registry unreachable, denied, protocol error): never a pass.
    Error,
}

/// One signature in a verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureVerdict {
    /// Where it was found.
    pub source: String,
    /// `legacy` or `bundle`.
    pub format: &'static str,
    /// Verified or refused.
    pub result: Decision,
    /// Reason code when refused.
    pub reason: Option<&'static str>,
    /// Explanation when refused.
    pub detail: Option<String>,
    /// The authority that vouched.
    pub authority: Option<String>,
    /// Who signed.
    pub identity: Option<String>,
    /// Trusted signing time (unix seconds).
    pub signed_at: Option<i64>,
}

/// The verdict for one image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageVerdict {
    /// The reference as written (first occurrence).
    pub reference: String,
    /// Normalised `registry/repository[:tag][@digest]`.
    pub image: String,
    /// The manifest digest checked.
    pub digest: Option<String>,
    /// Where it was found (`file#document/pointer`), or `argument`.
    pub sources: Vec<String>,
    /// The matching rule's pattern.
    pub rule: Option<String>,
    /// Outcome.
    pub result: Outcome,
    /// Reason code unless verified.
    pub reason: Option<&'static str>,
    /// Explanation.
    pub detail: Option<String>,
    /// Served from the verdict cache.
    pub cached: bool,
    /// Every signature examined.
    pub signatures: Vec<SignatureVerdict>,
}

/// An image to check and where it was found.
#[derive(Debug, Clone)]
pub struct Target {
    /// The reference as written.
    pub raw: String,
    /// Parsed and normalised.
    pub reference: Reference,
    /// Origins.
    pub sources: Vec<String>,
}

/// Images to check, each once, with every place it was found (first occurrence's spelling).
#[derive(Default)]
pub struct Targets {
    list: Vec<Target>,
    index: std::collections::HashMap<String, usize>,
}

impl Targets {
    /// Records `reference` found at `source`.
    pub fn add(&mut self, raw: &str, reference: Reference, source: String) {
        let key = reference.to_string();
        match self.index.get(&key) {
            Some(&i) => self.list[i].sources.push(source),
            None => {
                self.index.insert(key, self.list.len());
                self.list.push(Target {
                    raw: raw.to_string(),
                    reference,
                    sources: vec![source],
                });
            }
        }
    }

    /// The targets in first-seen order.
    pub fn into_vec(self) -> Vec<Target> {
        self.list
    }
}

/// A directory of verified image verdicts, one file per cache key, each authenticated with
/// `key` (bound to its file name): a file that does not authenticate is a miss.
pub struct VerdictCache<'a> {
    /// The directory.
    pub dir: PathBuf,
    /// The key authenticating its entries.
    pub key: &'a CacheKey,
}

/// MAC domain of image cache entries.
const CACHE_DOMAIN: &str = "sigil image verdict v1";

/// Options of a run.
pub struct Checker<'a> {
    /// Registry client.
    pub client: &'a Client,
    /// Compiled image rules.
    pub policy: &'a ImagePolicy,
    /// Digest of the policy and its trust files.
    pub policy_digest: &'a str,
    /// The verdict cache.
    pub cache: Option<VerdictCache<'a>>,
    /// Parallel image checks.
    pub jobs: usize,
}

impl Checker<'_> {
    /// Checks every target (deduplicated by the caller), in parallel; verdicts keep the input order.
    pub fn check_all(&self, targets: &[Target]) -> Vec<ImageVerdict> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<ImageVerdict>>> = Mutex::new(vec![None; targets.len()]);
        std::thread::scope(|s| {
            for _ in 0..self.jobs.clamp(1, 32).min(targets.len().max(1)) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(t) = targets.get(i) else { break };
                        let v = self.check(t);
                        if let Ok(mut r) = results.lock() {
                            r[i] = Some(v);
                        }
                    }
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .collect()
    }

    /// Checks one image.
    pub fn check(&self, t: &Target) -> ImageVerdict {
        let r = &t.reference;
        let mut v = ImageVerdict {
            reference: t.raw.clone(),
            image: r.to_string(),
            digest: r.digest.clone(),
            sources: t.sources.clone(),
            rule: None,
            result: Outcome::Refused,
            reason: None,
            detail: None,
            cached: false,
            signatures: Vec::new(),
        };
        let name = r.name();
        let Some(rule) = self.policy.rule_for(&name) else {
            if self.policy.allow_unmatched {
                v.result = Outcome::Verified;
                v.detail = Some("matches no image rule; allowed by images.unmatched: allow".into());
            } else {
                v.reason = Some("no-rule");
                v.detail = Some(format!(
                    "{name} matches no image rule (images.unmatched: deny)"
                ));
            }
            return v;
        };
        v.rule = Some(rule.pattern.clone());
        if rule.require_digest && r.digest.is_none() {
            v.reason = Some("tag-only");
            v.detail = Some(format!(
                "rule {} requires a digest; {} names only a tag",
                rule.pattern, t.raw
            ));
            return v;
        }
        let digest = match &r.digest {
            Some(d) => d.clone(),
            None => {
                let tag = r.tag.as_deref().unwrap_or("latest");
                match self.client.manifest(&r.registry, &r.repository, tag) {
                    Ok(Some(m)) => m.digest,
                    Ok(None) => {
                        v.reason = Some("not-found");
                        v.detail = Some(format!("{name}:{tag} does not exist in the registry"));
                        return v;
                    }
                    Err(e) => return registry_failure(v, e),
                }
            }
        };
        v.digest = Some(digest.clone());
        let cache_key = self.cache_key(&name, &digest, rule);
        if let Some(hit) = self.cache_get(&cache_key) {
            v.result = Outcome::Verified;
            v.cached = true;
            v.signatures = hit;
            return v;
        }
        let (sig_registry, sig_repo) = match &rule.signature_repository {
            Some((reg, repo)) => (reg.as_str(), repo.as_str()),
            None => (r.registry.as_str(), r.repository.as_str()),
        };
        let expected_payloads = expected_payloads(r, &digest, &rule.annotations);
        let at = Location {
            registry: sig_registry,
            repository: sig_repo,
            digest: &digest,
            expected_payloads: &expected_payloads,
        };
        let req = Requirements {
            image_digest: &digest,
            annotations: &rule.annotations,
            authorities: &rule.authorities,
        };
        // Legacy signatures first (2 requests); bundles are looked up only when those do not
        // already satisfy the rule (an image passes when enough signatures pass, whatever
        // their format), so a legacy-signed image costs no referrer lookups.
        let mut reports: Vec<SignatureReport> = match signature::discover_legacy(self.client, &at) {
            Ok(c) => c
                .iter()
                .map(|c| verify::verify_candidate(c, &req))
                .collect(),
            Err(e) => return registry_failure(v, e),
        };
        if vouching(&reports).len() < rule.threshold.max(1) {
            match signature::discover_bundles(self.client, &at) {
                Ok(c) => reports.extend(c.iter().map(|c| verify::verify_candidate(c, &req))),
                Err(e) => return registry_failure(v, e),
            }
        }
        decide(&mut v, rule, &reports);
        v.signatures = reports.iter().map(signature_verdict).collect();
        if v.result == Outcome::Verified {
            self.cache_put(&cache_key, &v.signatures);
        }
        v
    }

    fn cache_key(&self, name: &str, digest: &str, rule: &ImageRule) -> String {
        let mut h = Sha256::new();
        for part in [
            name,
            digest,
            &rule.pattern,
            self.policy_digest,
            env!("CARGO_PKG_VERSION"),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        hex::encode(h.finalize())
    }

    fn cache_get(&self, key: &str) -> Option<Vec<SignatureVerdict>> {
        let cache = self.cache.as_ref()?;
        let bytes = std::fs::read(cache.dir.join(key)).ok()?;
        let body = cache
            .key
            .open_sealed(CACHE_DOMAIN, key.as_bytes(), &bytes)?;
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let list = v.get("signatures")?.as_array()?;
        Some(
            list.iter()
                .map(|s| {
                    let g = |k: &str| s.get(k).and_then(|x| x.as_str()).map(str::to_string);
                    SignatureVerdict {
                        source: g("source").unwrap_or_default(),
                        format: if g("format").as_deref() == Some("bundle") {
                            "bundle"
                        } else {
                            "legacy"
                        },
                        result: Decision::Verified,
                        reason: None,
                        detail: None,
                        authority: g("authority"),
                        identity: g("identity"),
                        signed_at: s.get("signedAt").and_then(|x| x.as_i64()),
                    }
                })
                .collect(),
        )
    }

    fn cache_put(&self, key: &str, sigs: &[SignatureVerdict]) {
        let Some(cache) = &self.cache else { return };
        let passed: Vec<&SignatureVerdict> = sigs
            .iter()
            .filter(|s| s.result == Decision::Verified)
            .collect();
        let doc = serde_json::json!({ "signatures": passed });
        let record = cache
            .key
            .seal(CACHE_DOMAIN, key.as_bytes(), doc.to_string().as_bytes());
        if std::fs::create_dir_all(&cache.dir).is_ok() {
            let _ =
                crate::atomic::write(&cache.dir.join(key), &record, crate::atomic::Mode::Public);
        }
    }
}

/// cosign's simple-signing payloads for this image, without and with the rule's required
/// annotations, naming the repository as cosign does (also `index.docker.io/...` for Docker Hub):
/// `.sig` layers carrying exactly these bytes need no blob request.
fn expected_payloads(
    r: &Reference,
    digest: &str,
    annotations: &BTreeMap<String, String>,
) -> Vec<Vec<u8>> {
    let mut names = vec![format!("{}/{}", r.registry, r.repository)];
    if r.registry == "docker.io" {
        names.insert(0, format!("index.docker.io/{}", r.repository));
    }
    let mut out = Vec::new();
    for name in &names {
        out.push(simple_signing_payload(name, digest, &BTreeMap::new()));
        if !annotations.is_empty() {
            out.push(simple_signing_payload(name, digest, annotations));
        }
    }
    out
}

fn registry_failure(mut v: ImageVerdict, e: RegistryError) -> ImageVerdict {
    let (outcome, reason) = match &e {
        RegistryError::Unreachable { .. } => (Outcome::Error, "unreachable"),
        RegistryError::Denied { .. } => (Outcome::Error, "registry-denied"),
        RegistryError::Protocol { .. } => (Outcome::Error, "registry-error"),
        RegistryError::TooLarge { .. } => (Outcome::Refused, "oversized"),
        RegistryError::DigestMismatch { .. } => (Outcome::Refused, "digest-mismatch"),
    };
    v.result = outcome;
    v.reason = Some(reason);
    v.detail = Some(e.to_string());
    v
}

/// Threshold over distinct authorities; otherwise the most informative failure.
/// The distinct authorities that vouch through passing signatures.
fn vouching(reports: &[SignatureReport]) -> BTreeSet<&str> {
    reports
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .map(|p| p.authority.as_str())
        .collect()
}

fn decide(v: &mut ImageVerdict, rule: &ImageRule, reports: &[SignatureReport]) {
    let vouching = vouching(reports);
    if vouching.len() >= rule.threshold && !vouching.is_empty() {
        v.result = Outcome::Verified;
        return;
    }
    v.result = Outcome::Refused;
    if !vouching.is_empty() {
        v.reason = Some("threshold");
        v.detail = Some(format!(
            "{} of the {} required authorities vouch ({})",
            vouching.len(),
            rule.threshold,
            vouching.iter().copied().collect::<Vec<_>>().join(", ")
        ));
        return;
    }
    let failures: Vec<&verify::Failure> = reports
        .iter()
        .filter_map(|r| r.result.as_ref().err())
        .filter(|f| f.reason != "not-a-signature")
        .collect();
    match failures.iter().max_by_key(|f| verify::rank(f.reason)) {
        None => {
            v.reason = Some("unsigned");
            v.detail = Some(format!(
                "no cosign signature found for {} (legacy .sig tag or sigstore bundle referrer)",
                v.digest.as_deref().unwrap_or("the image")
            ));
        }
        Some(f) => {
            v.reason = Some(f.reason);
            v.detail = Some(if failures.len() == 1 {
                f.detail.clone()
            } else {
                format!(
                    "none of {} signatures passed; closest: {}",
                    failures.len(),
                    f.detail
                )
            });
        }
    }
}

fn signature_verdict(r: &SignatureReport) -> SignatureVerdict {
    match &r.result {
        Ok(p) => SignatureVerdict {
            source: r.source.clone(),
            format: r.format,
            result: Decision::Verified,
            reason: None,
            detail: None,
            authority: Some(p.authority.clone()),
            identity: Some(p.identity.clone()),
            signed_at: p.signed_at,
        },
        Err(f) => SignatureVerdict {
            source: r.source.clone(),
            format: r.format,
            result: Decision::Refused,
            reason: Some(f.reason),
            detail: Some(f.detail.clone()),
            authority: None,
            identity: None,
            signed_at: None,
        },
    }
}
