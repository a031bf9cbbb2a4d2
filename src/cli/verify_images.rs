//! `sigil verify images`: every image of the given manifests (or references) against the
//! policy's image rules; exit 0 verified, 1 refused, 2 usage/configuration, 3 operational.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::verify::Failure;
use crate::image::check::{Checker, ImageVerdict, Outcome, Target, Targets, VerdictCache};
use crate::image::manifests;
use crate::image::reference::Reference;
use crate::image::registry::{Client, ClientOptions};
use crate::policy::Policy;

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
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    result: &'static str,
    reason: Option<&'static str>,
    policy_digest: &'a str,
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
    let targets = collect_targets(args.targets)?;
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
    Ok(report(args.format, &policy.digest, &verdicts))
}

/// Paths become the images their manifests name; anything else must be an image reference.
fn collect_targets(args: &[String]) -> Result<Vec<Target>, Failure> {
    let mut targets = Targets::default();
    let mut errors = Vec::new();
    for arg in args {
        let path = Path::new(arg);
        if path.exists() {
            for file in manifest_files(path).map_err(|e| Failure(2, e))? {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| Failure(2, format!("cannot read {}: {e}", file.display())))?;
                let overrides = kustomization_for(&file)?;
                let name = file.display().to_string();
                let found = manifests::find(&name, &text, &overrides).map_err(|e| Failure(2, e))?;
                for (f, r) in found.iter().zip(manifests::normalise(&found)) {
                    match r {
                        Ok(reference) => targets.add(&f.raw, reference, f.source()),
                        Err(e) => errors.push(e),
                    }
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
    Ok(targets.into_vec())
}

/// The manifest files under `path` (a file, or a directory walked recursively; hidden entries skipped).
fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let ft = e
                .file_type()
                .map_err(|err| format!("{}: {err}", p.display()))?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file()
                && (name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
                && !manifests::is_kustomization(&name)
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The `images:` overrides of the kustomization beside `file`, if any.
fn kustomization_for(file: &Path) -> Result<Vec<manifests::Override>, Failure> {
    let Some(dir) = file.parent() else {
        return Ok(Vec::new());
    };
    for name in ["kustomization.yaml", "kustomization.yml", "Kustomization"] {
        let p = dir.join(name);
        if p.is_file() {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| Failure(2, format!("cannot read {}: {e}", p.display())))?;
            return manifests::kustomize_overrides(&text)
                .map_err(|e| Failure(2, format!("{}: {e}", p.display())));
        }
    }
    Ok(Vec::new())
}

fn report(format: &str, policy_digest: &str, verdicts: &[ImageVerdict]) -> i32 {
    let refused = verdicts.iter().find(|v| v.result == Outcome::Refused);
    let errored = verdicts.iter().find(|v| v.result == Outcome::Error);
    let (result, first, code) = match (refused, errored) {
        (Some(r), _) => ("refused", Some(r), 1),
        (None, Some(e)) => ("error", Some(e), 3),
        (None, None) => ("verified", None, 0),
    };
    if format == "json" {
        let r = Report {
            result,
            reason: first.and_then(|v| v.reason),
            policy_digest,
            images: verdicts,
        };
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
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
                        .filter(|s| s.result == "verified")
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
                    for s in v.signatures.iter().filter(|s| s.result != "verified") {
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
