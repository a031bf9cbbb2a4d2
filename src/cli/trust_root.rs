//! `sigil trust-root update|show`: the Sigstore trust root `verify blob` uses when given none.
//! An update walks TUF from the pinned Sigstore TUF root and writes the verified
//! `trusted_root.json` atomically; until one succeeds, the public-good root pinned in the
//! binary applies. Exit 0 updated, 1 the repository's metadata was refused, 2 usage, 3
//! operational.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::args::TrustRootCommand;
use crate::image::public_good;
use crate::image::tuf::{self, Source, TufError};

/// Where `trust-root update` writes and `verify blob` looks: `$XDG_DATA_HOME/sigil/
/// trusted_root.json`, else `~/.local/share/sigil/trusted_root.json`.
pub fn default_path() -> Option<PathBuf> {
    crate::user_dirs::path("XDG_DATA_HOME", ".local/share", "sigil/trusted_root.json")
}

/// The TUF datastore for a repository: `$XDG_CACHE_HOME/sigil/tuf/<host>`, else
/// `~/.cache/sigil/tuf/<host>`.
fn default_datastore(url: &str) -> Option<PathBuf> {
    let host: String = url::Url::parse(url)
        .ok()?
        .host_str()?
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    crate::user_dirs::path("XDG_CACHE_HOME", ".cache", &format!("sigil/tuf/{host}"))
}

/// Runs the command; returns the exit code.
pub fn run(cmd: &TrustRootCommand) -> i32 {
    match cmd {
        TrustRootCommand::Show => {
            match default_path().filter(|p| p.exists()) {
                Some(p) => println!("{} (from `sigil trust-root update`)", p.display()),
                None => println!("{}", public_good::NAME),
            }
            0
        }
        TrustRootCommand::Update {
            tuf_url,
            tuf_root,
            out,
            datastore,
            timeout,
        } => match update(
            tuf_url,
            tuf_root.as_deref(),
            out.as_deref(),
            datastore.as_deref(),
            *timeout,
        ) {
            Ok(()) => 0,
            Err((code, msg)) => {
                eprintln!("sigil: error: {msg}");
                code
            }
        },
    }
}

fn update(
    url: &str,
    tuf_root: Option<&Path>,
    out: Option<&Path>,
    datastore: Option<&Path>,
    timeout: u64,
) -> Result<(), (i32, String)> {
    let root = match tuf_root {
        Some(p) => {
            std::fs::read(p).map_err(|e| (2, format!("cannot read {}: {e}", p.display())))?
        }
        None => tuf::SIGSTORE_TUF_ROOT.to_vec(),
    };
    let out = out
        .map(Path::to_path_buf)
        .or_else(default_path)
        .ok_or((2, "no --out and no HOME or XDG_DATA_HOME".to_string()))?;
    let datastore = datastore
        .map(Path::to_path_buf)
        .or_else(|| default_datastore(url))
        .ok_or((
            2,
            "no --datastore and no HOME or XDG_CACHE_HOME".to_string(),
        ))?;
    let fetched = tuf::fetch_trusted_root(&Source {
        url,
        root: &root,
        datastore: &datastore,
        timeout: Duration::from_secs(timeout),
    })
    .map_err(|e| match e {
        TufError::Refused(_) | TufError::BadTarget(_) => (1, e.to_string()),
        TufError::Local(_) => (3, e.to_string()),
    })?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| (3, format!("cannot create {}: {e}", dir.display())))?;
    }
    crate::atomic::write(&out, &fetched.json, crate::atomic::Mode::Public)
        .map_err(|e| (3, e.to_string()))?;
    let [r, t, s, g] = fetched.versions;
    let root = &fetched.root;
    eprintln!(
        "Wrote {} (root v{r}, timestamp v{t}, snapshot v{s}, targets v{g}): {} Rekor, {} CT, {} CA, {} TSA",
        out.display(),
        root.tlogs.len(),
        root.ctlogs.len(),
        root.certificate_authorities.len(),
        root.timestamp_authorities.len()
    );
    Ok(())
}
