//! `commits.mode: in-repo`: a commit is authenticated when one of its parents' policies
//! (`openpgp-policy.toml` in the parent's tree) authorises it, back to a trust root pinned in
//! sigil's policy; a tag when the tagged commit's policy gives its signer `sign_tag` and the
//! commit is authenticated. The walk is sequoia-git's: one pass over the commits between the
//! target and the trust root (children before parents), so merges cost no more than commits,
//! and a hard-revoked signer is accepted only where a later authenticated commit goodlists the
//! commit. The policy model is `policy::in_repo`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use sequoia_openpgp::Fingerprint;

use super::{Context, Verdict};
use crate::git::object::Commit;
use crate::git::repo::{GitError, Repo};
use crate::git::short_id;
use crate::policy::InRepoRoot;
use crate::policy::in_repo::{self, LoadedPolicy, Right};
use crate::signature::{Refusal, openpgp, refuse};
use crate::verdict::Decision;

mod authorise;
mod reader;
mod tag;

use authorise::{Authorised, authorise, check};
use reader::Reader;
pub use tag::verify_tag;

/// One commit met on the way from the target to the trust root.
struct Node {
    commit: Result<Commit, Refusal>,
    /// The policy file's blob, or why the tree's policy cannot be read.
    blob: Result<Option<String>, String>,
    /// Children not processed yet.
    children_left: usize,
    /// An authenticated path leads from here to the target.
    suffix: bool,
    /// That path passes through the `via` commit.
    via: bool,
}

/// The result of verifying a path to one commit.
pub struct PathOutcome {
    /// One verdict per commit judged, oldest first. When the path holds, commits reached
    /// only through a merge's other parents that could not be authenticated are left out:
    /// a merge needs one authenticating parent.
    pub verdicts: Vec<Verdict>,
    /// Set when no authenticated path from the trust root reaches the target.
    pub refusal: Option<Verdict>,
}

impl PathOutcome {
    /// The verdicts with the refusal (if any) first, for reports.
    pub fn into_verdicts(self) -> Vec<Verdict> {
        let mut out: Vec<Verdict> = self.refusal.into_iter().collect();
        out.extend(self.verdicts);
        out
    }
}

