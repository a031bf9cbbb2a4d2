//! `sigil verify images`: every image of the given paths, rendered as their consumer builds
//! them (kustomize where a path holds a kustomization, else its files), or of references,
//! against the policy's image rules; exit 0 verified, 1 refused, 2 usage/configuration, 3
//! operational.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::rendered::check_path;
use super::verify::Failure;
use crate::image::check::{Checker, ImageVerdict, Outcome, Target, Targets, VerdictCache};
use crate::image::reference::Reference;
use crate::image::registry::{Client, ClientOptions};
use crate::manifest::check::Options;
use crate::manifest::render::Choice;
use crate::manifest::secrets::Refusal;
use crate::policy::Policy;
use crate::verdict::Decision;

/// Arguments of `verify images`.
pub struct Args<'a> {
    /// Paths or references.
    pub targets: &'a [String],
    /// Policy file.
    pub policy: &'a Path,
    /// `human` or `json`.
    pub format: &'a str,
    /// Verdict cache directory.
    pub cache_dir: Option<&'a Path>,
    /// The key authenticating it (default: see [`super::verify::open_cache_key`]).
    pub cache_key: Option<&'a Path>,
    /// Parallelism.
    pub jobs: usize,
    /// Request timeout.
    pub timeout: Duration,
    /// Largest manifest accepted.
    pub max_manifest: u64,
    /// How paths are rendered.
    pub choice: Choice,
    /// Flux postBuild variables.
    pub substitute: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    result: &'static str,
    reason: Option<&'static str>,
    policy_digest: &'a str,
    refusals: Vec<serde_json::Value>,
    images: &'a [ImageVerdict],
}

/// Runs the command; returns the exit code.
pub fn run(args: &Args<'_>) -> Result<i32, Failure> {
    let policy = Policy::load(args.policy).map_err(|errors| {
        Failure(
            2,
            format!(
                "invalid policy {}:\n  {}",
                args.policy.display(),
                errors.join("\n  ")
            ),
        )
    })?;
    let (targets, refusals) = collect_targets(args, &policy)?;
    let client = Client::new(ClientOptions {
        insecure: policy.images.insecure_registries.clone(),
        timeout: args.timeout,
        max_manifest: args.max_manifest,
        ..ClientOptions::default()
    })
    .map_err(|e| Failure(2, e))?;
    let key = args
        .cache_dir
        .and_then(|_| super::verify::open_cache_key(args.cache_key));
    let checker = Checker {
        client: &client,
        policy: &policy.images,
        policy_digest: &policy.digest,
        cache: args
            .cache_dir
            .zip(key.as_ref())
            .map(|(dir, key)| VerdictCache {
                dir: dir.to_path_buf(),
                key,
            }),
        jobs: args.jobs,
    };
    let verdicts = checker.check_all(&targets);
    Ok(report(args.format, &policy.digest, &refusals, &verdicts))
}

/// Paths become the images their render names (plus the render's refusals); anything else
/// must be an image reference.
fn collect_targets(
    args: &Args<'_>,
    policy: &Policy,
) -> Result<(Vec<Target>, Vec<Refusal>), Failure> {
    let mut targets = Targets::default();
    let mut errors = Vec::new();
    let mut refusals = Vec::new();
    let opts = Options {
        image_fields: &policy.images.fields,
        allowed_sources: &policy.allowed_sources,
        require_sops: &[],
        substitute: (!args.substitute.is_empty()).then_some(&args.substitute),
    };
    for arg in args.targets {
        let path = Path::new(arg);
        if path.exists() {
            let found =
                check_path(path, &args.choice, &opts, None).map_err(|(c, m)| Failure(c, m))?;
            refusals.extend(
                found
                    .refusals
                    .into_iter()
                    .filter(|r| r.check() != "secrets"),
            );
            for (raw, location) in found.images {
                match Reference::parse(&raw) {
                    Ok(reference) => targets.add(&raw, reference, location),
                    Err(e) => errors.push(format!("{location}: '{raw}': {e}")),
                }
            }
        } else {
            match Reference::parse(arg) {
                Ok(reference) => targets.add(arg, reference, "argument".into()),
                Err(e) => errors.push(format!("{e} (and no such file)")),
            }
        }
    }
    if !errors.is_empty() {
        return Err(Failure(2, errors.join("\n  ")));
    }
    Ok((targets.into_vec(), refusals))
}

