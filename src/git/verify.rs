//! Verifying commits and tags against a policy: signature, signer allowed by the most specific
//! (ref, path) rule, committer binding, tag name/type binding. Produces one verdict per object.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::diff::{CommitTrees, changed_paths};
use super::object::{HashAlgo, SigFormat, parse_commit, parse_tag};
use super::repo::{GitError, Repo};
use crate::policy::{Policy, Rule, Signer};
use crate::signature::{Refusal, openpgp, ssh};
use crate::verdict::Decision;

mod cache;
pub mod in_repo;
pub use cache::Cache;
use cache::Cached;

/// The verdict for one commit or tag.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Object id.
    pub id: String,
    /// `commit` or `tag`.
    pub kind: &'static str,
    /// Verified or refused.
    pub result: Decision,
    /// Reason code when refused.
    pub reason: Option<&'static str>,
    /// Human explanation.
    pub detail: Option<String>,
    /// `openpgp`, `ssh`, `x509`, or null when unsigned.
    pub signature_type: Option<&'static str>,
    /// The policy signer that matched.
    pub signer: Option<String>,
    /// Key fingerprint (OpenPGP primary, or SSH SHA256).
    pub fingerprint: Option<String>,
    /// The SSH principal that matched, if any.
    pub principal: Option<String>,
    /// The rule(s) applied.
    pub rule: Option<String>,
    /// The committer/tagger email.
    pub committer: Option<String>,
}

impl Verdict {
    fn new(id: &str, kind: &'static str) -> Verdict {
        Verdict {
            id: id.to_string(),
            kind,
            result: Decision::Refused,
            reason: None,
            detail: None,
            signature_type: None,
            signer: None,
            fingerprint: None,
            principal: None,
            rule: None,
            committer: None,
        }
    }

    /// A refusal verdict for an object that was not (or could not be) checked further.
    pub fn refused(
        id: &str,
        kind: &'static str,
        code: &'static str,
        detail: impl Into<String>,
    ) -> Verdict {
        Verdict::new(id, kind).refuse(code, detail)
    }

    fn refuse(mut self, code: &'static str, detail: impl Into<String>) -> Verdict {
        self.result = Decision::Refused;
        self.reason = Some(code);
        self.detail = Some(detail.into());
        self
    }

    /// Is this object verified?
    pub fn verified(&self) -> bool {
        self.result == Decision::Verified
    }
}

/// Verification context.
pub struct Context<'a> {
    /// The policy.
    pub policy: &'a Policy,
    /// The ref being verified (`refs/heads/main`).
    pub refname: String,
    /// When the verifier first saw the objects (the gate's ledger), if known.
    pub first_seen: Option<i64>,
    /// Now (Unix seconds).
    pub now: i64,
    /// For the commit a tag points at: the tag rule's signers, used when no commit rule covers
    /// the tag's ref.
    pub tag_signers: Option<(String, Vec<usize>)>,
    /// Commits of history already accepted (ancestors of a trust anchor): judged by their
    /// signature time only, not again by the time sigil first saw them.
    pub anchored: Option<std::sync::Arc<std::collections::HashSet<String>>>,
}

impl Context<'_> {
    /// The first-seen time `id` is judged at: none for anchored history.
    fn first_seen_of(&self, id: &str) -> Option<i64> {
        if self.anchored.as_ref().is_some_and(|a| a.contains(id)) {
            None
        } else {
            self.first_seen
        }
    }
}

struct Signed {
    /// Every policy signer whose trust material holds the key, with the matched principal.
    signers: Vec<(usize, Option<String>)>,
    format: SigFormat,
    fingerprint: String,
}

