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

mod checks;
#[cfg(test)]
mod fixtures;
mod read;
mod write;

pub use checks::check_entries;
pub use read::read_tree;
pub use write::{targz, write_entry, write_tree};

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

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;
    use std::process::Command;

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

    type Written = BTreeMap<String, (char, u32, Vec<u8>)>;
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
}