/// Is there an authenticated path from the trust root to `target` (through `via` when given)?
pub fn verify_path(
    repo: &mut Repo,
    target: &str,
    via: Option<&str>,
    ctx: &Context<'_>,
) -> Result<PathOutcome, GitError> {
    let Some(root) = ctx.policy.commits.in_repo.clone() else {
        return Err(GitError::Usage(
            "the policy has no in-repo trust root".into(),
        ));
    };
    let mut r = Reader::new(repo);
    let refuse_target = |code: &'static str, detail: String| -> PathOutcome {
        PathOutcome {
            verdicts: Vec::new(),
            refusal: Some(Verdict::refused(target, "commit", code, detail)),
        }
    };
    // Which commits are trust roots.
    let root_commit = match &root {
        InRepoRoot::Commit(c) => match r.repo.resolve(&format!("{c}^{{commit}}")) {
            // Not an ancestor: refused without walking the whole history.
            Ok(id) if id != target && !r.read_ahead(&id, target)? => {
                return Ok(refuse_target(
                    "trust-root-not-ancestor",
                    format!("the trust root {c} is not an ancestor of {target}"),
                ));
            }
            Ok(id) => Some(id),
            Err(_) => {
                return Ok(refuse_target(
                    "trust-root-not-ancestor",
                    format!("the trust root {c} is not a commit of this repository"),
                ));
            }
        },
        InRepoRoot::PolicyDigest(_) => None,
    };
    let mut roots: HashSet<String> = root_commit.iter().cloned().collect();
    let mut root_refusals: Vec<String> = Vec::new();
    // Breadth-first from the target down to the trust root(s): children counts, and the
    // policies in force (for hard revocations).
    let mut nodes: HashMap<String, Node> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([target.to_string()]);
    let mut seen_root = false;
    let mut hard_revoked: BTreeSet<Fingerprint> = BTreeSet::new();
    let mut scanned: HashSet<Option<String>> = HashSet::new();
    let now = UNIX_EPOCH + Duration::from_secs(ctx.now.max(0) as u64);
    while let Some(id) = queue.pop_front() {
        if nodes.contains_key(&id) {
            continue;
        }
        let commit = r.commit(&id)?;
        let blob = match &commit {
            Ok(c) => r.policy_blob(&c.tree)?,
            Err(e) => Err(e.detail.clone()),
        };
        if let Ok(b) = &blob
            && scanned.insert(b.clone())
            && let Ok(p) = r.policy(b)?
        {
            hard_revoked.extend(p.hard_revoked(now));
        }
        let node = Node {
            commit,
            blob,
            children_left: 0,
            suffix: id == target,
            via: via.is_none(),
        };
        let root_here = roots.contains(&id)
            || match &root {
                InRepoRoot::PolicyDigest(want) => {
                    is_digest_root(&mut r, want, &id, &node, ctx, &mut root_refusals)?
                }
                InRepoRoot::Commit(_) => false,
            };
        let parents = match (&node.commit, root_here) {
            (Ok(c), false) => c.parents.clone(),
            _ => Vec::new(),
        };
        if root_here {
            roots.insert(id.clone());
            seen_root = true;
        }
        nodes.insert(id.clone(), node);
        for p in parents {
            queue.push_back(p);
        }
    }
    // Children counts (a parent is counted once per child, as the walk below decrements).
    let parent_ids: Vec<String> = nodes
        .iter()
        .filter(|(id, _)| !roots.contains(*id))
        .filter_map(|(_, n)| n.commit.as_ref().ok())
        .flat_map(|c| c.parents.iter().cloned())
        .collect();
    for p in &parent_ids {
        if let Some(n) = nodes.get_mut(p) {
            n.children_left += 1;
        }
    }
    if !seen_root {
        let detail = match &root {
            InRepoRoot::Commit(c) => {
                format!("the trust root {c} is not an ancestor of {target}")
            }
            InRepoRoot::PolicyDigest(d) => format!(
                "no ancestor of {target} carries the pinned policy sha256:{} signed as it allows{}",
                hex::encode(d),
                if root_refusals.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", root_refusals.join("; "))
                }
            ),
        };
        return Ok(refuse_target("trust-root-not-ancestor", detail));
    }
    if roots.contains(target) {
        let mut v = Verdict::new(target, "commit");
        v.result = Decision::Verified;
        v.rule = Some("in-repo trust root".into());
        return Ok(PathOutcome {
            verdicts: vec![v],
            refusal: None,
        });
    }
    let checked = check_signatures(&mut r, &nodes, &roots, ctx)?;
    // Children before parents: a commit is judged once all its children are, so the goodlists
    // of every authenticated descendant are known when it is.
    let mut goodlists: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut verdicts: Vec<Verdict> = Vec::new();
    let mut ready: BTreeSet<String> = BTreeSet::from([target.to_string()]);
    let mut found = false;
    'walk: while let Some(id) = ready.pop_first() {
        let node = &nodes[&id];
        let (suffix, node_via) = (node.suffix, node.via);
        let parents = match &node.commit {
            Ok(c) => c.parents.clone(),
            Err(e) => {
                if suffix {
                    verdicts.push(Verdict::refused(&id, "commit", e.code, e.detail.clone()));
                }
                continue;
            }
        };
        let mut edge_results: Vec<(String, Result<Authorised, Refusal>)> = Vec::new();
        for p in &parents {
            let Some(pn) = nodes.get_mut(p) else {
                continue;
            };
            pn.children_left = pn.children_left.saturating_sub(1);
            let p_is_root = roots.contains(p);
            if pn.children_left == 0 && !p_is_root {
                ready.insert(p.clone());
            }
            if !suffix {
                continue;
            }
            let result = authenticate_edge(
                &mut r,
                &nodes,
                (&id, p),
                ctx,
                &hard_revoked,
                &goodlists,
                &checked,
            )?;
            let result = match result {
                Edge::Judged(res) => res,
                Edge::Abort(v) => {
                    return Ok(PathOutcome {
                        verdicts: finish(verdicts),
                        refusal: Some(v),
                    });
                }
            };
            if result.is_ok() {
                // The commit's goodlist and its descendants' reach the parent.
                let mut list = goodlists.get(&id).cloned().unwrap_or_default();
                if let Ok(Some(b)) = &nodes[&id].blob
                    && let Ok(pol) = r.policy(&Some(b.clone()))?
                {
                    list.extend(pol.policy.commit_goodlist.iter().cloned());
                }
                goodlists.entry(p.clone()).or_default().extend(list);
                let pn = nodes.get_mut(p).expect("present");
                pn.suffix = true;
                if node_via || via == Some(id.as_str()) {
                    pn.via = true;
                }
                if p_is_root && pn.via {
                    found = true;
                }
            }
            edge_results.push((p.clone(), result));
            if found {
                verdicts.push(edge_verdict(&id, &edge_results));
                break 'walk;
            }
        }
        if suffix {
            verdicts.push(edge_verdict(&id, &edge_results));
        }
    }
    if found {
        let verdicts = verdicts.into_iter().filter(Verdict::verified).collect();
        return Ok(PathOutcome {
            verdicts: finish(verdicts),
            refusal: None,
        });
    }
    let blocking = verdicts.iter().find(|v| !v.verified()).cloned();
    let detail = match (&blocking, via) {
        (Some(b), _) => format!(
            "no authenticated path from the trust root to {}: commit {} is not authorised ({}: {})",
            short_id(target),
            short_id(&b.id),
            b.reason.unwrap_or("refused"),
            b.detail.as_deref().unwrap_or("")
        ),
        (None, Some(v)) => format!(
            "no authenticated path from the trust root to {} passes through {}",
            short_id(target),
            short_id(v)
        ),
        (None, None) => format!(
            "no authenticated path from the trust root to {}",
            short_id(target)
        ),
    };
    let code = blocking
        .as_ref()
        .and_then(|b| b.reason)
        .unwrap_or("no-authenticated-path");
    Ok(PathOutcome {
        verdicts: finish(verdicts),
        refusal: Some(Verdict::refused(target, "commit", code, detail)),
    })
}

