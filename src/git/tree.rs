//! A verified commit's tree, read from the git objects (never from a working tree), checked for
//! unsafe paths and symlinks, written out as plain files or as a deterministic tar.gz.
//!
//! Reading: the commit object is read and hashed, its tree listed with
//! `git ls-tree -r -t -z --full-tree`, and every tree and blob object is read through one
//! `git cat-file --batch` and hashed again (SHA-1 with collision detection or SHA-256, per the
//! repository's object format). Each tree object is parsed and must list exactly what
//! `ls-tree` printed, so a tampered object store cannot slip in an entry.
//!
//! Not supported: submodules (mode 160000) are refused with [`TreeError::Submodule`] — the
//! gate cannot verify the commits they point at.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, ChildStdout, Stdio};

use crate::git::object::{HashAlgo, MODE_GITLINK, MODE_TREE, TreeItem, parse_tree};
use crate::git::repo::Repo;

/// Most entries (files, symlinks and directories) in one tree.
pub const MAX_ENTRIES: usize = 100_000;
/// Most bytes of file contents and symlink targets in one tree.
pub const MAX_TOTAL: u64 = 1 << 30;
/// Largest tree object read.
const MAX_TREE_OBJECT: u64 = 64 << 20;
/// Longest symlink target (`PATH_MAX`).
const MAX_TARGET: usize = 4096;
/// Most symlinks followed while resolving one symlink target inside the tree.
const MAX_HOPS: usize = 40;

pub use crate::git::object::{MODE_EXEC, MODE_FILE, MODE_SYMLINK};
/// A private file (mode 0600): never read from git; the gate uses it for secrets it decrypted
/// into a published tree.
pub const MODE_PRIVATE: u32 = 0o100600;

/// One file or symlink of a tree (directories are implied by paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative path, `/`-separated, no `.`, `..` or `.git` component.
    pub path: String,
    /// [`MODE_FILE`], [`MODE_EXEC`] or [`MODE_SYMLINK`].
    pub mode: u32,
    /// File bytes, or the symlink target.
    pub data: Vec<u8>,
}

/// Why a tree cannot be read, written or archived.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// git failed or printed something unexpected.
    #[error("git: {0}")]
    Git(String),
    /// An object does not hash to its id, or a tree object disagrees with `ls-tree`.
    #[error("corrupt repository: {0}")]
    Corrupt(String),
    /// A submodule entry (not supported: the commit it names cannot be verified).
    #[error("submodule at '{0}' is not supported")]
    Submodule(String),
    /// A path that is absolute, has `.`/`..`/`.git` components, NUL, is not UTF-8, is listed
    /// twice, or lies below a file or symlink.
    #[error("unsafe path {0}")]
    UnsafePath(String),
    /// A symlink whose target is absolute or resolves outside the tree.
    #[error("unsafe symlink '{0}' -> '{1}'")]
    UnsafeSymlink(String, String),
    /// More than [`MAX_ENTRIES`] entries or [`MAX_TOTAL`] bytes.
    #[error("tree too large: {0}")]
    TooLarge(String),
    /// A filesystem error while writing.
    #[error("{0}")]
    Io(String),
}

fn io_err(what: impl std::fmt::Display, e: std::io::Error) -> TreeError {
    TreeError::Io(format!("{what}: {e}"))
}

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

/// A path is a relative, `/`-separated UTF-8 string without NUL or empty, `.`, `..` or
/// `.git` (any case) components.
fn check_path(path: &[u8]) -> Result<String, TreeError> {
    let shown = || String::from_utf8_lossy(path).into_owned();
    let path = std::str::from_utf8(path)
        .map_err(|_| TreeError::UnsafePath(format!("'{}' (not UTF-8)", shown())))?;
    if path.is_empty() {
        return Err(TreeError::UnsafePath("'' (empty)".into()));
    }
    if path.contains('\0') {
        return Err(TreeError::UnsafePath(format!("'{}' (NUL)", shown())));
    }
    for c in path.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            return Err(TreeError::UnsafePath(format!(
                "'{path}' (absolute or has an empty, '.' or '..' component)"
            )));
        }
        if c.eq_ignore_ascii_case(".git") {
            return Err(TreeError::UnsafePath(format!("'{path}' (.git component)")));
        }
    }
    Ok(path.to_string())
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
        c.args(["cat-file", "--batch"]);
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

