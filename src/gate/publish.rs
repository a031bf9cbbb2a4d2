//! Publishing verified trees: a git-sync-compatible volume (`<root>/<link>` is a relative
//! symlink to `.versions/<commit>`, swapped atomically by rename(2), so readers see the old tree
//! or the new one, never a half-written one) and Flux ExternalArtifact tar.gz files.
//!
//! Layout of a volume:
//! ```text
//! <root>/<link> -> .versions/<commit>
//! <root>/.versions/<commit>/…                   the tree, plain files, no .git
//! <root>/.versions/<commit>.sigil-verdict.json  the verdict for that commit
//! <root>/.sigil-verdict.json                    the verdict of the current commit
//! ```
//! One volume must be published and collected by one writer at a time (the gate serialises
//! the work of each source).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rand::RngCore;
use sha2::Digest;

use super::sync::Verified;
use crate::atomic::{Mode, write as write_atomic};
use crate::git::tree::{Entry, MODE_EXEC, MODE_PRIVATE, MODE_SYMLINK, TreeError, write_tree};

/// Directory of the published trees inside the root.
pub const VERSIONS: &str = ".versions";
/// Suffix of a commit's verdict file beside its tree.
pub const VERDICT_SUFFIX: &str = ".sigil-verdict.json";
/// The current commit's verdict, in the root.
pub const CURRENT_VERDICT: &str = ".sigil-verdict.json";
/// Unfinished `.tmp-*` directories are never removed younger than this, whatever the grace.
const MIN_TMP_AGE: Duration = Duration::from_secs(600);
/// Older artifacts kept per source besides the one just written.
const KEEP_ARTIFACTS: usize = 2;

/// A git-sync-compatible shared volume.
#[derive(Debug, Clone)]
pub struct Volume {
    /// The volume's root (git-sync `--root`).
    pub root: PathBuf,
    /// The symlink consumers read through (git-sync `--link`), a single file name.
    pub link: String,
    /// Versions kept by [`Volume::gc`], the current one included (at least 1).
    pub keep_versions: usize,
    /// How long a version is kept after it stopped being current (readers may still be in it).
    pub grace: Duration,
}

fn io_err(what: impl std::fmt::Display, e: std::io::Error) -> TreeError {
    TreeError::Io(format!("{what}: {e}"))
}

fn is_commit_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A single, ordinary file name (no `/`, not `.`/`..`, no NUL, not empty).
fn is_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

fn random_suffix() -> String {
    let n = rand::rngs::OsRng.next_u64();
    format!("{n:016x}")
}

fn write_public(path: &Path, data: &[u8]) -> Result<(), TreeError> {
    write_atomic(path, data, Mode::Public).map_err(|e| TreeError::Io(e.to_string()))
}

/// Sets a file's or directory's mtime to now (without following a symlink: callers pass
/// directories they created).
fn touch(path: &Path) -> Result<(), TreeError> {
    let f = std::fs::File::open(path).map_err(|e| io_err(path.display(), e))?;
    f.set_modified(SystemTime::now())
        .map_err(|e| io_err(path.display(), e))
}

fn mtime(m: &std::fs::Metadata) -> SystemTime {
    m.modified().unwrap_or(SystemTime::UNIX_EPOCH)
}

fn age(m: &std::fs::Metadata, now: SystemTime) -> Duration {
    now.duration_since(mtime(m)).unwrap_or(Duration::ZERO)
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Flushes the filesystem holding `dir` (one `syncfs(2)` instead of an fsync per file), so a
/// version directory is never renamed into place with contents still only in memory: after a
/// crash an existing `.versions/<commit>` is complete and may be reused.
fn sync_filesystem(dir: &Path) {
    #[cfg(target_os = "linux")]
    if let Ok(f) = std::fs::File::open(dir) {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the duration of the call.
        let _ = unsafe { libc::syncfs(f.as_raw_fd()) };
    }
    #[cfg(not(target_os = "linux"))]
    sync_dir(dir);
}

/// Whether `dir` holds exactly `entries` (contents, permissions, symlink targets, nothing
/// else besides directories).
fn tree_matches(dir: &Path, entries: &[Entry]) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fn count(dir: &Path) -> Option<usize> {
        let mut n = 0;
        for item in std::fs::read_dir(dir).ok()? {
            let item = item.ok()?;
            if item.file_type().ok()?.is_dir() {
                n += count(&item.path())?;
            } else {
                n += 1;
            }
        }
        Some(n)
    }
    let same = |e: &Entry| {
        let p = dir.join(&e.path);
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            return false;
        };
        if e.mode == MODE_SYMLINK {
            return m.file_type().is_symlink()
                && std::fs::read_link(&p).is_ok_and(|t| t.as_os_str().as_bytes() == e.data);
        }
        let perm = match e.mode {
            MODE_EXEC => 0o755,
            MODE_PRIVATE => 0o600,
            _ => 0o644,
        };
        m.file_type().is_file()
            && m.permissions().mode() & 0o777 == perm
            && m.len() == e.data.len() as u64
            && std::fs::read(&p).is_ok_and(|d| d == e.data)
    };
    entries.iter().all(same) && count(dir) == Some(entries.len())
}

