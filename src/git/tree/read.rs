//! Reading a commit's tree from the git objects: the commit, `git ls-tree` parsed strictly, and
//! every tree and blob object read through one `git cat-file --batch` and hashed again.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Stdio};

use super::checks::{check_entries, check_path};
use super::{
    Entry, MAX_ENTRIES, MAX_TOTAL, MAX_TREE_OBJECT, MODE_EXEC, MODE_FILE, MODE_SYMLINK, TreeError,
};
use crate::git::object::{HashAlgo, MODE_GITLINK, MODE_TREE, TreeItem, parse_tree};
use crate::git::repo::Repo;

/// Reads the tree of `commit` (a full object id) from the repository at `repo_dir`.
/// Entries are sorted by path bytes; every path and symlink is checked (see [`TreeError`]).
pub fn read_tree(repo_dir: &Path, commit: &str) -> Result<Vec<Entry>, TreeError> {
    let mut repo = Repo::open(repo_dir).map_err(|e| TreeError::Git(e.to_string()))?;
    let algo = repo.algo;
    if !is_hex_id(commit, algo) {
        return Err(TreeError::Git(format!(
            "'{commit}' is not a full {}-digit object id",
            algo.hex_len()
        )));
    }
    let (kind, body) = repo.read(commit).map_err(|e| match e {
        crate::git::repo::GitError::Corrupt(m) => TreeError::Corrupt(m),
        other => TreeError::Git(other.to_string()),
    })?;
    if kind != "commit" {
        return Err(TreeError::Git(format!(
            "{commit} is a {kind}, not a commit"
        )));
    }
    let root = crate::git::object::commit_tree_id(&body, algo)
        .ok_or_else(|| TreeError::Corrupt(format!("commit {commit} has no tree header")))?;
    let listing = ls_tree(&repo, &root, algo)?;

    // Tree objects first, then each distinct blob once.
    let mut trees: Vec<(String, String)> = vec![(String::new(), root.clone())];
    let mut blob_ids: Vec<String> = Vec::new();
    let mut seen_blobs = HashSet::new();
    let mut children: HashMap<&str, Vec<TreeItem>> = HashMap::new();
    for r in &listing {
        let (parent, name) = match r.path.rfind('/') {
            Some(i) => (&r.path[..i], &r.path[i + 1..]),
            None => ("", r.path.as_str()),
        };
        children
            .entry(parent)
            .or_default()
            .push((name.as_bytes().to_vec(), r.mode, r.id.clone()));
        match r.mode {
            MODE_TREE => trees.push((r.path.clone(), r.id.clone())),
            MODE_GITLINK => return Err(TreeError::Submodule(r.path.clone())),
            _ => {
                if seen_blobs.insert(r.id.clone()) {
                    blob_ids.push(r.id.clone());
                }
            }
        }
    }
    let mut ids: Vec<String> = trees.iter().map(|(_, id)| id.clone()).collect();
    ids.extend(blob_ids.iter().cloned());
    let mut batch = Batch::start(&repo, &ids)?;

    for (path, id) in &trees {
        let body = batch.next(id, "tree", MAX_TREE_OBJECT)?;
        let mut parsed = parse_tree(&body, algo)
            .ok_or_else(|| TreeError::Corrupt(format!("tree {id} ('{path}') is malformed")))?;
        let mut listed = children.remove(path.as_str()).unwrap_or_default();
        parsed.sort();
        listed.sort();
        if parsed != listed {
            return Err(TreeError::Corrupt(format!(
                "tree {id} ('{path}') does not match git ls-tree"
            )));
        }
    }
    if !children.is_empty() {
        return Err(TreeError::Corrupt(
            "git ls-tree listed entries under no tree".into(),
        ));
    }

    // Bytes written, counted per entry (identical files count once per path).
    let mut uses: HashMap<String, u64> = HashMap::new();
    for r in listing.iter().filter(|r| r.mode != MODE_TREE) {
        *uses.entry(r.id.clone()).or_default() += 1;
    }
    let mut total: u64 = 0;
    let mut blobs: HashMap<String, Vec<u8>> = HashMap::with_capacity(blob_ids.len());
    for id in &blob_ids {
        let n = uses.get(id).copied().unwrap_or(1);
        let budget = (MAX_TOTAL - total) / n;
        let body = batch.next(id, "blob", budget)?;
        total += body.len() as u64 * n;
        blobs.insert(id.clone(), body);
    }
    batch.finish()?;

    let mut out = Vec::new();
    for r in listing {
        if r.mode == MODE_TREE {
            continue;
        }
        // The last path using a blob takes it; earlier ones copy it.
        let last = match uses.get_mut(&r.id) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => true,
        };
        let data = if last {
            blobs.remove(&r.id)
        } else {
            blobs.get(&r.id).cloned()
        }
        .ok_or_else(|| TreeError::Git(format!("blob {} was not read", r.id)))?;
        out.push(Entry {
            path: r.path,
            mode: r.mode,
            data,
        });
    }
    out.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    check_entries(&out)?;
    Ok(out)
}

