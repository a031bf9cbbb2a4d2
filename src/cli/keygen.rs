//! `sigil keygen --cosign`: a cosign-compatible key pair, as `cosign generate-key-pair` writes
//! it (`PREFIX.key`, encrypted ECDSA P-256, mode 0600; `PREFIX.pub`, PEM public key, 0644).

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::image::cosign_key::SigningKey;
use crate::sops::keys::prompt::ask_passphrase;

/// Environment variable holding the private key password (may be empty), as for cosign.
pub const PASSWORD_ENV: &str = "COSIGN_PASSWORD";

/// A failure with its exit code: 2 usage (existing files, no or mismatched password),
/// 3 operational (writing failed).
struct Failure(i32, String);

/// Generates the key pair with the file name prefix `prefix` (default `cosign`) and returns
/// the exit code, having printed any error.
pub fn cosign(prefix: Option<&Path>) -> i32 {
    match run(prefix.unwrap_or(Path::new("cosign"))) {
        Ok(()) => 0,
        Err(Failure(code, msg)) => {
            eprintln!("sigil: error: {msg}");
            code
        }
    }
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn run(prefix: &Path) -> Result<(), Failure> {
    let key_path = with_suffix(prefix, ".key");
    let pub_path = with_suffix(prefix, ".pub");
    for p in [&key_path, &pub_path] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(Failure(
                2,
                format!("{} already exists; refusing to overwrite it", p.display()),
            ));
        }
    }
    let password = password()?;
    let key = SigningKey::generate_p256();
    let private_pem = key
        .encrypt(&password)
        .map_err(|e| Failure(3, e.to_string()))?;
    let public_pem = key.public_key().to_pem();
    write_new(&key_path, private_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&pub_path, public_pem.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(&key_path);
        return Err(e);
    }
    eprintln!("Private key written to {}", key_path.display());
    eprintln!("Public key written to {}", pub_path.display());
    Ok(())
}

/// The password: `COSIGN_PASSWORD` if set (even empty), else asked twice on the terminal.
fn password() -> Result<Zeroizing<Vec<u8>>, Failure> {
    if let Some(v) = std::env::var_os(PASSWORD_ENV) {
        return Ok(Zeroizing::new(v.into_vec()));
    }
    let no_tty = || {
        Failure(
            2,
            format!("no password: set {PASSWORD_ENV} (it may be empty) or run on a terminal"),
        )
    };
    let first = ask_passphrase("Enter password for private key").ok_or_else(no_tty)?;
    let second = ask_passphrase("Enter password for private key again").ok_or_else(no_tty)?;
    if first.expose_secret() != second.expose_secret() {
        return Err(Failure(2, "passwords do not match".into()));
    }
    Ok(Zeroizing::new(first.expose_secret().as_bytes().to_vec()))
}

/// Writes a new file atomically (temporary file in the same directory, fsync, then a rename
/// that fails if `path` appeared in the meantime), with mode `perm`.
fn write_new(path: &Path, data: &[u8], perm: u32) -> Result<(), Failure> {
    super::io::write_new(path, data, perm).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure(
                2,
                format!(
                    "{} already exists; refusing to overwrite it",
                    path.display()
                ),
            )
        } else {
            Failure(3, format!("cannot write {}: {e}", path.display()))
        }
    })
}
