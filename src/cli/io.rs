//! Reading inputs and writing outputs atomically (temp file in the same directory + rename).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::sops::Error;

/// Largest input read (sops files are loaded in memory).
const MAX_INPUT: u64 = 1 << 30;

/// Reads a file, or stdin for `None`.
pub fn read_input(path: Option<&Path>) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut buf = Zeroizing::new(Vec::new());
    match path {
        Some(p) => {
            let f = std::fs::File::open(p).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Error::NoFile(format!("{}: no such file", p.display()))
                } else {
                    Error::Read(format!("cannot read {}: {e}", p.display()))
                }
            })?;
            if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                return Err(Error::Read(format!("{} is a directory", p.display())));
            }
            let size = f.metadata().map(|m| m.len()).unwrap_or(0).min(MAX_INPUT);
            buf.reserve_exact(size as usize + 1);
            f.take(MAX_INPUT)
                .read_to_end(&mut buf)
                .map_err(|e| Error::Read(format!("cannot read {}: {e}", p.display())))?;
        }
        None => {
            std::io::stdin()
                .take(MAX_INPUT)
                .read_to_end(&mut buf)
                .map_err(|e| Error::Read(format!("cannot read stdin: {e}")))?;
        }
    }
    Ok(buf)
}

/// How a new output file is created.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plaintext: created 0600 (an existing file's mode is tightened to 0600 too).
    Secret,
    /// Ciphertext: an existing file keeps its mode; a new one gets 0644 less the umask default.
    Public,
}

/// Writes `data` to `path` atomically: a temporary file in the same directory, fsync, rename.
/// Nothing is left behind on failure.
pub fn write_atomic(path: &Path, data: &[u8], mode: Mode) -> Result<(), Error> {
    let existing = std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777);
    let perm = match (mode, existing) {
        (Mode::Secret, _) => 0o600,
        (Mode::Public, Some(m)) => m,
        (Mode::Public, None) => 0o644,
    };
    write_via_temp(path, data, perm, true)
        .map_err(|e| Error::Write(format!("cannot write {}: {e}", path.display())))
}

/// Like [`write_atomic`] with mode `perm`, but never replaces an existing file (the final
/// rename fails with `AlreadyExists` if `path` appeared meanwhile).
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

/// Writes to stdout, or atomically to a file.
pub fn emit(output: Option<&Path>, data: &[u8], mode: Mode) -> Result<(), Error> {
    match output {
        Some(p) => write_atomic(p, data, mode),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(data)
                .and_then(|_| out.flush())
                .map_err(|e| Error::Write(format!("cannot write to stdout: {e}")))
        }
    }
}
