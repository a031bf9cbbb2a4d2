//! Whether one policy authorises one signed object: the OpenPGP signature checked with the
//! parent policy's certificates (updated by the child's), the signer's entity holding the
//! right, every policy change one that entity may make, and no hard revocation unanswered by a
//! later goodlist.

use std::collections::BTreeSet;

use sequoia_openpgp::Fingerprint;

use super::super::Context;
use crate::git::object::{Commit, SigFormat};
use crate::policy::in_repo::{self, LoadedPolicy, Right};
use crate::signature::{Refusal, openpgp, refuse};

/// An edge that authenticated: who signed, under which entity.
pub(super) struct Authorised {
    /// The policy entity.
    pub(super) entity: String,
    /// The signer's primary fingerprint.
    pub(super) primary: String,
}

/// Checks `commit`'s signature with `parent`'s certificates (updated by `child`'s), that the
/// signer holds `right` there, and may make every change from `parent` to `child`.
#[allow(clippy::too_many_arguments)]
pub(super) fn authorise(
    parent: &LoadedPolicy,
    child: &LoadedPolicy,
    id: &str,
    commit: &Commit,
    right: Right,
    ctx: &Context<'_>,
    hard_revoked: &BTreeSet<Fingerprint>,
    later_goodlist: Option<&BTreeSet<String>>,
    checked: Option<&Result<openpgp::Good, Refusal>>,
) -> Result<Authorised, Refusal> {
    let Some(sig) = &commit.signature else {
        return Err(refuse("unsigned", "the commit is not signed"));
    };
    let good = match checked {
        Some(result) => result.clone()?,
        None => check(
            parent,
            child,
            sig,
            &commit.payload,
            ctx.first_seen_of(id),
            ctx,
        )?,
    };
    authorised_by(
        parent,
        child,
        &good,
        right,
        hard_revoked,
        later_goodlist.map(|g| (g, id)),
    )
}

/// The OpenPGP signature check itself: keys judged at the signature time (and at the
/// first-seen time, when known), as sequoia-git does; the commit's own time plays no part.
pub(super) fn check(
    parent: &LoadedPolicy,
    child: &LoadedPolicy,
    sig: &[u8],
    payload: &[u8],
    first_seen: Option<i64>,
    ctx: &Context<'_>,
) -> Result<openpgp::Good, Refusal> {
    if SigFormat::of(sig) != SigFormat::OpenPgp {
        return Err(refuse(
            "bad-signature",
            format!(
                "a {} signature: an in-repository policy holds OpenPGP certificates only",
                SigFormat::of(sig).name()
            ),
        ));
    }
    let clock = openpgp::Clock {
        object_time: None,
        max_skew: ctx.policy.commits.max_skew,
        first_seen,
        now: ctx.now,
    };
    let certs = parent.signing_certs(child);
    openpgp::verify(sig, payload, &certs, &clock, ctx.policy.commits.allow_sha1).map_err(|mut e| {
        if e.code == "untrusted-key" {
            e.detail = format!("{} (not in the parent's {})", e.detail, in_repo::FILE);
        }
        e
    })
}

/// Which entity of `parent` holding the signer's certificate may make this change.
pub(super) fn authorised_by(
    parent: &LoadedPolicy,
    child: &LoadedPolicy,
    good: &openpgp::Good,
    right: Right,
    hard_revoked: &BTreeSet<Fingerprint>,
    goodlisted: Option<(&BTreeSet<String>, &str)>,
) -> Result<Authorised, Refusal> {
    let primary = Fingerprint::from_hex(&good.primary)
        .map_err(|_| refuse("internal-error", "unreadable fingerprint"))?;
    let holders = parent.holders(&primary);
    let changes = if parent.same(child) {
        Vec::new()
    } else {
        parent.policy.diff(&child.policy)
    };
    let mut first_err = None;
    for (entity, rights) in holders {
        if !rights.contains(&right) {
            first_err.get_or_insert_with(|| {
                refuse(
                    "signer-not-allowed",
                    format!("signed by '{entity}', who lacks {right} in the parent's policy"),
                )
            });
            continue;
        }
        if let Some((change, missing)) = changes
            .iter()
            .find_map(|c| c.missing(&rights).map(|m| (c, m)))
        {
            first_err.get_or_insert_with(|| {
                refuse(
                    "policy-change-not-allowed",
                    format!(
                        "the commit {change}, which needs {missing}; its signer '{entity}' lacks it"
                    ),
                )
            });
            continue;
        }
        let key = Fingerprint::from_hex(&good.key).ok();
        if key.as_ref().is_some_and(|k| hard_revoked.contains(k))
            && !goodlisted.is_some_and(|(list, id)| list.contains(id))
        {
            return Err(refuse(
                "revoked-key",
                format!(
                    "key {} is hard-revoked by a policy between the trust root and the target, and no later authenticated commit goodlists this one",
                    good.key
                ),
            ));
        }
        return Ok(Authorised {
            entity: entity.to_string(),
            primary: good.primary.clone(),
        });
    }
    Err(first_err.unwrap_or_else(|| {
        refuse(
            "untrusted-key",
            format!(
                "certificate {} is in no entity of the parent's policy",
                good.primary
            ),
        )
    }))
}