/// Removes the version directory `versions/<name>`: renamed out of the way first (one atomic
/// step), then deleted, so a crash half-way never leaves a partial `.versions/<commit>` that
/// a later publish of that commit would reuse. A leftover `.tmp-gc-*` is collected like an
/// unfinished write.
fn remove_version(versions: &Path, name: &str) -> Result<(), TreeError> {
    let path = versions.join(name);
    let doomed = versions.join(format!(".tmp-gc-{name}-{}", random_suffix()));
    std::fs::rename(&path, &doomed).map_err(|e| io_err(path.display(), e))?;
    std::fs::remove_dir_all(&doomed).map_err(|e| io_err(doomed.display(), e))
}

/// Removes `path` (a file, symlink or directory tree, never followed) if older than `min`.
fn remove_stale(path: &Path, meta: &std::fs::Metadata, min: Duration, now: SystemTime) -> bool {
    if age(meta, now) < min {
        return false;
    }
    let r = if meta.file_type().is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    r.is_ok()
}

impl Volume {
    fn check(&self) -> Result<(), TreeError> {
        if !is_name(&self.link) || self.link == VERSIONS || self.link == CURRENT_VERDICT {
            return Err(TreeError::Io(format!(
                "link name '{}' must be a single file name",
                self.link
            )));
        }
        Ok(())
    }

    fn versions(&self) -> PathBuf {
        self.root.join(VERSIONS)
    }

    /// Publishes a verified revision's files: see [`Volume::publish_tree`]. Only the verifying
    /// sync can make a [`Verified`], so nothing unverified reaches the volume.
    pub fn publish(
        &self,
        revision: &Verified<Vec<Entry>>,
        verdict_json: &[u8],
    ) -> Result<PathBuf, TreeError> {
        self.publish_tree(revision.commit(), revision.content(), verdict_json)
    }

