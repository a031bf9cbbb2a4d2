//! The private quarantine repository of a source: a bare repository under the state directory
//! that receives fetches and that no consumer ever sees. git runs with a private environment
//! (no system or global config, no prompts, no replace objects) and a time limit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::config::Credentials;

/// Why fetching failed (operational: the gate retries and keeps the last good revision).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// git failed or timed out.
    #[error("{0}")]
    Git(String),
    /// The ref does not exist upstream (or no tag matches).
    #[error("{0}")]
    NoSuchRef(String),
}

/// A quarantine repository.
pub struct Quarantine {
    /// The bare repository.
    pub dir: PathBuf,
    home: PathBuf,
}

/// Runs `cmd` with a deadline; returns stdout, or the first stderr line on failure.
pub fn run_with_timeout(
    mut cmd: Command,
    timeout: Duration,
    what: &str,
) -> Result<Vec<u8>, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: cannot run git: {e}"))?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 << 10).read_to_end(&mut buf);
        }
        buf
    });
    // Wait on a thread (no polling interval added to every git call); kill on the deadline.
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let r = child.wait();
        let _ = tx.send(());
        r
    });
    let status = match rx.recv_timeout(timeout) {
        Ok(()) => waiter.join().map_err(|_| format!("{what}: wait failed"))?,
        Err(_) => {
            // SAFETY: signalling our own child, which has not been reaped yet (the waiter
            // thread is still blocked in wait()).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            let _ = waiter.join();
            return Err(format!("{what}: timed out after {}s", timeout.as_secs()));
        }
    }
    .map_err(|e| format!("{what}: {e}"))?;
    let out = out_thread.join().unwrap_or_default();
    let err = err_thread.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        let text = String::from_utf8_lossy(&err);
        let line = text
            .lines()
            .rev()
            .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
            .or_else(|| text.lines().last())
            .unwrap_or("git failed");
        Err(format!("{what}: {}", crate::redact::text(line)))
    }
}

impl Quarantine {
    /// Opens (creating if needed) the quarantine repository of `name` under `state_dir`.
    pub fn open(state_dir: &Path, name: &str) -> Result<Quarantine, String> {
        let dir = state_dir.join("quarantine").join(format!("{name}.git"));
        let home = state_dir.join("home");
        std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
        let q = Quarantine { dir, home };
        if !q.dir.join("HEAD").is_file() {
            std::fs::create_dir_all(&q.dir).map_err(|e| format!("{}: {e}", q.dir.display()))?;
            let mut c = q.git();
            c.args(["init", "--bare", "-q"]);
            run_with_timeout(c, Duration::from_secs(30), "git init")?;
        }
        Ok(q)
    }

    /// git in the quarantine with a private, fixed environment.
    pub fn git(&self) -> Command {
        let mut c = Command::new("git");
        c.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", &self.home)
            .env("GIT_DIR", &self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_NO_REPLACE_OBJECTS", "1")
            .env("GIT_ASKPASS", "/bin/false")
            .env("SSH_ASKPASS", "/bin/false")
            .current_dir(&self.dir);
        c
    }

    /// Removes the `*.lock` files a git killed mid-fetch leaves behind (a gate killed by
    /// SIGKILL or OOM takes its git with it); git never removes them itself, so every later
    /// fetch would fail with "cannot lock ref". Only the gate's own sync of this source runs
    /// git in the quarantine, one at a time, and it has waited for the previous git: any lock
    /// here is stale.
    fn remove_stale_locks(&self) {
        fn walk(dir: &Path, depth: usize) {
            let Ok(read) = std::fs::read_dir(dir) else {
                return;
            };
            for item in read.flatten() {
                let Ok(kind) = item.file_type() else {
                    continue;
                };
                let p = item.path();
                if kind.is_dir() && depth < 16 {
                    walk(&p, depth + 1);
                } else if kind.is_file()
                    && item
                        .file_name()
                        .to_str()
                        .is_some_and(|n| n.ends_with(".lock"))
                {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
        walk(&self.dir.join("refs"), 0);
        for name in [
            "packed-refs.lock",
            "HEAD.lock",
            "shallow.lock",
            "config.lock",
            "index.lock",
        ] {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
    }

    /// Fetches `refname` from `url` and resolves it **once** to a commit id. A tag glob
    /// (`refs/tags/v*`) selects the highest matching tag by version order.
    pub fn fetch(
        &self,
        url: &str,
        refname: &str,
        creds: &Credentials,
        timeout: Duration,
    ) -> Result<(String, String), FetchError> {
        let is_glob = refname.contains(['*', '?', '[']);
        let refspec = if refname.starts_with("refs/tags/") {
            "+refs/tags/*:refs/tags/*".to_string()
        } else {
            format!("+{refname}:{refname}")
        };
        let mut c = self.git();
        c.args([
            "-c",
            "protocol.file.allow=always",
            "-c",
            "fetch.fsckObjects=true",
            "-c",
            "transfer.fsckObjects=true",
        ]);
        if let Some(token) = &creds.token_file {
            let t = super::config::read_bearer_token(token)
                .map_err(|e| FetchError::Git(format!("token file: {e}")))?;
            c.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env(
                    "GIT_CONFIG_VALUE_0",
                    format!("Authorization: Bearer {}", t.as_str()),
                );
        }
        if let Some(key) = &creds.ssh_key_file {
            let kh = creds
                .known_hosts_file
                .as_deref()
                .unwrap_or(Path::new("/dev/null"));
            c.env(
                "GIT_SSH_COMMAND",
                format!(
                    "ssh -i '{}' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile='{}'",
                    key.display(),
                    kh.display()
                ),
            );
        }
        self.remove_stale_locks();
        // git's git:// client stalls ~40 ms per request under protocol v2 (small writes meet
        // delayed ACKs); v0 advertises the refs in one round trip.
        if url.starts_with("git://") {
            c.args(["-c", "protocol.version=0"]);
        }
        c.args([
            "fetch",
            "--no-write-fetch-head",
            "--prune",
            "--quiet",
            "--",
            url,
            &refspec,
        ]);
        // git may name the source by its bare path (file:// and local sources), which only
        // the configured URL tells apart from a path.
        run_with_timeout(c, timeout, "git fetch")
            .map_err(|e| FetchError::Git(crate::redact::scrub(&e, url)))?;
        let chosen = if is_glob {
            let pattern = glob::Pattern::new(refname)
                .map_err(|e| FetchError::NoSuchRef(format!("{refname}: {e}")))?;
            let mut c = self.git();
            c.args([
                "for-each-ref",
                "--sort=-v:refname",
                "--format=%(refname)",
                "refs/tags/",
            ]);
            let out = run_with_timeout(c, Duration::from_secs(30), "git for-each-ref")
                .map_err(FetchError::Git)?;
            String::from_utf8_lossy(&out)
                .lines()
                .find(|r| pattern.matches(r))
                .map(str::to_string)
                .ok_or_else(|| {
                    FetchError::NoSuchRef(format!("no tag upstream matches {refname}"))
                })?
        } else {
            refname.to_string()
        };
        let mut c = self.git();
        c.args([
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            &format!("{chosen}^{{commit}}"),
        ]);
        let out = run_with_timeout(c, Duration::from_secs(30), "git rev-parse")
            .map_err(|_| FetchError::NoSuchRef(format!("{chosen} does not name a commit")))?;
        let id = String::from_utf8_lossy(&out).trim().to_string();
        if id.len() < 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FetchError::NoSuchRef(format!(
                "{chosen} resolved to {id:?}"
            )));
        }
        Ok((chosen, id))
    }
}
