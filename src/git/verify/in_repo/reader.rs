//! Reading what the in-repo walk needs: commits, the policy file of their trees, each policy
//! parsed once, the commits of the path read ahead in two batches.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::git::object::{Commit, MODE_EXEC, MODE_FILE, commit_tree_id, parse_commit, parse_tree};
use crate::git::repo::{GitError, Repo};
use crate::policy::in_repo::{self, LoadedPolicy, RepoPolicy};
use crate::signature::{Refusal, refuse};

/// A commit's policy: loaded, or why it cannot be.
pub(super) type PolicySlot = Result<Arc<LoadedPolicy>, String>;

/// Reads and caches commits and policies.
pub(super) struct Reader<'r> {
    pub(super) repo: &'r mut Repo,
    /// Policy by blob id (`None`: the void policy of a tree without the file).
    policies: HashMap<Option<String>, PolicySlot>,
    /// SHA-256 of policy files by blob id (policy-digest roots).
    digests: HashMap<String, [u8; 32]>,
    /// Objects read ahead in one batch: (type, body) by id.
    ahead: HashMap<String, (String, Vec<u8>)>,
}

impl Reader<'_> {
    pub(super) fn new(repo: &mut Repo) -> Reader<'_> {
        Reader {
            repo,
            policies: HashMap::new(),
            digests: HashMap::new(),
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
    pub(super) fn read_ahead(&mut self, root: &str, target: &str) -> Result<bool, GitError> {
        let ids = self.repo.range_with_boundary(root, target)?;
        if !ids.iter().any(|i| i == root) {
            return Ok(false);
        }
        let mut trees = Vec::new();
        for (id, (kind, raw)) in ids.iter().zip(self.repo.read_many(&ids)?) {
            if kind == "commit"
                && let Some(tree) = commit_tree_id(&raw, self.repo.algo)
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

    pub(super) fn commit(&mut self, id: &str) -> Result<Result<Commit, Refusal>, GitError> {
        let (kind, raw) = self.read(id)?;
        if kind != "commit" {
            return Ok(Err(refuse(
                "malformed-object",
                format!("{id} is a {kind}, not a commit"),
            )));
        }
        Ok(parse_commit(&raw, self.repo.algo).map_err(|e| refuse(e.code, e.detail)))
    }

    /// The blob id of the tree's policy file, `None` when the tree has none; a policy that is
    /// not a regular file (symlink, directory, submodule) is refused rather than followed.
    pub(super) fn policy_blob(
        &mut self,
        tree: &str,
    ) -> Result<Result<Option<String>, String>, GitError> {
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

    /// The SHA-256 of the policy file in blob `blob`, cached.
    pub(super) fn digest(&mut self, blob: &str) -> Result<[u8; 32], GitError> {
        if let Some(d) = self.digests.get(blob) {
            return Ok(*d);
        }
        let (_, raw) = self.read(blob)?;
        let d: [u8; 32] = Sha256::digest(&raw).into();
        self.digests.insert(blob.to_string(), d);
        Ok(d)
    }

    /// The policy in blob `blob` (`None`: the void policy), cached.
    pub(super) fn policy(&mut self, blob: &Option<String>) -> Result<PolicySlot, GitError> {
        if let Some(p) = self.policies.get(blob) {
            return Ok(p.clone());
        }
        let loaded = match blob {
            None => Ok(Arc::new(RepoPolicy::default().load())),
            Some(id) => {
                let (kind, raw) = self.read(id)?;
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