    /// Publishes `entries` as `commit`: the tree under `.versions/<commit>` (written to a
    /// temporary directory then renamed; reused when that commit was published before and the
    /// directory still holds exactly this tree, else replaced), its verdict beside it, the link
    /// swapped to it atomically, then the current verdict. Returns the version directory.
    fn publish_tree(
        &self,
        commit: &str,
        entries: &[Entry],
        verdict_json: &[u8],
    ) -> Result<PathBuf, TreeError> {
        self.check()?;
        if !is_commit_id(commit) {
            return Err(TreeError::Io(format!("'{commit}' is not a commit id")));
        }
        let versions = self.versions();
        std::fs::create_dir_all(&versions).map_err(|e| io_err(versions.display(), e))?;
        let dir = versions.join(commit);
        let write = match std::fs::symlink_metadata(&dir) {
            // Reused only when it is exactly this tree: a version left partial by an
            // interrupted removal (or altered on the shared volume) is replaced.
            Ok(m) if m.file_type().is_dir() && tree_matches(&dir, entries) => false,
            Ok(m) if m.file_type().is_dir() => {
                remove_version(&versions, commit)?;
                true
            }
            Ok(_) => {
                return Err(TreeError::Io(format!(
                    "{} exists and is not a directory",
                    dir.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(io_err(dir.display(), e)),
        };
        if write {
            let tmp = versions.join(format!(".tmp-{commit}-{}", random_suffix()));
            if let Err(e) = write_tree(entries, &tmp) {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
            sync_filesystem(&tmp);
            if let Err(e) = std::fs::rename(&tmp, &dir) {
                let _ = std::fs::remove_dir_all(&tmp);
                // Lost a race with another writer of the same commit: theirs is complete.
                if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_dir()) {
                    return Err(io_err(dir.display(), e));
                }
            }
            sync_dir(&versions);
        }
        touch(&dir)?;
        write_public(
            &versions.join(format!("{commit}{VERDICT_SUFFIX}")),
            verdict_json,
        )?;

        let previous = self.current();
        let link = self.root.join(&self.link);
        let tmp_link = self
            .root
            .join(format!(".{}.tmp-{}", self.link, random_suffix()));
        let target = format!("{VERSIONS}/{commit}");
        std::os::unix::fs::symlink(&target, &tmp_link)
            .map_err(|e| io_err(tmp_link.display(), e))?;
        if let Err(e) = std::fs::rename(&tmp_link, &link) {
            let _ = std::fs::remove_file(&tmp_link);
            return Err(io_err(link.display(), e));
        }
        sync_dir(&self.root);
        // The old version's grace period starts now.
        if let Some(old) = previous.filter(|p| p != commit) {
            let _ = touch(&versions.join(old));
        }
        write_public(&self.root.join(CURRENT_VERDICT), verdict_json)?;
        Ok(dir)
    }

    /// The commit the link points at (the target's basename), if the link and its target exist.
    pub fn current(&self) -> Option<String> {
        let link = self.root.join(&self.link);
        let target = std::fs::read_link(&link).ok()?;
        if !std::fs::metadata(&link).ok()?.is_dir() {
            return None;
        }
        let name = target.file_name()?.to_str()?;
        is_commit_id(name).then(|| name.to_string())
    }

    /// Removes old versions (and their verdicts) that are neither current nor among the
    /// `keep_versions` most recent (the current one counts as the most recent), once older than
    /// `grace`; also unfinished `.tmp-*` directories older than the grace (and at least 10
    /// minutes) and orphaned verdicts. Returns how many directories were removed.
    pub fn gc(&self) -> Result<usize, TreeError> {
        self.check()?;
        let versions = self.versions();
        let read = match std::fs::read_dir(&versions) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io_err(versions.display(), e)),
        };
        let current = self.current();
        let now = SystemTime::now();
        let mut removed = 0;
        // Temporary links left in the root by an interrupted publish.
        let link_tmp = format!(".{}.tmp-", self.link);
        if let Ok(read) = std::fs::read_dir(&self.root) {
            for item in read.flatten() {
                if item
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&link_tmp))
                {
                    if let Ok(meta) = std::fs::symlink_metadata(item.path()) {
                        if meta.file_type().is_symlink() {
                            remove_stale(&item.path(), &meta, MIN_TMP_AGE, now);
                        }
                    }
                }
            }
        }
        let mut dirs: Vec<(String, std::fs::Metadata)> = Vec::new();
        let mut verdicts: Vec<(String, std::fs::Metadata)> = Vec::new();
        for item in read {
            let item = item.map_err(|e| io_err(versions.display(), e))?;
            let Some(name) = item.file_name().to_str().map(String::from) else {
                continue;
            };
            let Ok(meta) = std::fs::symlink_metadata(item.path()) else {
                continue;
            };
            if name.starts_with(".tmp-") && meta.file_type().is_dir() {
                if age(&meta, now) >= self.grace.max(MIN_TMP_AGE) {
                    std::fs::remove_dir_all(item.path())
                        .map_err(|e| io_err(item.path().display(), e))?;
                    removed += 1;
                }
            } else if name.starts_with(".sigil-") && meta.file_type().is_file() {
                // A verdict write interrupted before its rename.
                remove_stale(&item.path(), &meta, MIN_TMP_AGE, now);
            } else if is_commit_id(&name) && meta.file_type().is_dir() {
                dirs.push((name, meta));
            } else if let Some(c) = name.strip_suffix(VERDICT_SUFFIX) {
                if is_commit_id(c) && meta.file_type().is_file() {
                    verdicts.push((c.to_string(), meta));
                }
            }
        }
        // Most recent first, the current one ahead of all.
        dirs.sort_by(|a, b| {
            let ca = current.as_deref() == Some(a.0.as_str());
            let cb = current.as_deref() == Some(b.0.as_str());
            cb.cmp(&ca)
                .then_with(|| mtime(&b.1).cmp(&mtime(&a.1)))
                .then_with(|| b.0.cmp(&a.0))
        });
        let keep = self.keep_versions.max(1);
        let mut kept: Vec<&str> = Vec::new();
        for (i, (name, meta)) in dirs.iter().enumerate() {
            let is_current = current.as_deref() == Some(name.as_str());
            if is_current || i < keep || age(meta, now) < self.grace {
                kept.push(name);
                continue;
            }
            remove_version(&versions, name)?;
            removed += 1;
        }
        for (commit, meta) in &verdicts {
            if kept.contains(&commit.as_str()) || age(meta, now) < self.grace {
                continue;
            }
            let path = versions.join(format!("{commit}{VERDICT_SUFFIX}"));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(path.display(), e)),
            }
        }
        Ok(removed)
    }
}

