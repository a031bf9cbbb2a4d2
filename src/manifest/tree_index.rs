//! A tree of files (from git objects or a local directory) indexed for path questions: is this a
//! file or a directory, what lies below a directory, and where a path leads once the tree's own
//! symlinks are followed (never outside the tree).

use std::collections::{BTreeMap, BTreeSet};

use crate::git::tree::{Entry, MODE_SYMLINK};

/// Most symlinks followed while resolving one path.
const MAX_HOPS: usize = 40;

/// The entries of a tree by path, and the directories they imply.
pub struct TreeIndex<'a> {
    files: BTreeMap<&'a str, &'a Entry>,
    dirs: BTreeSet<String>,
}

/// What a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory (implied by the files below it; `""` is the root).
    Dir,
    /// Nothing.
    Missing,
}

impl<'a> TreeIndex<'a> {
    /// Indexes `entries` (paths relative, `/`-separated, checked by the tree reader).
    pub fn new(entries: &'a [Entry]) -> TreeIndex<'a> {
        let mut files = BTreeMap::new();
        let mut dirs = BTreeSet::new();
        dirs.insert(String::new());
        for e in entries {
            files.insert(e.path.as_str(), e);
            let mut p = e.path.as_str();
            while let Some(i) = p.rfind('/') {
                p = &p[..i];
                if !dirs.insert(p.to_string()) {
                    break;
                }
            }
        }
        TreeIndex { files, dirs }
    }

    /// The entry at exactly `path` (a file or a symlink), without following links.
    pub fn entry(&self, path: &str) -> Option<&'a Entry> {
        self.files.get(path).copied()
    }

    /// What `path` (already resolved) names.
    pub fn kind(&self, path: &str) -> Kind {
        if self.files.get(path).is_some_and(|e| e.mode != MODE_SYMLINK) {
            Kind::File
        } else if self.dirs.contains(path) {
            Kind::Dir
        } else {
            Kind::Missing
        }
    }

    /// Every file entry below directory `dir` (recursively), in path order.
    pub fn below(&self, dir: &str) -> impl Iterator<Item = &'a Entry> + '_ {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        self.files
            .range::<str, _>((
                std::ops::Bound::Included(prefix.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(p, _)| p.starts_with(&prefix))
            .map(|(_, e)| *e)
    }

    /// Joins `rel` to directory `base` and resolves `.`, `..` and the tree's symlinks.
    /// Returns the resolved path and the symlinks followed on the way; None if the path leaves
    /// the tree or loops.
    pub fn resolve(&self, base: &str, rel: &str) -> Option<(String, Vec<String>)> {
        let mut todo: Vec<String> = rel.split('/').rev().map(String::from).collect();
        let mut cur: Vec<String> = base
            .split('/')
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect();
        let mut links = Vec::new();
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "" | "." => {}
                ".." => {
                    cur.pop()?;
                }
                _ => {
                    cur.push(c);
                    let joined = cur.join("/");
                    if let Some(e) = self.files.get(joined.as_str())
                        && e.mode == MODE_SYMLINK
                    {
                        if links.len() >= MAX_HOPS {
                            return None;
                        }
                        links.push(joined.clone());
                        let target = std::str::from_utf8(&e.data).ok()?;
                        if target.starts_with('/') {
                            return None;
                        }
                        cur.pop();
                        todo.extend(target.split('/').rev().map(String::from));
                    }
                }
            }
        }
        Some((cur.join("/"), links))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::tree::MODE_FILE;

    fn e(path: &str, mode: u32, data: &str) -> Entry {
        Entry {
            path: path.into(),
            mode,
            data: data.as_bytes().to_vec(),
        }
    }

    #[test]
    fn resolves_inside_the_tree_only() {
        let entries = vec![
            e("base/a.yaml", MODE_FILE, "a"),
            e("base/sub/b.yaml", MODE_FILE, "b"),
            e("link", MODE_SYMLINK, "base/sub"),
            e("overlay/kustomization.yaml", MODE_FILE, "k"),
        ];
        let t = TreeIndex::new(&entries);
        assert_eq!(
            t.resolve("overlay", "../base"),
            Some(("base".into(), vec![]))
        );
        assert_eq!(
            t.resolve("overlay", "../link/b.yaml"),
            Some(("base/sub/b.yaml".into(), vec!["link".into()]))
        );
        assert_eq!(t.resolve("overlay", "../../etc"), None);
        assert_eq!(t.kind("base"), Kind::Dir);
        assert_eq!(t.kind("base/a.yaml"), Kind::File);
        assert_eq!(t.kind("link"), Kind::Missing);
        let below: Vec<&str> = t.below("base").map(|e| e.path.as_str()).collect();
        assert_eq!(below, ["base/a.yaml", "base/sub/b.yaml"]);
        assert_eq!(t.below("").count(), 4);
    }
}
