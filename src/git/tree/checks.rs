//! The checks every tree passes, read from git or built by the gate: safe paths (relative, no
//! `.`, `..` or `.git` components), known modes, no duplicates, nothing below a file or symlink,
//! symlinks that stay inside the tree, bounds.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{
    Entry, MAX_ENTRIES, MAX_HOPS, MAX_TARGET, MAX_TOTAL, MODE_EXEC, MODE_FILE, MODE_PRIVATE,
    MODE_SYMLINK, TreeError,
};
use crate::git::object::MODE_GITLINK;

/// A path is a relative, `/`-separated UTF-8 string without NUL or empty, `.`, `..` or
/// `.git` (any case) components.
pub(super) fn check_path(path: &[u8]) -> Result<String, TreeError> {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::read_tree;
    use super::*;

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
}