/// Checks a list of entries as [`read_tree`] returns them: safe paths, known modes, no
/// duplicates, nothing below a file or symlink, symlinks that stay inside the tree, bounds.
pub fn check_entries(entries: &[Entry]) -> Result<(), TreeError> {
    if entries.len() > MAX_ENTRIES {
        return Err(TreeError::TooLarge(format!(
            "more than {MAX_ENTRIES} entries"
        )));
    }
    let mut total: u64 = 0;
    let mut leaves: HashSet<&str> = HashSet::with_capacity(entries.len());
    let mut links: HashMap<&str, &[u8]> = HashMap::new();
    for e in entries {
        check_path(e.path.as_bytes())?;
        match e.mode {
            MODE_FILE | MODE_EXEC | MODE_PRIVATE => {}
            MODE_SYMLINK => {
                links.insert(e.path.as_str(), e.data.as_slice());
            }
            MODE_GITLINK => return Err(TreeError::Submodule(e.path.clone())),
            m => {
                return Err(TreeError::UnsafePath(format!("'{}' (mode {m:o})", e.path)));
            }
        }
        total = total.saturating_add(e.data.len() as u64);
        if total > MAX_TOTAL {
            return Err(TreeError::TooLarge(format!(
                "more than {MAX_TOTAL} bytes of files"
            )));
        }
        if !leaves.insert(e.path.as_str()) {
            return Err(TreeError::UnsafePath(format!(
                "'{}' (listed twice)",
                e.path
            )));
        }
    }
    for e in entries {
        let mut prefix = e.path.as_str();
        while let Some(i) = prefix.rfind('/') {
            prefix = &prefix[..i];
            if leaves.contains(prefix) {
                return Err(TreeError::UnsafePath(format!(
                    "'{}' (below the file or symlink '{prefix}')",
                    e.path
                )));
            }
        }
    }
    for (path, target) in &links {
        check_symlink(path, target, &links)?;
    }
    Ok(())
}

/// A symlink target must be relative UTF-8 without NUL and, resolved inside the tree
/// (following the tree's own symlinks where they are used as directories), stay inside it.
fn check_symlink(path: &str, target: &[u8], links: &HashMap<&str, &[u8]>) -> Result<(), TreeError> {
    let refuse = || {
        TreeError::UnsafeSymlink(
            path.to_string(),
            String::from_utf8_lossy(target).into_owned(),
        )
    };
    let start = match path.rfind('/') {
        Some(i) => &path[..i],
        None => "",
    };
    let mut cur: Vec<String> = start
        .split('/')
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    let mut todo: VecDeque<String> = VecDeque::new();
    push_target(&mut todo, target).ok_or_else(refuse)?;
    let mut hops = 0;
    while let Some(c) = todo.pop_front() {
        match c.as_str() {
            "" | "." => {}
            ".." => {
                cur.pop().ok_or_else(refuse)?;
            }
            _ => {
                cur.push(c);
                if todo.is_empty() {
                    break;
                }
                // Used as a directory: if it is a symlink of the tree, the kernel follows it.
                let joined = cur.join("/");
                if let Some(next) = links.get(joined.as_str()) {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(refuse());
                    }
                    cur.pop();
                    push_target(&mut todo, next).ok_or_else(refuse)?;
                }
            }
        }
    }
    Ok(())
}

/// Puts a target's components in front of `todo`; None if it is absolute, empty, not UTF-8
/// or has NUL.
fn push_target(todo: &mut VecDeque<String>, target: &[u8]) -> Option<()> {
    let t = std::str::from_utf8(target).ok()?;
    if t.is_empty() || t.len() > MAX_TARGET || t.starts_with('/') || t.contains('\0') {
        return None;
    }
    for c in t.split('/').rev() {
        todo.push_front(c.to_string());
    }
    Some(())
}

