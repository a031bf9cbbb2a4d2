//! Verifying commits and tags against a policy: signature, signer allowed by the most specific
//! (ref, path) rule, committer binding, tag name/type binding. Produces one verdict per object.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::object::{HashAlgo, SigFormat, parse_commit, parse_tag};
use super::repo::{GitError, Repo};
use crate::policy::{Policy, Rule, Signer};
use crate::signature::{Refusal, openpgp, ssh};

/// The verdict for one commit or tag.
#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// Object id.
    pub id: String,
    /// `commit` or `tag`.
    pub kind: &'static str,
    /// `verified` or `refused`.
    pub result: &'static str,
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
            result: "refused",
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
        self.result = "refused";
        self.reason = Some(code);
        self.detail = Some(detail.into());
        self
    }

    /// Is this object verified?
    pub fn verified(&self) -> bool {
        self.result == "verified"
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
}

struct Signed {
    signer: usize,
    format: SigFormat,
    fingerprint: String,
    principal: Option<String>,
}

/// Checks one signature over `payload` against every signer of the policy.
fn check_signature(
    policy: &Policy,
    sig: &[u8],
    payload: &[u8],
    object_time: i64,
    ctx: &Context<'_>,
    max_skew: Duration,
    allow_sha1: bool,
) -> Result<Signed, Refusal> {
    let format = SigFormat::of(sig);
    match format {
        SigFormat::OpenPgp => {
            let mut owners = Vec::new();
            let mut certs = Vec::new();
            for (i, s) in policy.signers.iter().enumerate() {
                for c in &s.certs {
                    owners.push(i);
                    certs.push(c.clone());
                }
            }
            let clock = openpgp::Clock {
                object_time,
                max_skew,
                first_seen: ctx.first_seen,
                now: ctx.now,
            };
            let good = openpgp::verify(sig, payload, &certs, &clock, allow_sha1)?;
            let idx = certs
                .iter()
                .position(|c| c.fingerprint().to_hex() == good.primary)
                .map(|i| owners[i])
                .unwrap_or(0);
            Ok(Signed {
                signer: idx,
                format,
                fingerprint: good.primary,
                principal: None,
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
            if let Some(f) = ctx.first_seen {
                times.push(f);
            }
            let good = ssh::verify(sig, payload, &trust, &times)?;
            Ok(Signed {
                signer: good.signer,
                format,
                fingerprint: good.fingerprint,
                principal: good.principal,
            })
        }
        SigFormat::X509 => Err(Refusal {
            code: "unsupported-signature-format",
            detail: "X.509/CMS (gpgsm, gitsign) signatures are not supported yet".into(),
        }),
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

/// Verifies commits (oldest first) for `ctx.refname`.
pub fn verify_commits(
    repo: &mut Repo,
    ids: &[String],
    ctx: &Context<'_>,
) -> Result<Vec<Verdict>, GitError> {
    let policy = ctx.policy;
    let cp = &policy.commits;
    let paths = repo.changed_paths(ids)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let mut v = Verdict::new(id, "commit");
        let (kind, raw) = repo.read(id)?;
        if kind != "commit" {
            out.push(v.refuse(
                "malformed-object",
                format!("{id} is a {kind}, not a commit"),
            ));
            continue;
        }
        let commit = match parse_commit(&raw, repo.algo) {
            Ok(c) => c,
            Err(e) => {
                out.push(v.refuse(e.code, e.detail));
                continue;
            }
        };
        v.committer = Some(commit.committer.email.clone());
        // Rules first: a commit no rule covers is refused whatever its signature.
        let touched: Vec<String> = match paths.get(id) {
            Some(p) if !p.is_empty() => p.clone(),
            _ => vec![String::new()],
        };
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
            out.push(v.refuse(code, detail));
            continue;
        }
        let Some(sig) = &commit.signature else {
            out.push(v.refuse(
                "unsigned",
                "the commit is not signed: sign it (git commit -S) with a key the policy trusts",
            ));
            continue;
        };
        let signed = match check_signature(
            policy,
            sig,
            &commit.payload,
            commit.committer.time,
            ctx,
            cp.max_skew,
            cp.allow_sha1,
        ) {
            Ok(s) => s,
            Err(r) => {
                v.signature_type = Some(SigFormat::of(sig).name());
                out.push(v.refuse(r.code, r.detail));
                continue;
            }
        };
        let signer = &policy.signers[signed.signer];
        v.signature_type = Some(signed.format.name());
        v.signer = Some(signer.name.clone());
        v.fingerprint = Some(signed.fingerprint.clone());
        v.principal = signed.principal.clone();
        if let Some(allowed) = &allowed_override
            && !allowed.contains(&signed.signer)
        {
            out.push(v.refuse(
                "signer-not-allowed",
                format!("{} may not sign commits released by this tag", signer.name),
            ));
            continue;
        }
        if let Some(r) = rules.iter().find(|r| !r.signers.contains(&signed.signer)) {
            out.push(v.refuse(
                "signer-not-allowed",
                format!(
                    "{} signed it, but {} allows only {}",
                    signer.name,
                    r.describe(),
                    names(policy, &r.signers)
                ),
            ));
            continue;
        }
        if rules.iter().any(|r| r.require_committer_match)
            && !signer.bot
            && !identity_matches(signer, signed.principal.as_deref(), &commit.committer.email)
        {
            out.push(v.refuse(
                "committer-mismatch",
                format!(
                    "signed by {} but committed as {}",
                    signer.name, commit.committer.email
                ),
            ));
            continue;
        }
        v.result = "verified";
        out.push(v);
    }
    if cp.merges_vouch {
        vouch_side_branches(repo, ids, &mut out)?;
    }
    Ok(out)
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
                out[j].result = "verified";
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

/// Verifies an annotated tag reached by `refs/tags/<name>`: its signature, its name, its type
/// (nested tags followed), and returns the commit it points at.
pub fn verify_tag(
    repo: &mut Repo,
    name: &str,
    ctx: &Context<'_>,
) -> Result<(Vec<Verdict>, Option<String>), GitError> {
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
            policy,
            sig,
            &tag.payload,
            time,
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
                v.signer = Some(policy.signers[s.signer].name.clone());
                v.fingerprint = Some(s.fingerprint);
                v.principal = s.principal;
                if !rule.signers.contains(&s.signer) {
                    let who = v.signer.clone().unwrap_or_default();
                    verdicts.push(v.refuse(
                        "signer-not-allowed",
                        format!("{who} may not sign tags matching {}", rule.pattern),
                    ));
                    return Ok((verdicts, None));
                }
            }
        }
        v.result = "verified";
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