/// With a `policyDigest` root: does commit `id` carry the pinned policy file, signed as that
/// policy allows? A carrier the policy does not authorise is noted in `refusals`.
fn is_digest_root(
    r: &mut Reader<'_>,
    want: &[u8; 32],
    id: &str,
    node: &Node,
    ctx: &Context<'_>,
    refusals: &mut Vec<String>,
) -> Result<bool, GitError> {
    let (Ok(Some(blob)), Ok(commit)) = (&node.blob, &node.commit) else {
        return Ok(false);
    };
    if &r.digest(blob)? != want {
        return Ok(false);
    }
    let Ok(policy) = r.policy(&Some(blob.clone()))? else {
        return Ok(false);
    };
    let no_revocations = BTreeSet::new();
    match authorise(
        &policy,
        &policy,
        id,
        commit,
        Right::SignCommit,
        ctx,
        &no_revocations,
        None,
        None,
    ) {
        Ok(_) => Ok(true),
        Err(e) => {
            refusals.push(format!(
                "{} carries the pinned policy but {}",
                short_id(id),
                e.detail
            ));
            Ok(false)
        }
    }
}

/// Oldest first, as range verdicts are.
fn finish(mut verdicts: Vec<Verdict>) -> Vec<Verdict> {
    verdicts.reverse();
    verdicts
}