/// Writes `entries` under `dest`, which must not exist: directories 0755, files 0644 or 0755,
/// symlinks as symlinks. Nothing is written through a symlink or over an existing file.
pub fn write_tree(entries: &[Entry], dest: &Path) -> Result<(), TreeError> {
    check_entries(entries)?;
    make_dir(dest)?;
    let mut made: HashSet<String> = HashSet::new();
    for e in entries {
        // Parents: created here, or already created as directories by this call.
        let mut parent = String::new();
        let components: Vec<&str> = e.path.split('/').collect();
        for c in &components[..components.len() - 1] {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(c);
            if made.contains(&parent) {
                continue;
            }
            let p = dest.join(&parent);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => {
                    return Err(TreeError::UnsafePath(format!(
                        "'{}' (below a file or symlink)",
                        e.path
                    )));
                }
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => make_dir(&p)?,
                Err(err) => return Err(io_err(p.display(), err)),
            }
            made.insert(parent.clone());
        }
        let p = dest.join(&e.path);
        if e.mode == MODE_SYMLINK && std::str::from_utf8(&e.data).is_err() {
            return Err(TreeError::UnsafeSymlink(
                e.path.clone(),
                "<not UTF-8>".into(),
            ));
        }
        write_entry(&p, e.mode, &e.data).map_err(|err| io_err(p.display(), err))?;
    }
    Ok(())
}

