//! `sigil verify blob`: one artifact (a file or `sha256:<hex>`) against one sigstore bundle,
//! keyless or with a key, offline. Exit 0 verified, 1 refused (any bad or non-matching bundle,
//! and verification material that does not parse: a trust root or key file is part of what
//! is verified), 2 usage (a file that cannot be read), 3 operational.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::args::BlobArgs;
use super::verify::Failure;
use crate::image::blob::{Artifact, verify_blob};
use crate::image::bundle::MAX_BUNDLE;
use crate::image::pubkey::PublicKey;
use crate::image::public_good;
use crate::image::trust_root::TrustRoot;
use crate::image::verify::{Authority, Failure as Refusal, Keyless, Matcher, Passed, Trust};
use crate::sops::time::format_unix;
use crate::verdict::Decision;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    result: Decision,
    reason: Option<&'static str>,
    detail: Option<&'a str>,
    trust_root: &'a str,
    artifacts: [ArtifactVerdict<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactVerdict<'a> {
    artifact: &'a str,
    digest: String,
    result: Decision,
    reason: Option<&'static str>,
    detail: Option<&'a str>,
    signatures: [SignatureVerdict<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignatureVerdict<'a> {
    source: String,
    format: &'static str,
    result: Decision,
    reason: Option<&'static str>,
    detail: Option<&'a str>,
    identity: Option<&'a str>,
    signed_at: Option<String>,
}

/// Runs the command; returns the exit code.
pub fn run(args: &BlobArgs) -> Result<i32, Failure> {
    let trust = trust(args)?;
    let artifact = artifact(&args.artifact)?;
    let bundle = read_capped(&args.bundle, MAX_BUNDLE).map_err(|e| {
        Failure(
            2,
            format!("cannot read bundle {}: {e}", args.bundle.display()),
        )
    })?;
    let (root_name, authority) = match trust {
        Ok(t) => t,
        Err(refusal) => {
            return Ok(report(args, &artifact, "-", Err(refusal)));
        }
    };
    let result = verify_blob(&bundle, &artifact, std::slice::from_ref(&authority));
    Ok(report(args, &artifact, &root_name, result))
}

/// The authority from the arguments: a key, or an identity under a trust root. A trust root
/// that does not parse is a refusal (it is verification material, as the bundle is).
fn trust(args: &BlobArgs) -> Result<Result<(String, Authority), Refusal>, Failure> {
    let updated = super::trust_root::default_path().filter(|p| p.exists());
    let (root_name, root) = match args.trusted_root.as_deref().or(updated.as_deref()) {
        Some(path) => {
            let bytes = read_capped(path, 4 << 20).map_err(|e| {
                Failure(
                    2,
                    format!("cannot read trusted root {}: {e}", path.display()),
                )
            })?;
            match TrustRoot::from_json(&bytes) {
                Ok(root) => (
                    format!(
                        "{} (sha256:{})",
                        path.display(),
                        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
                    ),
                    root,
                ),
                Err(e) => {
                    return Ok(Err(Refusal {
                        reason: "trust-root-invalid",
                        detail: format!("trusted root {}: {e}", path.display()),
                    }));
                }
            }
        }
        None => (
            public_good::NAME.to_string(),
            public_good::root()
                .map_err(|e| Failure(3, format!("the pinned trust root does not parse: {e}")))?,
        ),
    };
    let root = Arc::new(root);
    if let Some(key_path) = &args.key {
        let bytes = read_capped(key_path, 1 << 20)
            .map_err(|e| Failure(2, format!("cannot read key {}: {e}", key_path.display())))?;
        let text = String::from_utf8_lossy(&bytes);
        let key = match PublicKey::from_pem(&text) {
            Ok(key) => key,
            Err(e) => {
                return Ok(Err(Refusal {
                    reason: "untrusted-key",
                    detail: format!("key {}: {e}", key_path.display()),
                }));
            }
        };
        let authority = Authority {
            name: format!("key {}", key_path.display()),
            trust: Trust::Key {
                key,
                tlog: (!args.insecure_ignore_tlog).then_some(root),
            },
        };
        return Ok(Ok((root_name, authority)));
    }
    let subject = matcher(
        args.certificate_identity.as_deref(),
        args.certificate_identity_regexp.as_deref(),
        "--certificate-identity or --certificate-identity-regexp (or --key)",
    )?;
    let issuer = matcher(
        args.certificate_oidc_issuer.as_deref(),
        args.certificate_oidc_issuer_regexp.as_deref(),
        "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp",
    )?;
    let authority = Authority {
        name: "identity".into(),
        trust: Trust::Keyless(Box::new(Keyless {
            root,
            issuer,
            subject,
            require_sct: !args.insecure_ignore_sct,
            require_tlog: !args.insecure_ignore_tlog,
            rekor_search: None,
        })),
    };
    Ok(Ok((root_name, authority)))
}

fn matcher(exact: Option<&str>, regex: Option<&str>, what: &str) -> Result<Matcher, Failure> {
    Matcher::exact_or_regex(exact, regex)
        .map_err(|e| Failure(2, e))?
        .ok_or_else(|| Failure(2, format!("keyless verification needs {what}")))
}

/// A path, or `sha256:<64 hex>` when that is not a path on disk (the conformance protocol's
/// rule).
fn artifact(arg: &str) -> Result<Artifact, Failure> {
    let path = Path::new(arg);
    if !path.exists()
        && let Some(a) = Artifact::from_digest(arg)
    {
        return Ok(a);
    }
    if path.is_dir() {
        return Err(Failure(2, format!("the artifact {arg} is a directory")));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| Failure(2, format!("cannot read artifact {arg}: {e}")))?;
    Artifact::from_reader(file).map_err(|e| Failure(3, format!("cannot read artifact {arg}: {e}")))
}

fn read_capped(path: &Path, cap: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(cap as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() > cap {
        return Err(std::io::Error::other(format!("larger than {cap} bytes")));
    }
    Ok(out)
}

fn report(
    args: &BlobArgs,
    artifact: &Artifact,
    root_name: &str,
    result: Result<Passed, Refusal>,
) -> i32 {
    let (decision, reason, detail, identity, signed_at) = match &result {
        Ok(p) => (
            Decision::Verified,
            None,
            None,
            Some(p.identity.as_str()),
            p.signed_at.map(format_unix),
        ),
        Err(f) => (
            Decision::Refused,
            Some(f.reason),
            Some(f.detail.as_str()),
            None,
            None,
        ),
    };
    if args.format == "json" {
        let r = Report {
            result: decision,
            reason,
            detail,
            trust_root: root_name,
            artifacts: [ArtifactVerdict {
                artifact: &args.artifact,
                digest: artifact.digest(),
                result: decision,
                reason,
                detail,
                signatures: [SignatureVerdict {
                    source: args.bundle.display().to_string(),
                    format: "bundle",
                    result: decision,
                    reason,
                    detail,
                    identity,
                    signed_at: signed_at.clone(),
                }],
            }],
        };
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        match &result {
            Ok(p) => println!(
                "VERIFIED {} ({}): {}{} [trust root: {root_name}]",
                args.artifact,
                artifact.digest(),
                p.identity,
                signed_at
                    .map(|t| format!(", signed {t}"))
                    .unwrap_or_default(),
            ),
            Err(f) => println!(
                "REFUSED {} ({}): {} — {} [trust root: {root_name}]",
                args.artifact,
                artifact.digest(),
                f.reason,
                f.detail
            ),
        }
    }
    if result.is_ok() { 0 } else { 1 }
}