/// Checks one signature of object `id` over `payload` against every signer of the policy.
#[allow(clippy::too_many_arguments)]
fn check_signature(
    id: &str,
    policy: &Policy,
    sig: &[u8],
    payload: &[u8],
    object_time: i64,
    first_seen: Option<i64>,
    ctx: &Context<'_>,
    max_skew: Duration,
    allow_sha1: bool,
) -> Result<Signed, Refusal> {
    let format = SigFormat::of(sig);
    match format {
        SigFormat::OpenPgp => {
            let clock = openpgp::Clock {
                object_time: Some(object_time),
                max_skew,
                first_seen,
                now: ctx.now,
            };
            let good = openpgp::verify(sig, payload, &policy.certs, &clock, allow_sha1)?;
            let mut signers: Vec<(usize, Option<String>)> = Vec::new();
            for (c, owner) in policy.certs.iter().zip(&policy.cert_owner) {
                if c.fingerprint().to_hex() == good.primary
                    && !signers.iter().any(|(o, _)| o == owner)
                {
                    signers.push((*owner, None));
                }
            }
            Ok(Signed {
                signers,
                format,
                fingerprint: good.primary,
            })
        }
        SigFormat::Ssh => {
            if object_time > ctx.now + max_skew.as_secs() as i64 {
                return Err(Refusal {
                    code: "future-signature",
                    detail: "the commit/tag is dated in the future".into(),
                });
            }
            let trust: Vec<ssh::SshTrust<'_>> = policy
                .signers
                .iter()
                .map(|s: &Signer| ssh::SshTrust {
                    keys: &s.ssh_keys,
                    allowed: &s.allowed,
                    revoked: &s.revoked,
                })
                .collect();
            let mut times = vec![object_time];
            if let Some(f) = first_seen {
                times.push(f);
            }
            let good = ssh::verify(sig, payload, &trust, &times)?;
            Ok(Signed {
                signers: good.matches,
                format,
                fingerprint: good.fingerprint,
            })
        }
        SigFormat::X509 | SigFormat::Gitsign => {
            let trust: Vec<crate::signature::x509::X509Trust<'_>> = policy
                .signers
                .iter()
                .map(|s: &Signer| crate::signature::x509::X509Trust {
                    roots: &s.x509_roots,
                    emails: &s.x509_emails,
                })
                .collect();
            let mut times = vec![object_time];
            if let Some(f) = first_seen {
                times.push(f);
            }
            let cms = crate::signature::cms::read(sig, payload)?;
            if crate::signature::gitsign::is_keyless(&cms.leaf) {
                let keyless: Vec<_> = policy.signers.iter().map(|s| s.keyless.as_ref()).collect();
                let good = crate::signature::gitsign::verify(&cms, &keyless, id)?;
                return Ok(Signed {
                    signers: good.matches,
                    format: SigFormat::Gitsign,
                    fingerprint: good.fingerprint,
                });
            }
            let good = crate::signature::x509::verify(&cms, &trust, &times)?;
            Ok(Signed {
                signers: good.matches,
                format,
                fingerprint: good.fingerprint,
            })
        }
        SigFormat::Unknown => Err(Refusal {
            code: "bad-signature",
            detail: "unrecognised signature armor".into(),
        }),
    }
}

/// Does the signer's identity match `email` (policy emails, SSH principal, certificate UIDs)?
fn identity_matches(signer: &Signer, principal: Option<&str>, email: &str) -> bool {
    let email = email.to_ascii_lowercase();
    signer
        .emails
        .iter()
        .any(|e| e.to_ascii_lowercase() == email)
        || principal.is_some_and(|p| p.to_ascii_lowercase() == email)
        || signer.certs.iter().any(|c| {
            c.userids().any(|u| {
                u.userid()
                    .email()
                    .ok()
                    .flatten()
                    .is_some_and(|e| e.to_ascii_lowercase() == email)
            })
        })
}