/// Creates one file (mode 0644, 0755 or 0600 by tree mode, whatever the umask) or symlink at
/// `p`, which must not exist; never follows a symlink.
pub fn write_entry(p: &Path, mode: u32, data: &[u8]) -> std::io::Result<()> {
    if mode == MODE_SYMLINK {
        let target = std::str::from_utf8(data).map_err(std::io::Error::other)?;
        return std::os::unix::fs::symlink(target, p);
    }
    let perm = match mode {
        MODE_EXEC => 0o755,
        MODE_PRIVATE => 0o600,
        _ => 0o644,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(perm)
        .custom_flags(libc::O_NOFOLLOW)
        .open(p)?;
    f.write_all(data)
        .and_then(|_| f.set_permissions(std::fs::Permissions::from_mode(perm)))
}

/// Creates one directory (not its parents), 0755 whatever the umask.
fn make_dir(p: &Path) -> Result<(), TreeError> {
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(p)
        .and_then(|_| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| io_err(p.display(), e))
}

/// A deterministic tar.gz of `entries`: sorted, implied directories included (0755), mtime 0,
/// uid/gid 0, empty owner names, files 0644/0755, symlinks as symlink entries (0777), GNU long
/// names; gzip with mtime 0, no file name, level 6. Same entries → same bytes.
pub fn targz(entries: &[Entry]) -> Result<Vec<u8>, TreeError> {
    check_entries(entries)?;
    enum Item<'a> {
        Dir,
        Entry(&'a Entry),
    }
    let mut dirs: BTreeSet<&str> = BTreeSet::new();
    for e in entries {
        let mut prefix = e.path.as_str();
        while let Some(i) = prefix.rfind('/') {
            prefix = &prefix[..i];
            dirs.insert(prefix);
        }
    }
    let mut items: Vec<(&str, Item)> = dirs.into_iter().map(|d| (d, Item::Dir)).collect();
    items.extend(entries.iter().map(|e| (e.path.as_str(), Item::Entry(e))));
    items.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    let terr = |e: std::io::Error| TreeError::Io(format!("cannot build the archive: {e}"));
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::new(6));
    let mut ar = tar::Builder::new(gz);
    for (path, item) in items {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_username("").map_err(terr)?;
        h.set_groupname("").map_err(terr)?;
        match item {
            Item::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                ar.append_data(&mut h, format!("{path}/"), std::io::empty())
                    .map_err(terr)?;
            }
            Item::Entry(e) if e.mode == MODE_SYMLINK => {
                let target = std::str::from_utf8(&e.data)
                    .map_err(|_| TreeError::UnsafeSymlink(e.path.clone(), "<not UTF-8>".into()))?;
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                ar.append_link(&mut h, path, target).map_err(terr)?;
            }
            Item::Entry(e) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(match e.mode {
                    MODE_EXEC => 0o755,
                    MODE_PRIVATE => 0o600,
                    _ => 0o644,
                });
                h.set_size(e.data.len() as u64);
                ar.append_data(&mut h, path, e.data.as_slice())
                    .map_err(terr)?;
            }
        }
    }
    let gz = ar.into_inner().map_err(terr)?;
    gz.finish().map_err(terr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        git_in(dir, args, None)
    }

    fn git_in(dir: &Path, args: &[&str], input: Option<&[u8]>) -> String {
        let mut c = Command::new("git");
        c.current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "core.symlinks=true",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if let Some(i) = input {
            stdin.write_all(i).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub(crate) const LONG: &str = "long/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/\
        bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/cccccccccccccccccccccccc.yaml";

    /// A repository with files, an executable, symlinks, nested dirs, unicode and a long path.
    fn sample_repo() -> (tempfile::TempDir, String) {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        git(d, &["init", "-q"]);
        let write = |p: &str, data: &[u8]| {
            let p = d.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        };
        write("README.md", b"hello\n");
        write("bin/run.sh", b"#!/bin/sh\necho hi\n");
        std::fs::set_permissions(d.join("bin/run.sh"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        write("apps/prod/deploy.yaml", b"kind: Deployment\n");
        write("apps/prod/nested/deeper/cm.yaml", b"kind: ConfigMap\n");
        write("ünïcødé/日本.txt", "こんにちは\n".as_bytes());
        write(LONG, b"long: true\n");
        write("empty", b"");
        std::os::unix::fs::symlink("README.md", d.join("link")).unwrap();
        std::os::unix::fs::symlink("../../README.md", d.join("apps/prod/readme")).unwrap();
        std::os::unix::fs::symlink("apps/prod", d.join("prod")).unwrap();
        git(d, &["add", "-A"]);
        git(d, &["commit", "-q", "-m", "sample"]);
        let head = git(d, &["rev-parse", "HEAD"]);
        (t, head)
    }

    /// A commit whose tree is built from `(mode, content, path)` with update-index.
    fn synth(items: &[(&str, &[u8], &str)]) -> (tempfile::TempDir, String) {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        git(d, &["init", "-q"]);
        for (mode, content, path) in items {
            let id = if *mode == "160000" {
                String::from_utf8(content.to_vec()).unwrap()
            } else {
                git_in(d, &["hash-object", "-w", "--stdin"], Some(content))
            };
            git(
                d,
                &[
                    "update-index",
                    "--add",
                    "--cacheinfo",
                    &format!("{mode},{id},{path}"),
                ],
            );
        }
        let tree = git(d, &["write-tree"]);
        let commit = git(d, &["commit-tree", &tree, "-m", "synth"]);
        (t, commit)
    }

    /// What `git archive` holds: path → (kind, exec, data).
    fn archive(dir: &Path, commit: &str) -> BTreeMap<String, (char, bool, Vec<u8>)> {
        let out = Command::new("git")
            .current_dir(dir)
            .args(["archive", "--format=tar", commit])
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut ar = tar::Archive::new(out.stdout.as_slice());
        let mut m = BTreeMap::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let kind = match e.header().entry_type() {
                tar::EntryType::Regular => 'f',
                tar::EntryType::Symlink => 'l',
                _ => continue,
            };
            let path = e.path().unwrap().to_str().unwrap().to_string();
            let exec = kind == 'f' && e.header().mode().unwrap() & 0o100 != 0;
            let data = if kind == 'l' {
                e.link_name_bytes().unwrap().into_owned()
            } else {
                let mut v = Vec::new();
                e.read_to_end(&mut v).unwrap();
                v
            };
            m.insert(path, (kind, exec, data));
        }
        m
    }

    type Written = BTreeMap<String, (char, u32, Vec<u8>)>;
    type Item<'a> = (&'a str, &'a [u8], &'a str);

    /// What a written tree holds, with exact permissions.
    fn walk(root: &Path) -> (Written, BTreeSet<String>) {
        let mut files = BTreeMap::new();
        let mut dirs = BTreeSet::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for item in std::fs::read_dir(&d).unwrap() {
                let p = item.unwrap().path();
                let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
                let m = std::fs::symlink_metadata(&p).unwrap();
                let perm = m.permissions().mode() & 0o777;
                if m.file_type().is_symlink() {
                    let t = std::fs::read_link(&p).unwrap();
                    files.insert(rel, ('l', 0, t.to_str().unwrap().as_bytes().to_vec()));
                } else if m.is_dir() {
                    assert_eq!(perm, 0o755, "{rel}");
                    dirs.insert(rel);
                    stack.push(p);
                } else {
                    files.insert(rel, ('f', perm, std::fs::read(&p).unwrap()));
                }
            }
        }
        (files, dirs)
    }

    #[test]
    fn read_and_write_match_git_archive() {
        let (t, head) = sample_repo();
        let entries = read_tree(t.path(), &head).unwrap();
        let paths: Vec<&[u8]> = entries.iter().map(|e| e.path.as_bytes()).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        assert!(entries.iter().any(|e| e.path == LONG && e.path.len() > 100));

        let expected = archive(t.path(), &head);
        let got: BTreeMap<String, (char, bool, Vec<u8>)> = entries
            .iter()
            .map(|e| {
                let kind = if e.mode == MODE_SYMLINK { 'l' } else { 'f' };
                (e.path.clone(), (kind, e.mode == MODE_EXEC, e.data.clone()))
            })
            .collect();
        assert_eq!(got, expected);
        let run = entries.iter().find(|e| e.path == "bin/run.sh").unwrap();
        assert_eq!(run.mode, MODE_EXEC);

        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("tree");
        write_tree(&entries, &dest).unwrap();
        let (files, dirs) = walk(&dest);
        let written: BTreeMap<String, (char, bool, Vec<u8>)> = files
            .iter()
            .map(|(p, (k, perm, data))| {
                if *k == 'f' {
                    assert!(*perm == 0o644 || *perm == 0o755, "{p} {perm:o}");
                }
                (p.clone(), (*k, *perm == 0o755, data.clone()))
            })
            .collect();
        assert_eq!(written, expected);
        assert!(dirs.contains("apps/prod/nested/deeper") && dirs.contains("ünïcødé"));
        assert!(!dest.join(".git").exists());
        // A symlink inside the tree resolves.
        assert_eq!(
            std::fs::read(dest.join("apps/prod/readme")).unwrap(),
            b"hello\n"
        );
        // The destination must not exist.
        assert!(write_tree(&entries, &dest).is_err());
    }

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

    #[test]
    fn refuses_unsafe_trees() {
        let file: (&str, &[u8], &str) = ("100644", b"ok\n", "ok.txt");
        let cases: Vec<(Vec<Item>, &str)> = vec![
            (vec![file, ("120000", b"../../etc", "evil")], "symlink"),
            (vec![file, ("120000", b"../ok.txt", "evil")], "symlink"),
            (vec![file, ("120000", b"/etc/passwd", "evil")], "symlink"),
            (
                vec![file, ("120000", b"a/../../../x", "sub/evil")],
                "symlink",
            ),
            // Lexically inside, but `dot` is the tree root, so `dot/..` is its parent.
            (
                vec![file, ("120000", b".", "dot"), ("120000", b"dot/..", "up")],
                "symlink",
            ),
            (vec![file, ("120000", b"loop/x", "loop")], "symlink"),
            (
                vec![
                    file,
                    ("160000", b"1111111111111111111111111111111111111111", "sub"),
                ],
                "submodule",
            ),
        ];
        for (items, want) in cases {
            let (t, commit) = synth(&items);
            let r = read_tree(t.path(), &commit);
            let ok = match want {
                "symlink" => matches!(r, Err(TreeError::UnsafeSymlink(..))),
                _ => matches!(r, Err(TreeError::Submodule(ref p)) if p == "sub"),
            };
            assert!(ok, "{items:?}: {r:?}");
        }
        // Safe symlinks, including through another symlink.
        let (t, commit) = synth(&[
            file,
            ("120000", b"../ok.txt", "dir/up"),
            ("120000", b"dir", "d"),
            ("120000", b"d/up", "viad"),
            ("120000", b"missing", "dangling"),
        ]);
        read_tree(t.path(), &commit).unwrap();
    }

    /// Trees with `.git` components, built with mktree (update-index refuses them).
    #[test]
    fn refuses_dot_git_entries() {
        for name in [".git", ".GIT", ".Git"] {
            let t = tempfile::tempdir().unwrap();
            let d = t.path();
            git(d, &["init", "-q"]);
            let blob = git_in(d, &["hash-object", "-w", "--stdin"], Some(b"[core]\n"));
            let inner = git_in(
                d,
                &["mktree"],
                Some(format!("100644 blob {blob}\tconfig\n").as_bytes()),
            );
            let root = git_in(
                d,
                &["mktree"],
                Some(format!("040000 tree {inner}\t{name}\n100644 blob {blob}\tok\n").as_bytes()),
            );
            let commit = git(d, &["commit-tree", &root, "-m", "x"]);
            let r = read_tree(d, &commit);
            assert!(matches!(r, Err(TreeError::UnsafePath(_))), "{name}: {r:?}");
        }
    }

    fn e(path: &str, mode: u32, data: &[u8]) -> Entry {
        Entry {
            path: path.into(),
            mode,
            data: data.to_vec(),
        }
    }

    #[test]
    fn write_tree_never_writes_through_a_symlink() {
        let out = tempfile::tempdir().unwrap();
        let outside = out.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let entries = vec![e("a", MODE_SYMLINK, b"x"), e("a/b", MODE_FILE, b"pwned")];
        let r = write_tree(&entries, &out.path().join("t"));
        assert!(matches!(r, Err(TreeError::UnsafePath(_))), "{r:?}");
        for bad in [
            vec![e("../x", MODE_FILE, b"")],
            vec![e("/abs", MODE_FILE, b"")],
            vec![e("a//b", MODE_FILE, b"")],
            vec![e("a/./b", MODE_FILE, b"")],
            vec![e("x/.git/config", MODE_FILE, b"")],
            vec![e("x", MODE_FILE, b""), e("x", MODE_FILE, b"")],
            vec![e("x", 0o100664, b"")],
        ] {
            let r = write_tree(&bad, &out.path().join("u"));
            assert!(matches!(r, Err(TreeError::UnsafePath(_))), "{bad:?}: {r:?}");
            assert!(!out.path().join("u").exists());
        }
        assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
        let big = vec![e("x", MODE_FILE, b""); MAX_ENTRIES + 1];
        assert!(matches!(check_entries(&big), Err(TreeError::TooLarge(_))));
    }

    #[test]
    fn targz_is_deterministic() {
        let (t, head) = sample_repo();
        let entries = read_tree(t.path(), &head).unwrap();
        let a = targz(&entries).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = targz(&entries).unwrap();
        assert_eq!(a, b);
        // gzip header: no FNAME flag, mtime 0.
        assert_eq!(&a[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(a[3] & 0x08, 0);
        assert_eq!(&a[4..8], &[0, 0, 0, 0]);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.tar.gz");
        std::fs::write(&file, &a).unwrap();
        let out = Command::new("tar")
            .env("TZ", "UTC")
            .args(["--numeric-owner", "-tvzf"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success());
        let listing = String::from_utf8(out.stdout).unwrap();
        let line = |p: &str| {
            listing
                .lines()
                .find(|l| {
                    let name = l.split_once("00:00 ").map(|x| x.1).unwrap_or("");
                    name == p || name.starts_with(&format!("{p} -> "))
                })
                .unwrap_or_else(|| panic!("{p} not in {listing}"))
                .to_string()
        };
        for l in listing.lines() {
            assert!(l.contains("1970-01-01 00:00"), "{l}");
            assert!(l.contains(" 0/0 "), "{l}");
        }
        assert!(line("bin/run.sh").starts_with("-rwxr-xr-x"));
        assert!(line("README.md").starts_with("-rw-r--r--"));
        assert!(line("apps/prod/nested/").starts_with("drwxr-xr-x"));
        assert!(line("link").starts_with("lrwxrwxrwx"));
        assert!(line(LONG).starts_with("-rw-r--r--"));
        // Parents come before children; the archive round-trips to the same entries.
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(a.as_slice()));
        let mut seen_dirs = HashSet::new();
        let mut back = Vec::new();
        for x in ar.entries().unwrap() {
            let mut x = x.unwrap();
            let p = x
                .path()
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches('/')
                .to_string();
            if let Some(i) = p.rfind('/') {
                assert!(seen_dirs.contains(&p[..i]), "{p} before its parent");
            }
            match x.header().entry_type() {
                tar::EntryType::Directory => {
                    seen_dirs.insert(p);
                }
                tar::EntryType::Symlink => {
                    let target = x.link_name_bytes().unwrap().into_owned();
                    back.push(e(&p, MODE_SYMLINK, &target));
                }
                _ => {
                    let mode = if x.header().mode().unwrap() == 0o755 {
                        MODE_EXEC
                    } else {
                        MODE_FILE
                    };
                    let mut v = Vec::new();
                    x.read_to_end(&mut v).unwrap();
                    back.push(e(&p, mode, &v));
                }
            }
        }
        assert_eq!(back, entries);
    }
}
