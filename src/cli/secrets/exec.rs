//! `sigil exec-env` and `sigil exec-file`: a command run with the decrypted values as its
//! environment, or with the decrypted file behind a FIFO (or a private temporary file).

use std::path::Path;

use zeroize::Zeroizing;

use super::{load_config, open, secure_tempdir, target};
use crate::cli::args::ReadOpts;
use crate::cli::io::{Mode, write_atomic};
use crate::sops::Error;
use crate::sops::format::emit_plain;
use crate::sops::tree::{Entry, Value};

/// Text of a scalar for environment variables and dotenv (sops's `ValToString`).
fn val_to_string(v: &Value) -> Option<Zeroizing<String>> {
    Some(Zeroizing::new(match v {
        Value::Str(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => crate::sops::tree::go_format_float(*f),
        Value::Time(t) => t.to_string(),
        Value::Null => String::new(),
        _ => return None,
    }))
}

/// `sigil exec-env`.
pub fn exec_env(
    config_path: Option<&Path>,
    file: &Path,
    command: &str,
    pristine: bool,
    read: &ReadOpts,
) -> Result<i32, Error> {
    let config = load_config(config_path).ok().flatten();
    let t = target(Some(file), read, config.as_ref(), false)?;
    let (docs, _, _) = open(Some(file), &t, read, false, false)?;
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c").arg(command);
    if pristine {
        cmd.env_clear();
    }
    for e in docs.iter().flatten() {
        if let Entry::Pair(k, v) = e {
            let s = val_to_string(v).ok_or_else(|| {
                Error::Generic(format!(
                    "cannot use the map or list '{}' as an environment variable",
                    k.as_str()
                ))
            })?;
            cmd.env(k.as_str(), s.as_str());
        }
    }
    let status = cmd
        .status()
        .map_err(|e| Error::Generic(format!("cannot run /bin/sh: {e}")))?;
    Ok(status.code().unwrap_or(1))
}

/// `sigil exec-file`.
pub fn exec_file(
    config_path: Option<&Path>,
    file: &Path,
    command: &str,
    no_fifo: bool,
    filename: Option<&str>,
    read: &ReadOpts,
) -> Result<i32, Error> {
    let config = load_config(config_path).ok().flatten();
    let t = target(Some(file), read, config.as_ref(), false)?;
    let (docs, _, _) = open(Some(file), &t, read, false, false)?;
    let plain = Zeroizing::new(emit_plain(t.output, &docs, &t.layout)?);
    let dir = secure_tempdir()?;
    let path = dir.path().join(filename.unwrap_or("tmp-file"));
    let cmdline = command.replace("{}", &path.to_string_lossy());
    if no_fifo {
        write_atomic(&path, &plain, Mode::Secret)?;
        let status = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&cmdline)
            .status()
            .map_err(|e| Error::Generic(format!("cannot run /bin/sh: {e}")))?;
        let _ = std::fs::remove_file(&path);
        return Ok(status.code().unwrap_or(1));
    }
    let cpath = std::ffi::CString::new(path.to_string_lossy().as_bytes())
        .map_err(|_| Error::Write("bad path".into()))?;
    // SAFETY: mkfifo with a valid NUL-terminated path.
    if unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) } != 0 {
        return Err(Error::Write(format!(
            "cannot create a FIFO: {}",
            std::io::Error::last_os_error()
        )));
    }
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmdline)
        .spawn()
        .map_err(|e| Error::Generic(format!("cannot run /bin/sh: {e}")))?;
    let fifo = path.clone();
    let data = plain.clone();
    // The writer blocks until the command opens the FIFO; it is abandoned if it never does.
    std::thread::spawn(move || {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
            let _ = std::io::Write::write_all(&mut f, &data);
        }
    });
    let status = child.wait().map_err(|e| Error::Generic(e.to_string()))?;
    let _ = std::fs::remove_file(&path);
    Ok(status.code().unwrap_or(1))
}
