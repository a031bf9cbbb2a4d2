//! Reading inputs and writing outputs (files atomically, see `crate::atomic`), with sops's errors.

use std::io::{Read, Write};
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

pub use crate::atomic::{Mode, write_new};

/// Writes `data` to `path` atomically (see [`crate::atomic`]), as a sops-style error.
pub fn write_atomic(path: &Path, data: &[u8], mode: Mode) -> Result<(), Error> {
    crate::atomic::write(path, data, mode).map_err(|e| Error::Write(e.to_string()))
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