/// Evaluates one parsed commit against the policy (pure: safe to run in parallel).
fn evaluate(
    id: &str,
    commit: &super::object::Commit,
    touched: &[String],
    ctx: &Context<'_>,
) -> Verdict {
    let policy = ctx.policy;
    let cp = &policy.commits;
    let mut v = Verdict::new(id, "commit");
    let touched: Vec<String> = if touched.is_empty() {
        vec![String::new()]
    } else {
        touched.to_vec()
    };
    v.committer = Some(commit.committer.email.clone());
    let mut rules: Vec<&Rule> = Vec::new();
    let mut rule_error = None;
    for p in &touched {
        match cp.rule_for(&ctx.refname, p) {
            Ok(Some(r)) => {
                if !rules.iter().any(|x| x.index == r.index) {
                    rules.push(r);
                }
            }
            Ok(None) => {
                rule_error = Some((
                    "no-rule",
                    format!(
                        "no commit rule covers {} on {}",
                        if p.is_empty() { "this commit" } else { p },
                        ctx.refname
                    ),
                ));
                break;
            }
            Err(e) => {
                rule_error = Some(("ambiguous-policy", e));
                break;
            }
        }
    }
    v.rule = Some(
        rules
            .iter()
            .map(|r| r.describe())
            .collect::<Vec<_>>()
            .join("; "),
    );
    let mut allowed_override = None;
    if let (Some(("no-rule", _)), Some((name, signers))) = (&rule_error, &ctx.tag_signers)
        && rules.is_empty()
    {
        allowed_override = Some(signers.clone());
        v.rule = Some(name.clone());
        rule_error = None;
    }
    if let Some((code, detail)) = rule_error {
        return v.refuse(code, detail);
    }
    let Some(sig) = &commit.signature else {
        return v.refuse(
            "unsigned",
            "the commit is not signed: sign it (git commit -S) with a key the policy trusts",
        );
    };
    let signed = match check_signature(
        id,
        policy,
        sig,
        &commit.payload,
        commit.committer.time,
        ctx.first_seen_of(id),
        ctx,
        cp.max_skew,
        cp.allow_sha1,
    ) {
        Ok(s) => s,
        Err(r) => {
            v.signature_type = Some(SigFormat::of(sig).name());
            return v.refuse(r.code, r.detail);
        }
    };
    v.signature_type = Some(signed.format.name());
    v.fingerprint = Some(signed.fingerprint.clone());
    // The key may belong to several policy signers: any one that every rule allows will do.
    let permitted = |idx: usize| {
        allowed_override.as_ref().is_none_or(|a| a.contains(&idx))
            && rules.iter().all(|r| r.signers.contains(&idx))
    };
    let Some((idx, principal)) = signed.signers.iter().find(|(i, _)| permitted(*i)).cloned() else {
        let (first, principal) = signed.signers[0].clone();
        v.signer = Some(policy.signers[first].name.clone());
        v.principal = principal;
        // Signers every applicable rule allows (the commit touched paths of each rule).
        let allowed: Vec<usize> = match (&allowed_override, rules.first()) {
            (Some(a), _) => a.clone(),
            (None, Some(r)) => r
                .signers
                .iter()
                .copied()
                .filter(|i| rules.iter().all(|r| r.signers.contains(i)))
                .collect(),
            (None, None) => Vec::new(),
        };
        let detail = format!(
            "signed by {}, but {} allows only {}",
            names(
                policy,
                &signed.signers.iter().map(|(i, _)| *i).collect::<Vec<_>>()
            ),
            v.rule.clone().unwrap_or_default(),
            names(policy, &allowed)
        );
        return v.refuse("signer-not-allowed", detail);
    };
    let signer = &policy.signers[idx];
    v.signer = Some(signer.name.clone());
    v.principal = principal.clone();
    if rules.iter().any(|r| r.require_committer_match)
        && !signer.bot
        && !identity_matches(signer, principal.as_deref(), &commit.committer.email)
    {
        return v.refuse(
            "committer-mismatch",
            format!(
                "signed by {} but committed as {}",
                signer.name, commit.committer.email
            ),
        );
    }
    v.result = Decision::Verified;
    v
}