/// One commit's verdict from its parents' judgements: verified when any parent authorised it.
fn edge_verdict(id: &str, edges: &[(String, Result<Authorised, Refusal>)]) -> Verdict {
    let mut v = Verdict::new(id, "commit");
    v.signature_type = Some("openpgp");
    if let Some((p, Ok(a))) = edges.iter().find(|(_, r)| r.is_ok()) {
        v.result = Decision::Verified;
        v.signer = Some(a.entity.clone());
        v.fingerprint = Some(a.primary.clone());
        v.rule = Some(format!("{} of {}", in_repo::FILE, short_id(p)));
        return v;
    }
    let Some((_, Err(first))) = edges.first() else {
        return v.refuse("no-authenticated-path", "no parent to authorise it");
    };
    let detail = edges
        .iter()
        .filter_map(|(p, r)| r.as_ref().err().map(|e| (p, e)))
        .map(|(p, e)| {
            if edges.len() == 1 {
                e.detail.clone()
            } else {
                format!("under {}'s policy: {}", short_id(p), e.detail)
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    v.rule = Some(format!("{} of {}", in_repo::FILE, short_id(&edges[0].0)));
    v.refuse(first.code, detail)
}

enum Edge {
    Judged(Result<Authorised, Refusal>),
    /// A policy that cannot be read stops the whole verification (as sequoia-git does).
    Abort(Verdict),
}

/// Signature checks made ahead of the walk, by (commit, parent's policy blob).
type Checked = HashMap<(String, Option<String>), Result<openpgp::Good, Refusal>>;

/// Checks the signature of every commit under each of its parents' policies, on every core,
/// before the walk (the checks depend on nothing the walk learns; the walk then adds the
/// rights, the policy changes and hard revocations).
fn check_signatures(
    r: &mut Reader<'_>,
    nodes: &HashMap<String, Node>,
    roots: &HashSet<String>,
    ctx: &Context<'_>,
) -> Result<Checked, GitError> {
    type Job<'n> = (
        (String, Option<String>),
        Arc<LoadedPolicy>,
        Arc<LoadedPolicy>,
        &'n Commit,
    );
    let mut jobs: Vec<Job<'_>> = Vec::new();
    let mut queued = HashSet::new();
    for (id, node) in nodes.iter().filter(|(id, _)| !roots.contains(*id)) {
        let (Ok(commit), Ok(child_blob)) = (&node.commit, &node.blob) else {
            continue;
        };
        if commit.signature.is_none() {
            continue;
        }
        let Ok(child) = r.policy(child_blob)? else {
            continue;
        };
        for p in &commit.parents {
            let Some(Ok(parent_blob)) = nodes.get(p).map(|n| &n.blob) else {
                continue;
            };
            let key = (id.clone(), parent_blob.clone());
            if !queued.insert(key.clone()) {
                continue;
            }
            if let Ok(parent) = r.policy(parent_blob)? {
                jobs.push((key, parent, child.clone(), commit));
            }
        }
    }
    let results = super::on_every_core(&jobs, |(key, parent, child, commit)| {
        let sig = commit.signature.as_deref().unwrap_or_default();
        let first_seen = ctx.first_seen_of(&key.0);
        let result = check(parent, child, sig, &commit.payload, first_seen, ctx);
        (key.clone(), result)
    });
    Ok(results.into_iter().collect())
}

/// Does `parent`'s policy authorise `child`?
fn authenticate_edge(
    r: &mut Reader<'_>,
    nodes: &HashMap<String, Node>,
    (child, parent): (&str, &str),
    ctx: &Context<'_>,
    hard_revoked: &BTreeSet<Fingerprint>,
    goodlists: &HashMap<String, BTreeSet<String>>,
    checked: &Checked,
) -> Result<Edge, GitError> {
    let policy_of =
        |r: &mut Reader<'_>, id: &str| -> Result<Result<Arc<LoadedPolicy>, Verdict>, GitError> {
            let invalid = |detail: String| {
                Verdict::refused(
                    id,
                    "commit",
                    "in-repo-policy-invalid",
                    format!("the policy of {}: {detail}", short_id(id)),
                )
            };
            let Some(node) = nodes.get(id) else {
                return Ok(Err(invalid("commit not read".into())));
            };
            match &node.blob {
                Err(e) => Ok(Err(invalid(e.clone()))),
                Ok(b) => Ok(r.policy(b)?.map_err(invalid)),
            }
        };
    let parent_policy = match policy_of(r, parent)? {
        Ok(p) => p,
        Err(v) => return Ok(Edge::Abort(v)),
    };
    let child_policy = match policy_of(r, child)? {
        Ok(p) => p,
        Err(v) => return Ok(Edge::Abort(v)),
    };
    let Ok(commit) = &nodes[child].commit else {
        return Ok(Edge::Judged(Err(refuse(
            "malformed-object",
            "unreadable commit",
        ))));
    };
    if parent_policy.policy.commit_goodlist.contains(child) {
        return Ok(Edge::Judged(Ok(Authorised {
            entity: "goodlisted".into(),
            primary: String::new(),
        })));
    }
    let later_goodlist = goodlists.get(child);
    let parent_blob = nodes[parent].blob.clone().unwrap_or_default();
    let known = checked.get(&(child.to_string(), parent_blob));
    Ok(Edge::Judged(authorise(
        &parent_policy,
        &child_policy,
        child,
        commit,
        Right::SignCommit,
        ctx,
        hard_revoked,
        later_goodlist,
        known,
    )))
}