fn report(
    format: &str,
    policy_digest: &str,
    refusals: &[Refusal],
    verdicts: &[ImageVerdict],
) -> i32 {
    let refused = verdicts.iter().find(|v| v.result == Outcome::Refused);
    let errored = verdicts.iter().find(|v| v.result == Outcome::Error);
    let (result, reason, code) = match (refusals.first(), refused, errored) {
        (Some(r), _, _) => ("refused", Some(r.code), 1),
        (None, Some(r), _) => ("refused", r.reason, 1),
        (None, None, Some(e)) => ("error", e.reason, 3),
        (None, None, None) => ("verified", None, 0),
    };
    if format == "json" {
        let r = Report {
            result,
            reason,
            policy_digest,
            refusals: refusals
                .iter()
                .map(|r| serde_json::json!({"reason": r.code, "subject": r.subject, "detail": r.message}))
                .collect(),
            images: verdicts,
        };
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        for r in refusals {
            println!("REFUSED {}: {} — {}", r.subject, r.code, r.message);
        }
        for v in verdicts {
            let digest = v
                .digest
                .as_deref()
                .map(|d| &d[..d.len().min(19)])
                .unwrap_or("-");
            match v.result {
                Outcome::Verified => {
                    let by: Vec<String> = v
                        .signatures
                        .iter()
                        .filter(|s| s.result == Decision::Verified)
                        .map(|s| format!("{} ({})", s.identity.as_deref().unwrap_or("?"), s.format))
                        .collect();
                    let by = if by.is_empty() {
                        v.detail.clone().unwrap_or_default()
                    } else {
                        by.join(", ")
                    };
                    let cached = if v.cached { " [cached]" } else { "" };
                    println!("VERIFIED {} @{digest}: {by}{cached}", v.image);
                }
                Outcome::Refused | Outcome::Error => {
                    let word = if v.result == Outcome::Refused {
                        "REFUSED"
                    } else {
                        "ERROR"
                    };
                    println!(
                        "{word} {} @{digest}: {} — {}",
                        v.image,
                        v.reason.unwrap_or("refused"),
                        v.detail.as_deref().unwrap_or("")
                    );
                    for s in v
                        .signatures
                        .iter()
                        .filter(|s| s.result != Decision::Verified)
                    {
                        println!(
                            "    {} [{}]: {} — {}",
                            s.source,
                            s.format,
                            s.reason.unwrap_or("?"),
                            s.detail.as_deref().unwrap_or("")
                        );
                    }
                }
            }
        }
        let bad = verdicts
            .iter()
            .filter(|v| v.result != Outcome::Verified)
            .count();
        println!(
            "{result}: {} of {} image(s) verified",
            verdicts.len() - bad,
            verdicts.len()
        );
    }
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        for r in refusals {
            println!(
                "::error title=sigil {}::{}: {}",
                r.code,
                r.subject,
                r.message.replace('\n', " ")
            );
        }
        for v in verdicts.iter().filter(|v| v.result != Outcome::Verified) {
            let file = v
                .sources
                .first()
                .and_then(|s| s.split_once('#'))
                .map(|(f, _)| f.to_string());
            let loc = file.map(|f| format!("file={f},")).unwrap_or_default();
            println!(
                "::error {loc}title=sigil {}::image {} refused: {}",
                v.reason.unwrap_or("refused"),
                v.image,
                v.detail.as_deref().unwrap_or("").replace('\n', " ")
            );
        }
    }
    code
}