/// Verifies commits (oldest first) for `ctx.refname`, using and filling `cache` when given.
/// Signatures are checked on every core.
pub fn verify_commits(
    repo: &mut Repo,
    ids: &[String],
    ctx: &Context<'_>,
    mut cache: Option<&mut Cache<'_>>,
) -> Result<Vec<Verdict>, GitError> {
    let mut out: Vec<Option<Verdict>> = vec![None; ids.len()];
    let mut todo = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        // A handful of commits is cheaper to verify than to look up in a large cache.
        let lookup = cache.as_mut().filter(|_| ids.len() > 64);
        match lookup.and_then(|c| c.get(&Cache::key(id, ctx))) {
            Some(v) => out[i] = Some(v.verdict(id)),
            None => todo.push(i),
        }
    }
    let todo_ids: Vec<String> = todo.iter().map(|&i| ids[i].clone()).collect();
    let mut parsed = Vec::with_capacity(todo.len());
    let objects = repo.read_many(&todo_ids)?;
    for (&i, (kind, raw)) in todo.iter().zip(objects) {
        let id = &ids[i];
        if kind != "commit" {
            out[i] = Some(Verdict::refused(
                id,
                "commit",
                "malformed-object",
                format!("{id} is a {kind}, not a commit"),
            ));
            continue;
        }
        match parse_commit(&raw, repo.algo) {
            Ok(c) => parsed.push((i, c)),
            Err(e) => out[i] = Some(Verdict::refused(id, "commit", e.code, e.detail)),
        }
    }
    let paths = if ctx.policy.commits.path_sensitive() {
        let trees: Vec<CommitTrees<'_>> = parsed
            .iter()
            .map(|(i, c): &(usize, super::object::Commit)| CommitTrees {
                id: &ids[*i],
                tree: &c.tree,
                parent: c.parents.first().map(String::as_str),
            })
            .collect();
        changed_paths(repo, &trees)?
    } else {
        HashMap::new()
    };
    let no_paths = Vec::new();
    let results: Vec<(usize, Verdict)> = on_every_core(&parsed, |(i, c)| {
        let paths = paths.get(&ids[*i]).unwrap_or(&no_paths);
        (*i, evaluate(&ids[*i], c, paths, ctx))
    });
    for (i, v) in results {
        if v.verified()
            && let Some(c) = cache.as_mut()
        {
            c.insert(Cache::key(&ids[i], ctx), Cached::of(&v));
        }
        out[i] = Some(v);
    }
    let mut out: Vec<Verdict> = out
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.unwrap_or_else(|| {
                Verdict::refused(&ids[i], "commit", "internal-error", "not evaluated")
            })
        })
        .collect();
    if ctx.policy.commits.merges_vouch {
        vouch_side_branches(repo, ids, &mut out)?;
    }
    Ok(out)
}

/// `f` over `items` on every core (at most 8 threads), results in the items' order. A thread
/// that panics loses its results (the caller treats missing results as not evaluated).
fn on_every_core<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Verifies the one commit `id` as the policy's mode asks: its own signature, or (in-repo)
/// an authenticated path to it from the trust root.
pub fn verify_commit(
    repo: &mut Repo,
    id: &str,
    ctx: &Context<'_>,
) -> Result<Vec<Verdict>, GitError> {
    if ctx.policy.commits.mode == crate::policy::Mode::InRepo {
        return Ok(in_repo::verify_path(repo, id, None, ctx)?.into_verdicts());
    }
    verify_commits(repo, &[id.to_string()], ctx, None)
}

/// With `signedMergesVouchForSideBranches`, an unsigned commit reached only through a merge's
/// side parent is accepted when that merge is verified.
fn vouch_side_branches(
    repo: &mut Repo,
    ids: &[String],
    out: &mut [Verdict],
) -> Result<(), GitError> {
    let index: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut parents: HashMap<String, Vec<String>> = HashMap::new();
    for id in ids {
        let (_, raw) = repo.read(id)?;
        if let Ok(c) = parse_commit(&raw, repo.algo) {
            parents.insert(id.clone(), c.parents);
        }
    }
    // Walk side parents of verified merges, newest first.
    for id in ids.iter().rev() {
        let i = index[id.as_str()];
        if !out[i].verified() {
            continue;
        }
        let ps = parents.get(id).cloned().unwrap_or_default();
        let mut stack: Vec<String> = ps.into_iter().skip(1).collect();
        while let Some(p) = stack.pop() {
            if let Some(&j) = index.get(p.as_str())
                && out[j].reason == Some("unsigned")
            {
                out[j].result = Decision::Verified;
                out[j].reason = None;
                out[j].detail = Some(format!("unsigned, vouched for by the verified merge {id}"));
                stack.extend(parents.get(&p).cloned().unwrap_or_default());
            }
        }
    }
    Ok(())
}