fn is_hex_id(s: &str, algo: HashAlgo) -> bool {
    s.len() == algo.hex_len() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One `ls-tree` record.
struct Listed {
    mode: u32,
    id: String,
    path: String,
}

/// `git ls-tree -r -t -z --full-tree <tree>`, parsed strictly; paths checked.
fn ls_tree(repo: &Repo, tree: &str, algo: HashAlgo) -> Result<Vec<Listed>, TreeError> {
    let mut c = repo.command();
    c.args(["ls-tree", "-r", "-t", "-z", "--full-tree", tree]);
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TreeError::Git(format!("cannot run git ls-tree: {e}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| TreeError::Git("git ls-tree: no pipe".into()))?;
    let mut reader = BufReader::new(stdout);
    let mut out = Vec::new();
    let mut record = Vec::new();
    let result = (|| {
        loop {
            record.clear();
            let n = (&mut reader)
                .take(1 << 20)
                .read_until(0, &mut record)
                .map_err(|e| TreeError::Git(format!("git ls-tree: {e}")))?;
            if n == 0 {
                return Ok(());
            }
            if record.pop() != Some(0) {
                return Err(TreeError::Git("git ls-tree: unterminated record".into()));
            }
            if out.len() >= MAX_ENTRIES {
                return Err(TreeError::TooLarge(format!(
                    "more than {MAX_ENTRIES} entries"
                )));
            }
            out.push(parse_listed(&record, algo)?);
        }
    })();
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child
        .wait_with_output()
        .map_err(|e| TreeError::Git(format!("git ls-tree: {e}")))?;
    result?;
    if !status.status.success() {
        let err = String::from_utf8_lossy(&status.stderr);
        return Err(TreeError::Git(format!(
            "git ls-tree {tree}: {}",
            err.lines().next().unwrap_or("failed")
        )));
    }
    Ok(out)
}

/// `<mode> SP <type> SP <id> TAB <path>`.
fn parse_listed(record: &[u8], algo: HashAlgo) -> Result<Listed, TreeError> {
    let bad = || TreeError::Git("git ls-tree printed an unexpected record".to_string());
    let tab = record.iter().position(|&b| b == b'\t').ok_or_else(bad)?;
    let (meta, path) = (&record[..tab], &record[tab + 1..]);
    let meta = std::str::from_utf8(meta).map_err(|_| bad())?;
    let mut fields = meta.split(' ');
    let (Some(mode), Some(kind), Some(id), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(bad());
    };
    if mode.len() != 6 || !is_hex_id(id, algo) {
        return Err(bad());
    }
    let mode = u32::from_str_radix(mode, 8).map_err(|_| bad())?;
    let expected = match mode {
        MODE_FILE | MODE_EXEC | MODE_SYMLINK => "blob",
        MODE_TREE => "tree",
        MODE_GITLINK => "commit",
        _ => return Err(bad()),
    };
    if kind != expected {
        return Err(bad());
    }
    let path = check_path(path)?;
    Ok(Listed {
        mode,
        id: id.to_string(),
        path,
    })
}

/// A streamed `git cat-file --batch`: ids fed by a second thread, replies read in order.
struct Batch {
    child: Child,
    output: BufReader<ChildStdout>,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    algo: HashAlgo,
}

impl Batch {
    fn start(repo: &Repo, ids: &[String]) -> Result<Batch, TreeError> {
        let mut c = repo.command();
        // Every id is written up front and stdin closed: git may buffer its output.
        c.args(["cat-file", "--batch", "--buffer"]);
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| TreeError::Git(format!("cannot run git cat-file: {e}")))?;
        let (Some(mut input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TreeError::Git("git cat-file: no pipes".into()));
        };
        let list: String = ids.iter().map(|i| format!("{i}\n")).collect();
        let writer = std::thread::spawn(move || input.write_all(list.as_bytes()));
        Ok(Batch {
            child,
            output: BufReader::with_capacity(1 << 16, output),
            writer: Some(writer),
            algo: repo.algo,
        })
    }

    /// Reads the next reply, which must be `id` of type `kind` and at most `limit` bytes.
    fn next(&mut self, id: &str, kind: &str, limit: u64) -> Result<Vec<u8>, TreeError> {
        let mut header = Vec::new();
        (&mut self.output)
            .take(512)
            .read_until(b'\n', &mut header)
            .map_err(|e| TreeError::Git(format!("git cat-file: {e}")))?;
        let header = String::from_utf8_lossy(&header);
        let parts: Vec<&str> = header.trim_end_matches('\n').split(' ').collect();
        if parts.len() != 3 || parts[0] != id {
            return Err(TreeError::Git(format!(
                "object {id} is missing from the repository"
            )));
        }
        if parts[1] != kind {
            return Err(TreeError::Corrupt(format!(
                "object {id} is a {}, expected a {kind}",
                parts[1]
            )));
        }
        let size: u64 = parts[2]
            .parse()
            .map_err(|_| TreeError::Git("git cat-file: bad size".into()))?;
        if size > limit {
            return Err(if kind == "blob" {
                TreeError::TooLarge(format!(
                    "more than {MAX_TOTAL} bytes of files (blob {id} is {size} bytes)"
                ))
            } else {
                TreeError::TooLarge(format!("{kind} {id} is {size} bytes"))
            });
        }
        let mut body = vec![0u8; size as usize + 1];
        self.output
            .read_exact(&mut body)
            .map_err(|e| TreeError::Git(format!("git cat-file: {e}")))?;
        if body.pop() != Some(b'\n') {
            return Err(TreeError::Git("git cat-file: missing newline".into()));
        }
        let actual = self.algo.object_id(kind, &body);
        if actual != id {
            return Err(TreeError::Corrupt(format!(
                "object {id} hashes to {actual}: the repository is corrupt or was tampered with"
            )));
        }
        Ok(body)
    }

    fn finish(mut self) -> Result<(), TreeError> {
        if let Some(w) = self.writer.take() {
            match w.join() {
                Ok(Ok(())) => {}
                _ => return Err(TreeError::Git("git cat-file: cannot send ids".into())),
            }
        }
        Ok(())
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // Stops git even when replies were left unread (a refusal mid-stream).
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sha256_repository() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        git(d, &["init", "-q", "--object-format=sha256"]);
        std::fs::write(d.join("a"), b"x").unwrap();
        git(d, &["add", "a"]);
        git(d, &["commit", "-q", "-m", "a"]);
        let head = git(d, &["rev-parse", "HEAD"]);
        let entries = read_tree(d, &head).unwrap();
        assert_eq!(
            entries,
            vec![Entry {
                path: "a".into(),
                mode: MODE_FILE,
                data: b"x".to_vec()
            }]
        );
    }

    #[test]
    fn refuses_bad_revisions() {
        let (t, head) = sample_repo();
        assert!(matches!(
            read_tree(t.path(), "HEAD"),
            Err(TreeError::Git(_))
        ));
        assert!(matches!(
            read_tree(t.path(), &"0".repeat(40)),
            Err(TreeError::Git(_))
        ));
        let tree = git(t.path(), &["rev-parse", &format!("{head}^{{tree}}")]);
        assert!(matches!(read_tree(t.path(), &tree), Err(TreeError::Git(_))));
    }

    #[test]
    fn refuses_tampered_blob() {
        let (t, head) = sample_repo();
        let d = t.path();
        let id = git(d, &["rev-parse", &format!("{head}:README.md")]);
        // Replace the loose object with another blob's (valid zlib, wrong content).
        let other = git_in(d, &["hash-object", "-w", "--stdin"], Some(b"evil\n"));
        let obj = |id: &str| d.join(".git/objects").join(&id[..2]).join(&id[2..]);
        let bytes = std::fs::read(obj(&other)).unwrap();
        std::fs::set_permissions(obj(&id), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(obj(&id), &bytes).unwrap();
        assert!(matches!(read_tree(d, &head), Err(TreeError::Corrupt(_))));
    }
}