/// Writes a verified revision's Flux artifact: see [`write_archive`].
pub fn write_artifact(
    dir: &Path,
    source: &str,
    archive: &Verified<Vec<u8>>,
) -> Result<(String, PathBuf), TreeError> {
    write_archive(dir, source, archive.content())
}

/// Writes a Flux artifact as `<dir>/<source>/<hex>.tar.gz` (hex = SHA-256 of the bytes, so the
/// same content gets the same name; an existing file of the same size is kept and touched),
/// then removes the source's other `*.tar.gz` files except the newest [`KEEP_ARTIFACTS`].
/// Returns `sha256:<hex>` and the path.
fn write_archive(dir: &Path, source: &str, targz: &[u8]) -> Result<(String, PathBuf), TreeError> {
    if !is_name(source) || source.starts_with('.') {
        return Err(TreeError::Io(format!(
            "source name '{source}' must be a single file name"
        )));
    }
    let hex = hex::encode(sha2::Sha256::digest(targz));
    let sdir = dir.join(source);
    std::fs::create_dir_all(&sdir).map_err(|e| io_err(sdir.display(), e))?;
    let name = format!("{hex}.tar.gz");
    let path = sdir.join(&name);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_file() && m.len() == targz.len() as u64 => touch(&path)?,
        _ => write_public(&path, targz)?,
    }

    let mut others: Vec<(SystemTime, String)> = Vec::new();
    for item in std::fs::read_dir(&sdir).map_err(|e| io_err(sdir.display(), e))? {
        let item = item.map_err(|e| io_err(sdir.display(), e))?;
        let Some(n) = item.file_name().to_str().map(String::from) else {
            continue;
        };
        if n == name || !n.ends_with(".tar.gz") {
            continue;
        }
        if let Ok(m) = std::fs::symlink_metadata(item.path()) {
            if m.file_type().is_file() {
                others.push((mtime(&m), n));
            }
        }
    }
    others.sort_by(|a, b| b.cmp(a));
    for (_, n) in others.iter().skip(KEEP_ARTIFACTS) {
        let p = sdir.join(n);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(p.display(), e)),
        }
    }
    Ok((format!("sha256:{hex}"), path))
}

