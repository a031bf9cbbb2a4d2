//! The paths each commit changes against its first parent, computed in process from the tree
//! objects (every object re-hashed on read), with the meaning of
//! `git diff-tree -r --root --first-parent --name-only --no-renames`: files, symlinks and
//! submodules that were added, removed, or changed in content or mode; every file of a root
//! commit. No git output is parsed, so no path can be mistaken for a commit id.

use std::collections::{HashMap, HashSet};

use super::object::{MODE_TREE, TreeItem, commit_tree_id, parse_tree};
use super::repo::{GitError, Repo};

/// One commit to diff: its id, its tree and its first parent (None for a root commit).
pub struct CommitTrees<'a> {
    /// The commit id.
    pub id: &'a str,
    /// The commit's tree id.
    pub tree: &'a str,
    /// The first parent's commit id.
    pub parent: Option<&'a str>,
}

/// A pair of trees (either side may be absent) to compare under `prefix`.
struct Pending {
    commit: usize,
    prefix: String,
    old: Option<String>,
    new: Option<String>,
}

/// Paths changed by each commit against its first parent, keyed by commit id.
pub fn changed_paths(
    repo: &Repo,
    commits: &[CommitTrees<'_>],
) -> Result<HashMap<String, Vec<String>>, GitError> {
    let algo = repo.algo;
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    // The parents' trees, read from the parent commit objects.
    let parents: Vec<String> = {
        let mut seen = HashSet::new();
        commits
            .iter()
            .filter_map(|c| c.parent)
            .filter(|p| seen.insert(*p))
            .map(str::to_string)
            .collect()
    };
    let mut parent_tree: HashMap<String, String> = HashMap::new();
    for (id, (kind, body)) in parents.iter().zip(repo.read_many(&parents)?) {
        if kind != "commit" {
            return Err(GitError::Corrupt(format!("{id} is a {kind}, not a commit")));
        }
        let tree = commit_tree_id(&body, algo)
            .ok_or_else(|| GitError::Corrupt(format!("commit {id} has no tree header")))?;
        parent_tree.insert(id.clone(), tree);
    }
    let mut work: Vec<Pending> = Vec::new();
    for (i, c) in commits.iter().enumerate() {
        out.insert(c.id.to_string(), Vec::new());
        let old = c.parent.and_then(|p| parent_tree.get(p)).cloned();
        if old.as_deref() != Some(c.tree) {
            work.push(Pending {
                commit: i,
                prefix: String::new(),
                old,
                new: Some(c.tree.to_string()),
            });
        }
    }
    let mut trees: HashMap<String, Vec<TreeItem>> = HashMap::new();
    // One streamed read per tree depth: every tree of the level in one `cat-file --batch`.
    while !work.is_empty() {
        let mut want: Vec<String> = Vec::new();
        let mut asked = HashSet::new();
        for p in &work {
            for id in [&p.old, &p.new].into_iter().flatten() {
                if !trees.contains_key(id) && asked.insert(id.clone()) {
                    want.push(id.clone());
                }
            }
        }
        for (id, (kind, body)) in want.iter().zip(repo.read_many(&want)?) {
            if kind != "tree" {
                return Err(GitError::Corrupt(format!("{id} is a {kind}, not a tree")));
            }
            let items = parse_tree(&body, algo)
                .ok_or_else(|| GitError::Corrupt(format!("tree {id} is malformed")))?;
            trees.insert(id.clone(), items);
        }
        let mut next = Vec::new();
        for p in work {
            let paths = out
                .get_mut(commits[p.commit].id)
                .expect("every commit has an entry");
            compare(&p, &trees, &mut next, paths);
        }
        work = next;
    }
    Ok(out)
}

/// Compares one pair of trees: leaves that differ go to `paths`, subtrees that differ to `next`.
fn compare(
    p: &Pending,
    trees: &HashMap<String, Vec<TreeItem>>,
    next: &mut Vec<Pending>,
    paths: &mut Vec<String>,
) {
    let empty = Vec::new();
    let side = |id: &Option<String>| -> HashMap<&[u8], (u32, &str)> {
        id.as_ref()
            .and_then(|id| trees.get(id))
            .unwrap_or(&empty)
            .iter()
            .map(|(name, mode, id)| (name.as_slice(), (*mode, id.as_str())))
            .collect()
    };
    let old = side(&p.old);
    let new = side(&p.new);
    let mut names: Vec<&[u8]> = old.keys().chain(new.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let path = if p.prefix.is_empty() {
            String::from_utf8_lossy(name).into_owned()
        } else {
            format!("{}/{}", p.prefix, String::from_utf8_lossy(name))
        };
        let (o, n) = (old.get(name), new.get(name));
        if o == n {
            continue;
        }
        let subtree = |e: Option<&(u32, &str)>| {
            e.filter(|(mode, _)| *mode == MODE_TREE)
                .map(|(_, id)| id.to_string())
        };
        let leaf = |e: Option<&(u32, &str)>| e.is_some_and(|(mode, _)| *mode != MODE_TREE);
        let (old_tree, new_tree) = (subtree(o), subtree(n));
        if old_tree.is_some() || new_tree.is_some() {
            next.push(Pending {
                commit: p.commit,
                prefix: path.clone(),
                old: old_tree,
                new: new_tree,
            });
        }
        // A leaf on either side (added, removed, changed, or replaced by/with a tree).
        if leaf(o) || leaf(n) {
            paths.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::{Command, Stdio};

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn write(dir: &Path, path: &str, data: &str) {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    /// git's own answer, for comparison (one commit at a time, so nothing is interleaved).
    fn git_paths(dir: &Path, id: &str) -> Vec<String> {
        let out = git(
            dir,
            &[
                "diff-tree",
                "-r",
                "--root",
                "--diff-merges=first-parent",
                "--name-only",
                "--no-renames",
                "--no-commit-id",
                "-z",
                id,
            ],
        );
        let mut v: Vec<String> = out
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        v.sort();
        v
    }

    #[test]
    fn matches_git_diff_tree_and_ignores_names_that_look_like_ids() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        git(d, &["init", "-q", "-b", "main"]);
        write(d, "a.yaml", "a");
        write(d, "dir/b.yaml", "b");
        write(d, "dir/sub/c.yaml", "c");
        git(d, &["add", "-A"]);
        git(d, &["commit", "-q", "-m", "root"]);
        let root = git(d, &["rev-parse", "HEAD"]);
        // A file named after the root commit's id, then changes in a second commit.
        write(d, &format!("ids/{root}"), "x");
        write(d, "dir/b.yaml", "b2");
        std::fs::remove_file(d.join("a.yaml")).unwrap();
        write(d, "a.yaml/now-a-dir.yaml", "tree instead of blob");
        git(d, &["add", "-A"]);
        git(d, &["commit", "-q", "-m", "second"]);
        let second = git(d, &["rev-parse", "HEAD"]);
        // Mode change only, and a subtree removed.
        std::fs::remove_dir_all(d.join("dir/sub")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("dir/b.yaml"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        git(d, &["add", "-A"]);
        git(d, &["commit", "-q", "-m", "third"]);
        let third = git(d, &["rev-parse", "HEAD"]);
        // A merge: diffed against its first parent only.
        git(d, &["checkout", "-q", "-b", "side", &root]);
        write(d, "side.yaml", "s");
        git(d, &["add", "-A"]);
        git(d, &["commit", "-q", "-m", "side"]);
        git(d, &["checkout", "-q", "main"]);
        git(d, &["merge", "-q", "--no-edit", "side"]);
        let merge = git(d, &["rev-parse", "HEAD"]);

        let repo = Repo::open(d).unwrap();
        let ids = [root.clone(), second, third, merge];
        let mut parsed = Vec::new();
        for (id, (_, body)) in ids.iter().zip(repo.read_many(&ids).unwrap()) {
            let c = crate::git::object::parse_commit(&body, repo.algo).unwrap();
            parsed.push((id.clone(), c));
        }
        let trees: Vec<CommitTrees<'_>> = parsed
            .iter()
            .map(|(id, c)| CommitTrees {
                id,
                tree: &c.tree,
                parent: c.parents.first().map(String::as_str),
            })
            .collect();
        let got = changed_paths(&repo, &trees).unwrap();
        for id in &ids {
            let mut mine = got[id].clone();
            mine.sort();
            assert_eq!(mine, git_paths(d, id), "commit {id}");
        }
        assert!(got[&ids[1]].contains(&format!("ids/{root}")));
        assert!(got[&ids[1]].contains(&"dir/b.yaml".to_string()));
        assert_eq!(got[&ids[3]], vec!["side.yaml".to_string()]);
    }
}
