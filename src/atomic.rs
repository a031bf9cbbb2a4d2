//! Writing files atomically (a temporary file in the same directory, fsync, rename), for every
//! part of sigil: plaintext created 0600, nothing left behind on failure.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// How a new output file is created.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Plaintext: created 0600 (an existing file's mode is tightened to 0600 too).
    Secret,
    /// Ciphertext: an existing file keeps its mode; a new one gets 0644.
    Public,
}

/// Writes `data` to `path` atomically. The error names the path.
pub fn write(path: &Path, data: &[u8], mode: Mode) -> std::io::Result<()> {
    let existing = std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777);
    let perm = match (mode, existing) {
        (Mode::Secret, _) => 0o600,
        (Mode::Public, Some(m)) => m,
        (Mode::Public, None) => 0o644,
    };
    write_via_temp(path, data, perm, true)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

/// Like [`write`] with mode `perm`, but never replaces an existing file (the final rename
/// fails with `AlreadyExists` if `path` appeared meanwhile).
pub fn write_new(path: &Path, data: &[u8], perm: u32) -> std::io::Result<()> {
    write_via_temp(path, data, perm, false)
}

fn write_via_temp(path: &Path, data: &[u8], perm: u32, replace: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".sigil-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(&dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(perm))?;
    if replace {
        tmp.persist(path).map_err(|e| e.error)?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| e.error)?;
    }
    Ok(())
}