/// The `status` of a Flux `ExternalArtifact` for an artifact just written: the artifact
/// (`path` is the URL's path without the leading `/`) and a `Ready=True` condition, times in
/// RFC 3339 (seconds).
pub fn flux_status(url: &str, digest: &str, revision: &str, size: u64) -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let now = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let path = url
        .split_once("://")
        .map(|(_, rest)| rest.split_once('/').map(|(_, p)| p).unwrap_or(""))
        .unwrap_or(url)
        .trim_start_matches('/');
    serde_json::json!({
        "artifact": {
            "path": path,
            "url": url,
            "digest": digest,
            "revision": revision,
            "size": size,
            "lastUpdateTime": now,
        },
        "conditions": [{
            "type": "Ready",
            "status": "True",
            "reason": "Succeeded",
            "message": format!("stored artifact for revision '{revision}'"),
            "lastTransitionTime": now,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::tree::{MODE_EXEC, MODE_FILE, MODE_SYMLINK};

    fn tree(n: u8) -> Vec<Entry> {
        vec![
            Entry {
                path: "app/deploy.yaml".into(),
                mode: MODE_FILE,
                data: vec![b'a' + n; 10],
            },
            Entry {
                path: "link".into(),
                mode: MODE_SYMLINK,
                data: b"app/deploy.yaml".to_vec(),
            },
            Entry {
                path: "run.sh".into(),
                mode: MODE_EXEC,
                data: b"#!/bin/sh\n".to_vec(),
            },
        ]
    }

    fn commit(n: u8) -> String {
        format!("{n:x}").repeat(40)
    }

    fn volume(root: &Path, keep: usize, grace: Duration) -> Volume {
        Volume {
            root: root.to_path_buf(),
            link: "repo".into(),
            keep_versions: keep,
            grace,
        }
    }

    fn set_old(p: &Path, secs_ago: u64) {
        let f = std::fs::File::open(p).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(secs_ago))
            .unwrap();
    }

    #[test]
    fn publish_swaps_the_link() {
        let t = tempfile::tempdir().unwrap();
        let v = volume(t.path(), 1, Duration::ZERO);
        assert_eq!(v.current(), None);
        for n in 1..=3u8 {
            let c = commit(n);
            let dir = v
                .publish_tree(&c, &tree(n), format!("{{\"n\":{n}}}").as_bytes())
                .unwrap();
            assert_eq!(dir, t.path().join(".versions").join(&c));
            let link = t.path().join("repo");
            assert_eq!(
                std::fs::read_link(&link).unwrap(),
                PathBuf::from(format!(".versions/{c}"))
            );
            // Readers through the link see the complete tree.
            assert_eq!(
                std::fs::read(link.join("app/deploy.yaml")).unwrap(),
                vec![b'a' + n; 10]
            );
            assert_eq!(
                std::fs::read(link.join("link")).unwrap(),
                vec![b'a' + n; 10]
            );
            assert_eq!(v.current(), Some(c.clone()));
            let verdict = std::fs::read(t.path().join(format!(".versions/{c}.sigil-verdict.json")));
            assert_eq!(verdict.unwrap(), format!("{{\"n\":{n}}}").as_bytes());
            assert_eq!(
                std::fs::read(t.path().join(".sigil-verdict.json")).unwrap(),
                format!("{{\"n\":{n}}}").as_bytes()
            );
        }
        // Nothing temporary left behind.
        let names: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");
        let names: Vec<String> = std::fs::read_dir(t.path().join(".versions"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with(".tmp-")), "{names:?}");

        // Republishing the same commit reuses its directory; going back to an old one works.
        let c3 = commit(3);
        assert_eq!(
            v.publish_tree(&c3, &tree(3), b"{}").unwrap(),
            t.path().join(".versions").join(&c3)
        );
        let c1 = commit(1);
        v.publish_tree(&c1, &tree(1), b"{}").unwrap();
        assert_eq!(v.current(), Some(c1));

        // Invalid names.
        assert!(v.publish_tree("HEAD", &tree(1), b"{}").is_err());
        assert!(
            volume(t.path(), 1, Duration::ZERO)
                .publish_tree(&commit(1), &tree(1), b"{}")
                .is_ok()
        );
        let mut bad = volume(t.path(), 1, Duration::ZERO);
        bad.link = "../x".into();
        assert!(bad.publish_tree(&commit(1), &tree(1), b"{}").is_err());
        // An unsafe tree is refused and leaves nothing behind.
        let evil = vec![Entry {
            path: "x".into(),
            mode: MODE_SYMLINK,
            data: b"../../etc".to_vec(),
        }];
        assert!(v.publish_tree(&commit(9), &evil, b"{}").is_err());
        assert!(!t.path().join(".versions").join(commit(9)).exists());
        assert_eq!(v.current(), Some(commit(1)));
    }

    #[test]
    fn current_needs_an_existing_target() {
        let t = tempfile::tempdir().unwrap();
        let v = volume(t.path(), 1, Duration::ZERO);
        std::os::unix::fs::symlink(format!(".versions/{}", commit(1)), t.path().join("repo"))
            .unwrap();
        assert_eq!(v.current(), None);
        v.publish_tree(&commit(1), &tree(1), b"{}").unwrap();
        assert_eq!(v.current(), Some(commit(1)));
    }

    #[test]
    fn gc_keeps_current_and_recent() {
        let t = tempfile::tempdir().unwrap();
        let v = volume(t.path(), 1, Duration::ZERO);
        for n in 1..=4u8 {
            v.publish_tree(&commit(n), &tree(n), b"{}").unwrap();
        }
        let versions = t.path().join(".versions");
        // A grace period protects recently replaced versions.
        let patient = volume(t.path(), 1, Duration::from_secs(3600));
        assert_eq!(patient.gc().unwrap(), 0);
        // Keeping 2: the current one and the one it replaced.
        let two = volume(t.path(), 2, Duration::ZERO);
        assert_eq!(two.gc().unwrap(), 2);
        assert!(versions.join(commit(3)).is_dir());
        assert!(!versions.join(commit(1)).exists());
        assert!(
            !versions
                .join(format!("{}.sigil-verdict.json", commit(1)))
                .exists()
        );
        // A stale temporary directory goes too, a fresh one stays.
        let stale = versions.join(format!(".tmp-{}-0", commit(7)));
        let fresh = versions.join(format!(".tmp-{}-1", commit(8)));
        std::fs::create_dir_all(stale.join("x")).unwrap();
        std::fs::create_dir_all(&fresh).unwrap();
        set_old(&stale, 7200);
        let fresh_link = t.path().join(".repo.tmp-0");
        std::os::unix::fs::symlink("nowhere", &fresh_link).unwrap();
        // A fresh temporary link survives (only links older than 10 minutes go).
        assert_eq!(v.gc().unwrap(), 2);
        assert!(!stale.exists() && fresh.exists());
        assert!(std::fs::symlink_metadata(&fresh_link).is_ok());
        assert!(!versions.join(commit(3)).exists());
        assert!(
            !versions
                .join(format!("{}.sigil-verdict.json", commit(3)))
                .exists()
        );
        // Never the current one, even when it is the oldest.
        set_old(&versions.join(commit(4)), 10_000);
        assert_eq!(v.gc().unwrap(), 0);
        assert_eq!(v.current(), Some(commit(4)));
        assert!(t.path().join("repo/app/deploy.yaml").is_file());
        assert!(
            versions
                .join(format!("{}.sigil-verdict.json", commit(4)))
                .is_file()
        );
    }

    #[test]
    fn artifacts_are_content_named_and_pruned() {
        let t = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for n in 0..5u8 {
            let data = vec![n; 100 + n as usize];
            let (digest, path) = write_archive(t.path(), "apps", &data).unwrap();
            let hex = hex::encode(sha2::Sha256::digest(&data));
            assert_eq!(digest, format!("sha256:{hex}"));
            assert_eq!(path, t.path().join("apps").join(format!("{hex}.tar.gz")));
            assert_eq!(std::fs::read(&path).unwrap(), data);
            // Same content, same name.
            assert_eq!(write_archive(t.path(), "apps", &data).unwrap().1, path);
            set_old(&path, 1000 - n as u64 * 10);
            paths.push(path);
        }
        // The newest one written plus the two newest others remain.
        let (_, last) = write_archive(t.path(), "apps", &[4u8; 104]).unwrap();
        assert_eq!(last, paths[4]);
        let left: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
        assert_eq!(left, vec![false, false, true, true, true]);
        // Other sources are untouched; bad source names refused.
        write_archive(t.path(), "other", b"x").unwrap();
        assert!(paths[4].exists());
        for bad in ["", "..", "a/b", ".hidden"] {
            assert!(write_archive(t.path(), bad, b"x").is_err(), "{bad}");
        }
    }

    #[test]
    fn flux_status_document() {
        let s = flux_status(
            "http://gate.flux-system.svc/artifacts/apps/abc.tar.gz",
            "sha256:abc",
            "main@sha1:0123",
            42,
        );
        let a = &s["artifact"];
        assert_eq!(
            a["url"],
            "http://gate.flux-system.svc/artifacts/apps/abc.tar.gz"
        );
        assert_eq!(a["path"], "artifacts/apps/abc.tar.gz");
        assert_eq!(a["digest"], "sha256:abc");
        assert_eq!(a["revision"], "main@sha1:0123");
        assert_eq!(a["size"], 42);
        let when = a["lastUpdateTime"].as_str().unwrap();
        time::OffsetDateTime::parse(when, &time::format_description::well_known::Rfc3339).unwrap();
        assert!(when.ends_with('Z') && !when.contains('.'), "{when}");
        let c = &s["conditions"][0];
        assert_eq!(c["type"], "Ready");
        assert_eq!(c["status"], "True");
        assert_eq!(c["reason"], "Succeeded");
        assert_eq!(c["lastTransitionTime"], when);
        assert!(c["message"].as_str().unwrap().contains("main@sha1:0123"));
    }
}
