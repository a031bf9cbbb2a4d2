//! `sigil render`: the Argo CD ConfigManagementPlugin generate command. Verifies the revision
//! Argo CD asks for (`ARGOCD_APP_REVISION`) with the `.git` shipped to the plugin, renders the
//! application path **of that verified commit** (read from the git objects, not the checkout)
//! as Argo CD would (kustomize where the path holds a kustomization, else the directory's
//! files), runs the shared checks on the render, verifies its images and prints exactly what
//! was verified, images pinned to their digests. A refusal exits non-zero with one clear line
//! on stderr, so Argo CD keeps the live state. Exit codes: 0 rendered, 1 refused, 2
//! usage/configuration, 3 operational.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::state::AttemptResult;
use super::sync::{Render, RenderFailure, Stop, render_output, verified_tree};
use crate::git::repo::Repo;
use crate::git::verify::Context;
use crate::manifest::render::{Choice, Renderer};
use crate::policy::Policy;

/// Arguments of `sigil render`.
pub struct RenderArgs<'a> {
    /// Policy file (outside the repository).
    pub policy: &'a Path,
    /// Revision (default `ARGOCD_APP_REVISION`).
    pub revision: Option<&'a str>,
    /// Ref the revision is verified for (default from `ARGOCD_APP_SOURCE_TARGET_REVISION`).
    pub refname: Option<&'a str>,
    /// Directory of the application (default: the current directory).
    pub path: Option<&'a Path>,
    /// age identities: verify SOPS MACs and, with `decrypt`, print plaintext.
    pub age_key_file: Option<&'a Path>,
    /// Unwrap AWS KMS keys with the process's AWS credentials.
    pub aws_kms: bool,
    /// Unwrap Vault transit keys with the process's Vault token.
    pub vault_transit: bool,
    /// Print decrypted SOPS files.
    pub decrypt: bool,
    /// Verify images.
    pub images: bool,
    /// How the path is rendered.
    pub choice: Choice,
    /// Flux-style post-build variables.
    pub substitute: BTreeMap<String, String>,
}

fn fail(code: i32, msg: &str) -> i32 {
    eprintln!("sigil render: {msg}");
    code
}

/// Runs the command; returns the exit code.
pub fn run(a: &RenderArgs<'_>) -> i32 {
    let app_dir: PathBuf = match a.path {
        Some(p) => p.to_path_buf(),
        None => match std::env::current_dir() {
            Ok(d) => d,
            Err(e) => return fail(3, &format!("no current directory: {e}")),
        },
    };
    let revision = match a
        .revision
        .map(str::to_string)
        .or_else(|| std::env::var("ARGOCD_APP_REVISION").ok())
    {
        Some(r) if !r.is_empty() => r,
        _ => return fail(2, "no revision: pass --revision or set ARGOCD_APP_REVISION"),
    };
    let refname = a
        .refname
        .map(str::to_string)
        .or_else(|| {
            std::env::var("ARGOCD_APP_SOURCE_TARGET_REVISION")
                .ok()
                .filter(|r| !r.is_empty())
        })
        .map(|r| {
            if r.starts_with("refs/") || r == "HEAD" {
                r
            } else if r.len() >= 40 && r.bytes().all(|b| b.is_ascii_hexdigit()) {
                "HEAD".into()
            } else {
                format!("refs/heads/{r}")
            }
        })
        .unwrap_or_else(|| "HEAD".into());
    if decrypt_without_key(a) {
        return fail(2, "--decrypt needs --age-key-file");
    }
    let mut repo = match Repo::open(&app_dir) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                2,
                &format!("{e} (Argo CD must not exclude .git from the plugin's source)"),
            );
        }
    };
    let Some(top) = repo.toplevel().map(Path::to_path_buf) else {
        return fail(2, "the application directory is not inside a git work tree");
    };
    if let (Ok(p), Ok(t)) = (std::fs::canonicalize(a.policy), std::fs::canonicalize(&top))
        && p.starts_with(&t)
    {
        return fail(
            2,
            "the policy is inside the repository it judges; mount it from a ConfigMap",
        );
    }
    let policy = match Policy::load(a.policy) {
        Ok(p) => p,
        Err(errors) => {
            return fail(
                2,
                &format!(
                    "invalid policy {}: {}",
                    a.policy.display(),
                    errors.join("; ")
                ),
            );
        }
    };
    let commit = match repo.resolve(&format!("{revision}^{{commit}}")) {
        Ok(c) => c,
        Err(e) => {
            return fail(
                1,
                &format!("refused: revision {revision} is not a commit here: {e}"),
            );
        }
    };
    let now = crate::sops::time::now_unix();
    let ctx = Context {
        policy: &policy,
        refname: refname.clone(),
        first_seen: None,
        now,
        tag_signers: None,
        anchored: None,
    };
    let tree = match verified_tree(&mut repo, &top, &commit, &ctx) {
        Ok(t) => t,
        Err((code, msg)) => return fail(code, &msg),
    };
    let prefix = match std::fs::canonicalize(&app_dir)
        .ok()
        .zip(std::fs::canonicalize(&top).ok())
    {
        Some((d, t)) => d
            .strip_prefix(&t)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        None => String::new(),
    };
    let mode = a.choice.mode_for(tree.content(), &prefix);
    let work = match tempfile::Builder::new().prefix("sigil-render-").tempdir() {
        Ok(w) => w,
        Err(e) => return fail(3, &format!("cannot make a build directory: {e}")),
    };
    let renderer = match Renderer::new(mode, work.path().to_path_buf()) {
        Ok(r) => r,
        Err(e) => return fail(2, &e),
    };
    let mut verdict = serde_json::json!({});
    let stop = |s: Stop| {
        let code = if s.result == AttemptResult::Refused {
            1
        } else {
            3
        };
        let what = s.result.as_str();
        fail(
            code,
            &format!("{what}: {} {}: {}", s.check, s.reason, s.message),
        )
    };
    let request = Render {
        renderer: &renderer,
        policy: &policy,
        age_key_file: a.age_key_file,
        aws_kms: a.aws_kms,
        vault_transit: a.vault_transit,
        substitute: (!a.substitute.is_empty()).then_some(&a.substitute),
        check_secrets: true,
    };
    let out = match render_output(&request, &tree, a.images, a.decrypt, &mut verdict) {
        Ok(o) => o,
        Err(RenderFailure::Stop(s)) => return stop(s),
        Err(RenderFailure::Output(r)) => {
            return fail(
                1,
                &format!("refused: {}: {}: {}", r.code, r.subject, r.message),
            );
        }
    };
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(out.content())
        .and_then(|_| stdout.flush())
        .is_err()
    {
        return 3;
    }
    0
}

fn decrypt_without_key(a: &RenderArgs<'_>) -> bool {
    a.decrypt && a.age_key_file.is_none() && !a.aws_kms && !a.vault_transit
}
