//! `sigil verify commits|tag`: policy verdicts with the §4 exit codes (0 verified, 1 refused,
//! 2 usage/configuration, 3 operational), human or JSON output, GitHub annotations.

use std::path::Path;

use serde::Serialize;

use super::args::{VerifyCommand, VerifyOpts};
use crate::cache_key::CacheKey;
use crate::git::repo::{GitError, Repo};
use crate::git::verify::{
    Cache, Context, Verdict, in_repo, verify_commit, verify_commits, verify_tag,
};
use crate::policy::{Mode, Policy};
use crate::verdict::Decision;

/// A usage/config (2) or operational (3) failure.
pub struct Failure(pub i32, pub String);

impl From<GitError> for Failure {
    fn from(e: GitError) -> Failure {
        match e {
            GitError::Usage(m) => Failure(2, m),
            GitError::Io(m) | GitError::Corrupt(m) => Failure(3, m),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    result: Decision,
    reason: Option<&'static str>,
    policy_digest: &'a str,
    #[serde(rename = "ref")]
    refname: &'a str,
    commits: &'a [Verdict],
    tags: &'a [Verdict],
}

fn load_policy(opts: &VerifyOpts, repo_root: &Path) -> Result<Policy, Failure> {
    let policy_abs = std::fs::canonicalize(&opts.policy).map_err(|e| {
        Failure(
            2,
            format!("cannot read policy {}: {e}", opts.policy.display()),
        )
    })?;
    if let Ok(root) = std::fs::canonicalize(repo_root)
        && policy_abs.starts_with(&root)
    {
        return Err(Failure(
            2,
            format!(
                "the policy {} is inside the repository being verified: a commit could rewrite its own policy; keep it outside (a ConfigMap, CI secret, or another checkout)",
                opts.policy.display()
            ),
        ));
    }
    Policy::load(&opts.policy).map_err(|errors| {
        Failure(
            2,
            format!(
                "invalid policy {}:\n  {}",
                opts.policy.display(),
                errors.join("\n  ")
            ),
        )
    })
}

/// The history of every `--trust-anchor`.
fn anchored(
    repo: &Repo,
    opts: &VerifyOpts,
) -> Result<Option<std::sync::Arc<std::collections::HashSet<String>>>, Failure> {
    if opts.trust_anchors.is_empty() {
        return Ok(None);
    }
    let mut all = std::collections::HashSet::new();
    for a in &opts.trust_anchors {
        let id = repo.resolve(&format!("{a}^{{commit}}"))?;
        all.extend(repo.ancestors(&id)?);
    }
    Ok(Some(std::sync::Arc::new(all)))
}

fn first_seen(opts: &VerifyOpts) -> Result<Option<i64>, Failure> {
    opts.first_seen
        .as_deref()
        .map(|t| {
            crate::sops::time::parse(t)
                .map(|d| d.unix_timestamp())
                .ok_or_else(|| Failure(2, format!("--first-seen '{t}' is not an RFC 3339 time")))
        })
        .transpose()
}

/// Runs a verify command; returns the exit code.
pub fn run(cmd: &VerifyCommand) -> i32 {
    match run_inner(cmd) {
        Ok(code) => code,
        Err(Failure(code, msg)) => {
            eprintln!("sigil: error: {msg}");
            if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
                println!("::error title=sigil::{}", msg.replace('\n', "%0A"));
            }
            code
        }
    }
}

fn run_inner(cmd: &VerifyCommand) -> Result<i32, Failure> {
    match cmd {
        VerifyCommand::Blob(args) => super::verify_blob::run(args),
        VerifyCommand::Images {
            targets,
            policy,
            format,
            cache_dir,
            cache_key,
            jobs,
            timeout,
            max_manifest_bytes,
            render,
        } => super::verify_images::run(&super::verify_images::Args {
            targets,
            policy,
            format,
            cache_dir: cache_dir.as_deref(),
            cache_key: cache_key.as_deref(),
            jobs: *jobs,
            timeout: std::time::Duration::from_secs(*timeout),
            max_manifest: *max_manifest_bytes,
            choice: render.choice("auto", true),
            substitute: render.variables().map_err(|e| Failure(2, e))?,
        }),
        VerifyCommand::Commits {
            rev,
            refname,
            since_last_verified,
            opts,
        } => {
            let mut repo = Repo::open(&opts.repo)?;
            let policy = load_policy(opts, repo.toplevel().unwrap_or(&opts.repo))?;
            let target_spec = rev.clone().unwrap_or_else(|| "HEAD".into());
            let (from, to) = match target_spec.split_once("..") {
                Some((a, b)) => (Some(a.to_string()), b.to_string()),
                None => (None, target_spec.clone()),
            };
            let refname = match refname {
                Some(r) => r.clone(),
                None => full_ref(&opts.repo, &to).ok_or_else(|| {
                    Failure(
                        2,
                        format!("cannot tell which ref '{to}' is; pass --ref refs/heads/<branch>"),
                    )
                })?,
            };
            let target = repo.resolve(&format!("{to}^{{commit}}"))?;
            let last = match since_last_verified {
                Some(state) => read_state(state)?,
                None => None,
            };
            let mut refusals_before = Vec::new();
            if policy.commits.mode == Mode::InRepo {
                return in_repo_commits(
                    &mut repo,
                    opts,
                    &policy,
                    &refname,
                    &target,
                    from.as_deref(),
                    last.as_deref(),
                    since_last_verified.as_deref(),
                );
            }
            let ctx = Context {
                policy: &policy,
                refname: refname.clone(),
                first_seen: first_seen(opts)?,
                now: crate::sops::time::now_unix(),
                tag_signers: None,
                anchored: anchored(&repo, opts)?,
            };
            let key = opts
                .cache
                .as_ref()
                .and_then(|_| open_cache_key(opts.cache_key.as_deref()));
            let mut cache = match (&opts.cache, &key) {
                (Some(path), Some(key)) => Some(Cache::load(path, key)),
                _ => None,
            };
            let from_id = from
                .as_ref()
                .map(|a| repo.resolve(&format!("{a}^{{commit}}")))
                .transpose()?;
            // With the cache, a range already verified up to some tip only needs what is new.
            let mut start = from_id.clone();
            if let (Some(c), Some(a)) = (&cache, &from_id)
                && let Some(tip) = c.tip(a, &ctx)
                && repo.is_ancestor(tip, &target)?
            {
                start = Some(tip.clone());
            }
            // With a range too, both hold: the tip must descend from the recorded commit
            // (no rollback), and every commit of the range is verified.
            let rolled_back = match &last {
                Some(l) if !repo.is_ancestor(l, &target)? => {
                    refusals_before.push(rollback_verdict(&target, l));
                    true
                }
                _ => false,
            };
            let ids = match (&start, &last) {
                (Some(a), _) => repo.range(a, &target)?,
                (None, Some(_)) if rolled_back => Vec::new(),
                (None, Some(l)) => repo.range(l, &target)?,
                (None, None)
                    if policy.commits.mode == Mode::Range && since_last_verified.is_some() =>
                {
                    repo.range_all(&target)?
                }
                (None, None) => vec![target.clone()],
            };
            let ids = if policy.commits.mode == Mode::Head && from.is_none() {
                ids.into_iter().filter(|i| i == &target).collect::<Vec<_>>()
            } else {
                ids
            };
            let mut verdicts = refusals_before;
            verdicts.extend(verify_commits(&mut repo, &ids, &ctx, cache.as_mut())?);
            if let (Some(c), Some(a)) = (cache.as_mut(), &from_id)
                && verdicts.iter().all(Verdict::verified)
            {
                c.set_tip(a, &target, &ctx);
            }
            if let (Some(c), Some(path)) = (&cache, &opts.cache) {
                c.save().map_err(|e| {
                    Failure(
                        3,
                        format!("cannot write the verdict cache {}: {e}", path.display()),
                    )
                })?;
            }
            let ok = verdicts.iter().all(Verdict::verified);
            if ok && let Some(state) = since_last_verified {
                write_state(state, &target)?;
            }
            Ok(report(&opts.format, &policy, &refname, &verdicts, &[]))
        }
        VerifyCommand::Tag { tag, opts } => {
            let mut repo = Repo::open(&opts.repo)?;
            let policy = load_policy(opts, repo.toplevel().unwrap_or(&opts.repo))?;
            let rule = policy.tag_rule(tag).ok().flatten();
            let ctx = Context {
                policy: &policy,
                refname: format!("refs/tags/{tag}"),
                first_seen: first_seen(opts)?,
                now: crate::sops::time::now_unix(),
                tag_signers: rule.map(|r| (format!("tags[{}]", r.pattern), r.signers.clone())),
                anchored: anchored(&repo, opts)?,
            };
            let (tags, commit) = verify_tag(&mut repo, tag, &ctx)?;
            let mut commits = Vec::new();
            let check_commit = rule.is_none_or(|r| r.verify_commit);
            if let Some(c) = commit
                && check_commit
                && tags.iter().all(Verdict::verified)
            {
                commits = verify_commit(&mut repo, &c, &ctx)?;
            }
            Ok(report(&opts.format, &policy, &ctx.refname, &commits, &tags))
        }
    }
}

/// `verify commits` in in-repo mode: an authenticated path from the trust root to `target`,
/// through `from` when a range `from..target` was given; with `--since-last-verified`, the
/// target must also descend from the commit recorded there.
#[allow(clippy::too_many_arguments)]
fn in_repo_commits(
    repo: &mut Repo,
    opts: &VerifyOpts,
    policy: &Policy,
    refname: &str,
    target: &str,
    from: Option<&str>,
    last: Option<&str>,
    state: Option<&Path>,
) -> Result<i32, Failure> {
    if opts.cache.is_some() {
        eprintln!(
            "sigil: note: in-repo mode walks the path from the trust root every time; --cache is not used"
        );
    }
    let ctx = Context {
        policy,
        refname: refname.to_string(),
        first_seen: first_seen(opts)?,
        now: crate::sops::time::now_unix(),
        tag_signers: None,
        anchored: anchored(repo, opts)?,
    };
    if let Some(l) = last
        && !repo.is_ancestor(l, target)?
    {
        return Ok(report(
            &opts.format,
            policy,
            refname,
            &[rollback_verdict(target, l)],
            &[],
        ));
    }
    let via = from
        .map(|a| repo.resolve(&format!("{a}^{{commit}}")))
        .transpose()?;
    let outcome = in_repo::verify_path(repo, target, via.as_deref(), &ctx)?;
    let ok = outcome.refusal.is_none();
    let verdicts = outcome.into_verdicts();
    if ok && let Some(state) = state {
        write_state(state, target)?;
    }
    Ok(report(&opts.format, policy, refname, &verdicts, &[]))
}

/// The key of a verdict cache: `explicit`, else the default path. `None`, with a warning,
/// when it cannot be used: the command then runs without its cache (never trusting one).
pub(crate) fn open_cache_key(explicit: Option<&Path>) -> Option<CacheKey> {
    let Some(path) = explicit
        .map(Path::to_path_buf)
        .or_else(crate::cache_key::default_path)
    else {
        eprintln!(
            "sigil: warning: no place for the verdict cache key (pass --cache-key, or set XDG_STATE_HOME or HOME); running without the cache"
        );
        return None;
    };
    CacheKey::open(&path)
        .map_err(|e| eprintln!("sigil: warning: cache key {e}; running without the verdict cache"))
        .ok()
}

fn rollback_verdict(target: &str, last: &str) -> Verdict {
    Verdict::refused(
        target,
        "commit",
        "not-descendant",
        format!(
            "{target} does not descend from the last verified commit {last}: a rollback or a rewritten history"
        ),
    )
}

fn full_ref(repo: &Path, rev: &str) -> Option<String> {
    if rev.starts_with("refs/") {
        return Some(rev.to_string());
    }
    if rev.starts_with('-') {
        return None;
    }
    let out = std::process::Command::new("git")
        .current_dir(repo)
        .args(["rev-parse", "--symbolic-full-name", rev])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && s.starts_with("refs/")).then_some(s)
}

