//! The private quarantine repository of a source: a bare repository under the state directory
//! that receives fetches and that no consumer ever sees. git runs with a private environment
//! (no system or global config, no prompts, no replace objects) and a time limit.

use std::path::{Path, PathBuf};
use std::process::Command;
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

/// Runs `cmd` with a deadline (git and every helper it starts, `git-remote-https` or `ssh`,
/// run in one process group, killed together on the deadline and always reaped); returns
/// stdout, or the first error line of stderr on failure.
pub fn run_with_timeout(cmd: Command, timeout: Duration, what: &str) -> Result<Vec<u8>, String> {
    let limits = crate::process::Limits {
        timeout,
        max_stdout: 64 << 20,
        max_stderr: 64 << 10,
    };
    let out = match crate::process::run(cmd, None, limits, what) {
        Ok(o) => o,
        Err(crate::process::RunError::Timeout(..)) => {
            return Err(format!("{what}: timed out after {}s", timeout.as_secs()));
        }
        Err(e) => return Err(crate::redact::text(&e.to_string())),
    };
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let text = String::from_utf8_lossy(&out.stderr);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Zombie children of this process (exited, never reaped).
    fn zombies() -> usize {
        let me = std::process::id().to_string();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
            .filter(|stat| {
                // pid (comm) state ppid ...
                let rest = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
                let mut f = rest.split(' ');
                f.next() == Some("Z") && f.next() == Some(me.as_str())
            })
            .count()
    }

    #[test]
    fn a_hung_remote_helper_is_gone_after_the_deadline() {
        let t = tempfile::tempdir().unwrap();
        let pidfile = t.path().join("helper.pid");
        // git runs the ext:: transport's command as its remote helper; this one hangs.
        let mut c = Command::new("git");
        c.args(["-c", "protocol.ext.allow=always", "ls-remote"])
            .arg(format!(
                "ext::sh -c echo% $$% >% {}% ;% exec% sleep% 300",
                pidfile.display()
            ));
        let started = std::time::Instant::now();
        let e = run_with_timeout(c, Duration::from_secs(1), "git ls-remote").unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z "),
            "the helper {pid} outlived the deadline: {state}"
        );
    }

    #[test]
    fn failed_fetches_leave_no_zombies() {
        let t = tempfile::tempdir().unwrap();
        let before = zombies();
        for _ in 0..1000 {
            let mut c = Command::new("git");
            c.args(["ls-remote", "--"])
                .arg(t.path().join("missing.git"));
            assert!(run_with_timeout(c, Duration::from_secs(30), "git ls-remote").is_err());
        }
        assert!(zombies() <= before, "{} zombies", zombies());
    }
}
