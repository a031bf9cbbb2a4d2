//! The private directory kustomize builds in: exactly the files the kustomization walk
//! approved (and the kustomizations generated for paths without one), kept between renders and
//! brought up to date by writing only what changed and removing what is no longer wanted. A
//! render after a one-file commit writes one file, not the whole tree.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::git::tree::write_entry;

/// A file to have in the workspace: tree path, mode, bytes (symlink target for symlinks).
pub struct Wanted<'a> {
    /// Relative, checked path (from the tree reader or the walk).
    pub path: &'a str,
    /// Tree mode.
    pub mode: u32,
    /// Content.
    pub data: &'a [u8],
}

/// The build directory and what it holds.
pub struct Workspace {
    dir: tempfile::TempDir,
    files: HashMap<String, (u32, [u8; 32])>,
}

fn digest(mode: u32, data: &[u8]) -> (u32, [u8; 32]) {
    (mode, Sha256::digest(data).into())
}

impl Workspace {
    /// A new, empty workspace under `parent` (mode 0700).
    pub fn new(parent: &Path) -> std::io::Result<Workspace> {
        let dir = tempfile::Builder::new()
            .prefix("render-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(parent)?;
        Ok(Workspace {
            dir,
            files: HashMap::new(),
        })
    }

    /// The directory kustomize runs in.
    pub fn root(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Makes the workspace hold exactly `wanted`.
    pub fn sync(&mut self, wanted: &[Wanted<'_>]) -> std::io::Result<()> {
        let keep: HashSet<&str> = wanted.iter().map(|w| w.path).collect();
        let stale: Vec<String> = self
            .files
            .keys()
            .filter(|p| !keep.contains(p.as_str()))
            .cloned()
            .collect();
        for p in stale {
            remove(&self.dir.path().join(&p))?;
            self.files.remove(&p);
        }
        for w in wanted {
            let d = digest(w.mode, w.data);
            if self.files.get(w.path) == Some(&d) {
                continue;
            }
            // Forget it first: if writing fails, the next sync writes it again.
            self.files.remove(w.path);
            let target = self.dir.path().join(w.path);
            self.parents(w.path)?;
            remove(&target)?;
            write_entry(&target, w.mode, w.data)?;
            self.files.insert(w.path.to_string(), d);
        }
        Ok(())
    }

    /// Every parent of `path` is a real directory (a stale file or symlink in the way goes).
    fn parents(&self, path: &str) -> std::io::Result<()> {
        let mut cur = self.dir.path().to_path_buf();
        let parts: Vec<&str> = path.split('/').collect();
        for c in &parts[..parts.len().saturating_sub(1)] {
            cur.push(c);
            match std::fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => {
                    std::fs::remove_file(&cur)?;
                    std::fs::DirBuilder::new().mode(0o700).create(&cur)?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::DirBuilder::new().mode(0o700).create(&cur)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Removes a file or symlink (never follows it); a directory in the way is removed whole.
fn remove(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::tree::{MODE_FILE, MODE_SYMLINK};

    fn w<'a>(path: &'a str, mode: u32, data: &'a str) -> Wanted<'a> {
        Wanted {
            path,
            mode,
            data: data.as_bytes(),
        }
    }

    fn listing(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let ft = e.file_type().unwrap();
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                if ft.is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(rel);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn holds_exactly_what_is_wanted() {
        let parent = tempfile::tempdir().unwrap();
        let mut ws = Workspace::new(parent.path()).unwrap();
        ws.sync(&[
            w("a/k.yaml", MODE_FILE, "one"),
            w("a/b.yaml", MODE_FILE, "b"),
            w("link", MODE_SYMLINK, "a"),
        ])
        .unwrap();
        let root = ws.root();
        assert_eq!(listing(&root), ["a/b.yaml", "a/k.yaml", "link"]);
        // A changed file, a removed one, and a symlink replaced by a directory.
        ws.sync(&[
            w("a/k.yaml", MODE_FILE, "two"),
            w("link/x.yaml", MODE_FILE, "x"),
        ])
        .unwrap();
        assert_eq!(listing(&root), ["a/k.yaml", "link/x.yaml"]);
        assert_eq!(
            std::fs::read_to_string(root.join("a/k.yaml")).unwrap(),
            "two"
        );
        assert!(
            !root.join("a/x.yaml").exists(),
            "nothing written through the old symlink"
        );
        // And back: the directory replaced by a symlink.
        ws.sync(&[
            w("link", MODE_SYMLINK, "a"),
            w("a/k.yaml", MODE_FILE, "two"),
        ])
        .unwrap();
        assert_eq!(listing(&root), ["a/k.yaml", "link"]);
    }
}
