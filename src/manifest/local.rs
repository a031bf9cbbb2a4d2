//! A directory on disk as a tree of entries (what the CLI checks before anything is
//! committed): the git work tree holding it (so `../base` references resolve), or the directory
//! itself outside git. `.git` is skipped; symlinks are kept as symlinks and must stay inside.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::git::tree::{
    Entry, MAX_ENTRIES, MAX_TOTAL, MODE_EXEC, MODE_FILE, MODE_SYMLINK, check_entries,
};

/// The top of the git work tree holding `dir`, else `dir`.
fn root_of(dir: &Path) -> PathBuf {
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.join(".git").exists() {
            return d.to_path_buf();
        }
        cur = d.parent();
    }
    dir.to_path_buf()
}

/// Reads the tree holding directory `dir`; returns the entries, `dir`'s path inside it, and
/// the tree's root directory.
pub fn read(dir: &Path) -> Result<(Vec<Entry>, String, PathBuf), String> {
    let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let root = root_of(&dir);
    let prefix = dir
        .strip_prefix(&root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut total: u64 = 0;
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| format!("cannot read {}: {e}", d.display()))?;
        for e in rd {
            let e = e.map_err(|e| format!("cannot read {}: {e}", d.display()))?;
            let p = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            let rel = p
                .strip_prefix(&root)
                .map_err(|_| format!("{} is outside {}", p.display(), root.display()))?
                .to_string_lossy()
                .into_owned();
            let meta =
                std::fs::symlink_metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            let ft = meta.file_type();
            if ft.is_dir() {
                stack.push(p);
                continue;
            }
            let (mode, data) = if ft.is_symlink() {
                let t = std::fs::read_link(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                (MODE_SYMLINK, t.to_string_lossy().into_owned().into_bytes())
            } else if ft.is_file() {
                let data =
                    std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
                let exec = meta.permissions().mode() & 0o100 != 0;
                (if exec { MODE_EXEC } else { MODE_FILE }, data)
            } else {
                continue;
            };
            total += data.len() as u64;
            if out.len() >= MAX_ENTRIES || total > MAX_TOTAL {
                return Err(format!("{} is too large to check", root.display()));
            }
            out.push(Entry {
                path: rel,
                mode,
                data,
            });
        }
    }
    out.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    check_entries(&out).map_err(|e| format!("{}: {e}", root.display()))?;
    Ok((out, prefix, root))
}