fn names(policy: &Policy, idx: &[usize]) -> String {
    idx.iter()
        .map(|i| policy.signers[*i].name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Verifies an annotated tag reached by `refs/tags/<name>` as the policy's mode asks: its
/// signature, its name, its type (nested tags followed; in-repo mode: a commit directly), and
/// returns the commit it points at.
pub fn verify_tag(
    repo: &mut Repo,
    name: &str,
    ctx: &Context<'_>,
) -> Result<(Vec<Verdict>, Option<String>), GitError> {
    if ctx.policy.commits.mode == crate::policy::Mode::InRepo {
        let (verdict, commit) = in_repo::verify_tag(repo, name, ctx)?;
        return Ok((vec![verdict], commit));
    }
    let policy = ctx.policy;
    let refname = format!("refs/tags/{name}");
    let mut id = repo.resolve(&refname)?;
    let mut verdicts = Vec::new();
    let mut expected_name = Some(name.to_string());
    for _depth in 0..8 {
        let mut v = Verdict::new(&id, "tag");
        let (kind, raw) = repo.read(&id)?;
        if kind == "commit" {
            if verdicts.is_empty() {
                verdicts.push(v.refuse(
                    "unsigned",
                    format!("{name} is a lightweight tag: it cannot be signed"),
                ));
                return Ok((verdicts, None));
            }
            return Ok((verdicts, Some(id)));
        }
        if kind != "tag" {
            verdicts.push(v.refuse("malformed-object", format!("the tag points at a {kind}")));
            return Ok((verdicts, None));
        }
        let tag = match parse_tag(&raw, repo.algo) {
            Ok(t) => t,
            Err(e) => {
                verdicts.push(v.refuse(e.code, e.detail));
                return Ok((verdicts, None));
            }
        };
        v.committer = tag.tagger.as_ref().map(|t| t.email.clone());
        if let Some(expected) = &expected_name
            && &tag.name != expected
        {
            verdicts.push(v.refuse(
                "tag-name-mismatch",
                format!(
                    "the tag object is named '{}' but was reached as '{expected}'",
                    tag.name
                ),
            ));
            return Ok((verdicts, None));
        }
        let rule = match policy.tag_rule(&tag.name) {
            Ok(Some(r)) => r,
            Ok(None) => {
                verdicts.push(v.refuse("no-rule", format!("no tag rule matches '{}'", tag.name)));
                return Ok((verdicts, None));
            }
            Err(e) => {
                verdicts.push(v.refuse("ambiguous-policy", e));
                return Ok((verdicts, None));
            }
        };
        v.rule = Some(format!("tags[{}]", rule.pattern));
        let Some(sig) = &tag.signature else {
            verdicts.push(v.refuse("unsigned", "the tag is not signed (git tag -s)"));
            return Ok((verdicts, None));
        };
        let time = tag.tagger.as_ref().map(|t| t.time).unwrap_or(0);
        match check_signature(
            &id,
            policy,
            sig,
            &tag.payload,
            time,
            ctx.first_seen,
            ctx,
            policy.commits.max_skew,
            policy.commits.allow_sha1,
        ) {
            Err(r) => {
                v.signature_type = Some(SigFormat::of(sig).name());
                verdicts.push(v.refuse(r.code, r.detail));
                return Ok((verdicts, None));
            }
            Ok(s) => {
                v.signature_type = Some(s.format.name());
                v.fingerprint = Some(s.fingerprint);
                let chosen = s
                    .signers
                    .iter()
                    .find(|(i, _)| rule.signers.contains(i))
                    .or(s.signers.first())
                    .cloned();
                let (idx, principal) = chosen.unwrap_or((0, None));
                v.signer = Some(policy.signers[idx].name.clone());
                v.principal = principal;
                if !rule.signers.contains(&idx) {
                    let who = v.signer.clone().unwrap_or_default();
                    verdicts.push(v.refuse(
                        "signer-not-allowed",
                        format!("{who} may not sign tags matching {}", rule.pattern),
                    ));
                    return Ok((verdicts, None));
                }
            }
        }
        v.result = Decision::Verified;
        verdicts.push(v);
        match tag.kind.as_str() {
            "commit" => return Ok((verdicts, Some(tag.object))),
            "tag" => {
                id = tag.object;
                expected_name = None;
            }
            other => {
                let last = verdicts.pop().expect("just pushed").refuse(
                    "malformed-object",
                    format!("the tag points at a {other}, not a commit"),
                );
                verdicts.push(last);
                return Ok((verdicts, None));
            }
        }
    }
    verdicts.push(Verdict::new(&id, "tag").refuse("malformed-object", "tags nested too deeply"));
    Ok((verdicts, None))
}

/// The repository hash algorithm, for reports.
pub fn algo_name(a: HashAlgo) -> &'static str {
    match a {
        HashAlgo::Sha1 => "sha1",
        HashAlgo::Sha256 => "sha256",
    }
}
