//! Writing a checked tree out: as plain files under a new directory (never through a symlink or
//! over an existing file), or as a deterministic tar.gz.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::checks::check_entries;
use super::{Entry, MODE_EXEC, MODE_PRIVATE, MODE_SYMLINK, TreeError};

fn io_err(what: impl std::fmt::Display, e: std::io::Error) -> TreeError {
    TreeError::Io(format!("{what}: {e}"))
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
    use super::super::fixtures::*;
    use super::super::{MAX_ENTRIES, MODE_FILE, read_tree};
    use super::*;
    use std::io::Read;
    use std::process::Command;

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
