//! In-repo tags: signed (OpenPGP) by an entity with `sign_tag` in the tagged commit's policy.

use std::collections::BTreeSet;

use super::super::{Context, Verdict};
use super::authorise::{authorised_by, check};
use super::reader::Reader;
use crate::git::object::{HashAlgo, SigFormat, parse_tag};
use crate::git::repo::{GitError, Repo};
use crate::git::short_id;
use crate::policy::in_repo::{self, Right};
use crate::verdict::Decision;

/// Verifies an annotated tag for in-repo mode: signed (OpenPGP) by an entity with `sign_tag`
/// in the tagged commit's policy, named as it is reached. Returns the tag's verdict and the
/// commit (whose path the caller then verifies).
pub fn verify_tag(
    repo: &mut Repo,
    name: &str,
    ctx: &Context<'_>,
) -> Result<(Verdict, Option<String>), GitError> {
    let id = repo.resolve(&format!("refs/tags/{name}"))?;
    let algo: HashAlgo = repo.algo;
    let mut r = Reader::new(repo);
    let v = Verdict::new(&id, "tag");
    let (kind, raw) = r.repo.read(&id)?;
    if kind == "commit" {
        return Ok((
            v.refuse(
                "unsigned",
                format!("{name} is a lightweight tag: it cannot be signed"),
            ),
            None,
        ));
    }
    if kind != "tag" {
        return Ok((
            v.refuse("malformed-object", format!("the tag points at a {kind}")),
            None,
        ));
    }
    let tag = match parse_tag(&raw, algo) {
        Ok(t) => t,
        Err(e) => return Ok((v.refuse(e.code, e.detail), None)),
    };
    let mut v = v;
    v.committer = tag.tagger.as_ref().map(|t| t.email.clone());
    if tag.name != name {
        return Ok((
            v.refuse(
                "tag-name-mismatch",
                format!(
                    "the tag object is named '{}' but was reached as '{name}'",
                    tag.name
                ),
            ),
            None,
        ));
    }
    if tag.kind != "commit" {
        return Ok((
            v.refuse(
                "malformed-object",
                format!("the tag points at a {}, not a commit", tag.kind),
            ),
            None,
        ));
    }
    v.rule = Some(format!("{} of {}", in_repo::FILE, short_id(&tag.object)));
    let Some(sig) = &tag.signature else {
        return Ok((
            v.refuse("unsigned", "the tag is not signed (git tag -s)"),
            None,
        ));
    };
    v.signature_type = Some(SigFormat::of(sig).name());
    let commit = match r.commit(&tag.object)? {
        Ok(c) => c,
        Err(e) => return Ok((v.refuse(e.code, e.detail), None)),
    };
    let policy = match r.policy_blob(&commit.tree)? {
        Ok(b) => r.policy(&b)?,
        Err(e) => Err(e),
    };
    let policy = match policy {
        Ok(p) => p,
        Err(e) => return Ok((v.refuse("in-repo-policy-invalid", e), None)),
    };
    let judged = check(&policy, &policy, sig, &tag.payload, ctx.first_seen, ctx).and_then(|good| {
        authorised_by(
            &policy,
            &policy,
            &good,
            Right::SignTag,
            &BTreeSet::new(),
            None,
        )
    });
    match judged {
        Ok(a) => {
            v.result = Decision::Verified;
            v.signer = Some(a.entity);
            v.fingerprint = Some(a.primary);
            Ok((v, Some(tag.object)))
        }
        Err(e) => Ok((v.refuse(e.code, e.detail), None)),
    }
}
