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
use sha2::{Digest, Sha256};

use super::{Context, Verdict};
use crate::git::object::{
    Commit, HashAlgo, MODE_EXEC, MODE_FILE, SigFormat, parse_commit, parse_tag, parse_tree,
};
use crate::git::repo::{GitError, Repo};
use crate::policy::InRepoRoot;
use crate::policy::in_repo::{self, LoadedPolicy, RepoPolicy, Right};
use crate::signature::{Refusal, openpgp};
use crate::verdict::Decision;

/// A commit's policy: loaded, or why it cannot be.
type PolicySlot = Result<Arc<LoadedPolicy>, String>;

/// Reads and caches commits and policies.
struct Reader<'r> {
    repo: &'r mut Repo,
    /// Policy by blob id (`None`: the void policy of a tree without the file).
    policies: HashMap<Option<String>, PolicySlot>,
    /// Objects read ahead in one batch: (type, body) by id.
    ahead: HashMap<String, (String, Vec<u8>)>,
}

impl Reader<'_> {
    fn new(repo: &mut Repo) -> Reader<'_> {
        Reader {
            repo,
            policies: HashMap::new(),
            ahead: HashMap::new(),
        }
    }

    /// One object, from the read-ahead batch or from git.
    fn read(&mut self, id: &str) -> Result<(String, Vec<u8>), GitError> {
        match self.ahead.remove(id) {
            Some(o) => Ok(o),
            None => self.repo.read(id),
        }
    }

    /// Reads the commits of `root..target` (and the boundary) and their trees in two batches,
    /// so the walk below rarely waits on git (the walk itself is unchanged). Returns whether
    /// `root` is a parent of one of them, i.e. an ancestor of `target` (nothing is read
    /// when it is not).
    fn read_ahead(&mut self, root: &str, target: &str) -> Result<bool, GitError> {
        let ids = self.repo.range_with_boundary(root, target)?;
        if !ids.iter().any(|i| i == root) {
            return Ok(false);
        }
        let mut trees = Vec::new();
        for (id, (kind, raw)) in ids.iter().zip(self.repo.read_many(&ids)?) {
            if kind == "commit"
                && let Some(tree) = crate::git::object::commit_tree_id(&raw, self.repo.algo)
            {
                trees.push(tree);
            }
            self.ahead.insert(id.clone(), (kind, raw));
        }
        trees.sort();
        trees.dedup();
        for (id, object) in trees.iter().zip(self.repo.read_many(&trees)?) {
            self.ahead.insert(id.clone(), object);
        }
        Ok(true)
    }

    fn commit(&mut self, id: &str) -> Result<Result<Commit, Refusal>, GitError> {
        let (kind, raw) = self.read(id)?;
        if kind != "commit" {
            return Ok(Err(refusal(
                "malformed-object",
                format!("{id} is a {kind}, not a commit"),
            )));
        }
        Ok(parse_commit(&raw, self.repo.algo).map_err(|e| refusal(e.code, e.detail)))
    }

    /// The blob id of the tree's policy file, `None` when the tree has none; a policy that is
    /// not a regular file (symlink, directory, submodule) is refused rather than followed.
    fn policy_blob(&mut self, tree: &str) -> Result<Result<Option<String>, String>, GitError> {
        let (kind, raw) = self.read(tree)?;
        let items = match (kind.as_str(), parse_tree(&raw, self.repo.algo)) {
            ("tree", Some(items)) => items,
            _ => return Ok(Err(format!("tree {tree} is unreadable"))),
        };
        Ok(
            match items
                .into_iter()
                .find(|(n, _, _)| n == in_repo::FILE.as_bytes())
            {
                None => Ok(None),
                Some((_, mode, id)) if mode == MODE_FILE || mode == MODE_EXEC => Ok(Some(id)),
                Some(_) => Err(format!("{} is not a regular file", in_repo::FILE)),
            },
        )
    }

    /// The policy in blob `blob` (and its bytes' SHA-256), cached.
    fn policy(&mut self, blob: &Option<String>) -> Result<PolicySlot, GitError> {
        if let Some(p) = self.policies.get(blob) {
            return Ok(p.clone());
        }
        let loaded = match blob {
            None => Ok(Arc::new(RepoPolicy::default().load())),
            Some(id) => {
                let (kind, raw) = self.repo.read(id)?;
                if kind != "blob" {
                    Err(format!("{} is a {kind}", in_repo::FILE))
                } else {
                    RepoPolicy::parse(&raw).map(|p| Arc::new(p.load()))
                }
            }
        };
        self.policies.insert(blob.clone(), loaded.clone());
        Ok(loaded)
    }
}

