//! Helpers for the gate's tests: git, signed commits, SSH keys, free ports, raw HTTP, HMAC.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::Scratch;

/// Runs git in `dir`, asserts success, returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_with(dir, &[], args)
}

/// [`git`] with extra environment variables (`GNUPGHOME` for signing).
pub fn git_with(dir: &Path, env: &[(&str, &Path)], args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A new repository `<scratch>/<name>` on branch `main`, committing as Alice
/// (alice@example.com, no automatic signing), with the `extra` git config too.
pub fn alice_repo(s: &Scratch, name: &str, extra: &[(&str, &str)]) -> PathBuf {
    let repo = s.path(name);
    git(
        s.dir.path(),
        &["init", "-q", "-b", "main", repo.to_str().unwrap()],
    );
    let base = [
        ("user.name", "Alice"),
        ("user.email", "alice@example.com"),
        ("commit.gpgsign", "false"),
    ];
    for (k, v) in base.iter().chain(extra) {
        git(&repo, &["config", k, v]);
    }
    repo
}

/// A temporary directory in memory (/dev/shm, else /tmp): where the gate may write
/// decrypted secrets.
pub fn memory_dir() -> tempfile::TempDir {
    let base = if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    tempfile::tempdir_in(base).unwrap()
}

/// Commits everything in `repo` (empty commits allowed), SSH-signed with `key` if given;
/// returns the commit id.
pub fn commit_all(repo: &Path, key: Option<&Path>, msg: &str) -> String {
    git(repo, &["add", "-A"]);
    let mut args = vec!["-c".to_string(), "gpg.format=ssh".to_string()];
    if let Some(k) = key {
        args.push("-c".into());
        args.push(format!("user.signingkey={}", k.display()));
    }
    args.extend(["commit", "-q", "--allow-empty", "-m", msg].map(String::from));
    if key.is_some() {
        args.push("-S".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    git(repo, &args);
    git(repo, &["rev-parse", "HEAD"])
}

/// An ed25519 SSH key without passphrase made by ssh-keygen in the scratch dir.
pub fn ssh_key(s: &Scratch, name: &str) -> PathBuf {
    let key = s.path(name);
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    key
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One raw HTTP/1.1 request on a fresh connection; (status, body), status 0 if nothing listens.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, Vec::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let code = String::from_utf8_lossy(&resp)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let at = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(resp.len(), |i| i + 4);
    (code, resp[at..].to_vec())
}

/// Lowercase hex HMAC-SHA256 (webhook and notification signatures).
pub fn hmac_hex(secret: &[u8], body: &[u8]) -> String {
    use hmac::Mac;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// Polls `f` until it holds, failing after 30 s.
pub fn wait_for(what: &str, f: impl FnMut() -> bool) {
    wait_for_within(what, Duration::from_secs(30), f);
}

/// Polls `f` until it holds, failing after `limit`.
pub fn wait_for_within(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