fn read_state(path: &Path) -> Result<Option<String>, Failure> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let id = s.trim().to_string();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Failure(
                    2,
                    format!("{} does not hold a commit id", path.display()),
                ));
            }
            Ok(Some(id))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure(3, format!("cannot read {}: {e}", path.display()))),
    }
}

fn write_state(path: &Path, id: &str) -> Result<(), Failure> {
    super::io::write_atomic(path, format!("{id}\n").as_bytes(), super::io::Mode::Public)
        .map_err(|e| Failure(3, e.to_string()))
}

fn report(
    format: &str,
    policy: &Policy,
    refname: &str,
    commits: &[Verdict],
    tags: &[Verdict],
) -> i32 {
    let first = tags.iter().chain(commits).find(|v| !v.verified());
    let result = if first.is_none() {
        Decision::Verified
    } else {
        Decision::Refused
    };
    if format == "json" {
        let r = Report {
            result,
            reason: first.and_then(|v| v.reason),
            policy_digest: &policy.digest,
            refname,
            commits,
            tags,
        };
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        for v in tags.iter().chain(commits).filter(|v| !v.verified()) {
            println!(
                "REFUSED {} {}: {} — {}",
                v.kind,
                &v.id[..v.id.len().min(12)],
                v.reason.unwrap_or("refused"),
                v.detail.as_deref().unwrap_or("")
            );
        }
        let n = commits.len() + tags.len();
        let bad = tags.iter().chain(commits).filter(|v| !v.verified()).count();
        if bad == 0 {
            println!(
                "verified: {n} object(s) on {refname} (policy {})",
                &policy.digest[..19.min(policy.digest.len())]
            );
        } else {
            println!("refused: {bad} of {n} object(s) on {refname}");
        }
    }
    if std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true") {
        for v in tags.iter().chain(commits).filter(|v| !v.verified()) {
            println!(
                "::error title=sigil {}::{} {} refused: {}",
                v.reason.unwrap_or("refused"),
                v.kind,
                v.id,
                v.detail.as_deref().unwrap_or("").replace('\n', " ")
            );
        }
    }
    if result == Decision::Verified { 0 } else { 1 }
}