fn refusal(code: &'static str, detail: impl Into<String>) -> Refusal {
    Refusal {
        code,
        detail: detail.into(),
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

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

/// An edge that authenticated: who signed, under which entity.
struct Authorised {
    entity: String,
    primary: String,
}

/// The result of verifying a path to one commit.
pub struct PathOutcome {
    /// One verdict per commit judged, oldest first. When the path holds, commits reached
    /// only through a merge's other parents that could not be authenticated are left out:
    /// a merge needs one authenticating parent.
    pub verdicts: Vec<Verdict>,
    /// Set when no authenticated path from the trust root reaches the target.
    pub refusal: Option<Verdict>,
    /// The trust root the path starts at (when found).
    pub root: Option<String>,
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
            root: None,
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
    let is_root_candidate = |r: &mut Reader<'_>,
                             id: &str,
                             node: &Node,
                             root_refusals: &mut Vec<String>|
     -> Result<bool, GitError> {
        let InRepoRoot::PolicyDigest(want) = &root else {
            return Ok(false);
        };
        let Ok(Some(blob)) = &node.blob else {
            return Ok(false);
        };
        let (_, raw) = r.repo.read(blob)?;
        if Sha256::digest(&raw).as_slice() != want {
            return Ok(false);
        }
        // The pinned policy must authorise the commit that carries it.
        let Ok(policy) = r.policy(&Some(blob.clone()))? else {
            return Ok(false);
        };
        let Ok(commit) = &node.commit else {
            return Ok(false);
        };
        match authorise(
            &policy,
            &policy,
            id,
            commit,
            Right::SignCommit,
            ctx,
            &BTreeSet::new(),
            None,
            None,
        ) {
            Ok(_) => Ok(true),
            Err(e) => {
                root_refusals.push(format!(
                    "{} carries the pinned policy but {}",
                    short(id),
                    e.detail
                ));
                Ok(false)
            }
        }
    };
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
        let root_here =
            roots.contains(&id) || is_root_candidate(&mut r, &id, &node, &mut root_refusals)?;
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
    let edges: Vec<(String, String)> = nodes
        .iter()
        .filter(|(id, _)| !roots.contains(*id))
        .filter_map(|(id, n)| {
            n.commit
                .as_ref()
                .ok()
                .map(|c| (id.clone(), c.parents.clone()))
        })
        .flat_map(|(id, ps)| ps.into_iter().map(move |p| (id.clone(), p)))
        .collect();
    for (_, p) in &edges {
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
            root: Some(target.to_string()),
        });
    }
    let checked = check_signatures(&mut r, &nodes, &roots, ctx)?;
    // Children before parents: a commit is judged once all its children are, so the goodlists
    // of every authenticated descendant are known when it is.
    let mut goodlists: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut verdicts: Vec<Verdict> = Vec::new();
    let mut ready: BTreeSet<String> = BTreeSet::from([target.to_string()]);
    let mut found: Option<String> = None;
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
            let known = &checked;
            let result = authenticate_edge(
                &mut r,
                &nodes,
                (&id, p),
                ctx,
                &hard_revoked,
                &goodlists,
                known,
            )?;
            let result = match result {
                Edge::Judged(res) => res,
                Edge::Abort(v) => {
                    return Ok(PathOutcome {
                        verdicts: finish(verdicts),
                        refusal: Some(v),
                        root: None,
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
                    found = Some(p.clone());
                }
            }
            edge_results.push((p.clone(), result));
            if found.is_some() {
                verdicts.push(edge_verdict(&id, &edge_results));
                break 'walk;
            }
        }
        if suffix {
            verdicts.push(edge_verdict(&id, &edge_results));
        }
    }
    match found {
        Some(root_id) => {
            let verdicts = verdicts
                .into_iter()
                .filter(Verdict::verified)
                .collect::<Vec<_>>();
            Ok(PathOutcome {
                verdicts: finish(verdicts),
                refusal: None,
                root: Some(root_id),
            })
        }
        None => {
            let blocking = verdicts.iter().find(|v| !v.verified()).cloned();
            let detail = match (&blocking, via) {
                (Some(b), _) => format!(
                    "no authenticated path from the trust root to {}: commit {} is not authorised ({}: {})",
                    short(target),
                    short(&b.id),
                    b.reason.unwrap_or("refused"),
                    b.detail.as_deref().unwrap_or("")
                ),
                (None, Some(v)) => format!(
                    "no authenticated path from the trust root to {} passes through {}",
                    short(target),
                    short(v)
                ),
                (None, None) => format!(
                    "no authenticated path from the trust root to {}",
                    short(target)
                ),
            };
            let code = blocking
                .as_ref()
                .and_then(|b| b.reason)
                .unwrap_or("no-authenticated-path");
            Ok(PathOutcome {
                verdicts: finish(verdicts),
                refusal: Some(Verdict::refused(target, "commit", code, detail)),
                root: None,
            })
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
        v.rule = Some(format!("{} of {}", in_repo::FILE, short(p)));
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
                format!("under {}'s policy: {}", short(p), e.detail)
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    v.rule = Some(format!("{} of {}", in_repo::FILE, short(&edges[0].0)));
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
                    format!("the policy of {}: {detail}", short(id)),
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
        return Ok(Edge::Judged(Err(refusal(
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

/// Checks `commit`'s signature with `parent`'s certificates (updated by `child`'s), that the
/// signer holds `right` there, and may make every change from `parent` to `child`.
#[allow(clippy::too_many_arguments)]
fn authorise(
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
        return Err(refusal("unsigned", "the commit is not signed"));
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
fn check(
    parent: &LoadedPolicy,
    child: &LoadedPolicy,
    sig: &[u8],
    payload: &[u8],
    first_seen: Option<i64>,
    ctx: &Context<'_>,
) -> Result<openpgp::Good, Refusal> {
    if SigFormat::of(sig) != SigFormat::OpenPgp {
        return Err(refusal(
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
fn authorised_by(
    parent: &LoadedPolicy,
    child: &LoadedPolicy,
    good: &openpgp::Good,
    right: Right,
    hard_revoked: &BTreeSet<Fingerprint>,
    goodlisted: Option<(&BTreeSet<String>, &str)>,
) -> Result<Authorised, Refusal> {
    let primary = Fingerprint::from_hex(&good.primary)
        .map_err(|_| refusal("internal-error", "unreadable fingerprint"))?;
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
                refusal(
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
                refusal(
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
            return Err(refusal(
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
        refusal(
            "untrusted-key",
            format!(
                "certificate {} is in no entity of the parent's policy",
                good.primary
            ),
        )
    }))
}

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
    v.rule = Some(format!("{} of {}", in_repo::FILE, short(&tag.object)));
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
