//! Shared helpers for the integration tests: the sigil binary, the real sops, keys made at
//! test time, and the shared vectors folder.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod gate;
pub mod moto;
pub mod openssl;
pub mod registry;
pub mod sigstore_pki;

/// The sigil binary under test.
pub fn sigil() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sigil"));
    clean_env(&mut c);
    c
}

/// The real sops 3.11 (`$SOPS_BIN`, set by scripts/test.sh; else `sops` on PATH).
pub fn sops() -> Command {
    let mut c = Command::new(sops_bin());
    clean_env(&mut c);
    c.env("SOPS_DISABLE_VERSION_CHECK", "1");
    c
}

/// The program `sops()` runs.
pub fn sops_bin() -> String {
    std::env::var("SOPS_BIN").unwrap_or_else(|_| "sops".into())
}

/// Removes the variables that choose keys or configuration, so only what a test sets counts.
pub fn clean_env(c: &mut Command) {
    for v in [
        "SOPS_AGE_KEY",
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY_CMD",
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        "SOPS_AGE_RECIPIENTS",
        "SOPS_PGP_FP",
        "SOPS_CONFIG",
        "SIGIL_PGP_KEY_FILES",
        "SOPS_DECRYPTION_ORDER",
    ] {
        c.env_remove(v);
    }
}

/// Runs and returns the output.
pub fn run(mut c: Command) -> Output {
    c.output().expect("command runs")
}

/// Runs, asserts success, returns stdout.
pub fn ok(c: Command) -> Vec<u8> {
    let dbg = format!("{c:?}");
    let out = run(c);
    assert!(
        out.status.success(),
        "{dbg} failed with {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `sigil verify ARGS --policy P --repo R --format json`, its verdict cache key under
/// `state_home`: (exit code, the report's reason, the report). sigil's stderr is printed when
/// it exits 2 or more.
pub fn verify_json(
    state_home: &Path,
    policy: &Path,
    repo: &Path,
    args: &[&str],
) -> (i32, Option<String>, serde_json::Value) {
    let mut c = sigil();
    c.env("XDG_STATE_HOME", state_home);
    c.arg("verify")
        .args(args)
        .arg("--policy")
        .arg(policy)
        .arg("--repo")
        .arg(repo)
        .args(["--format", "json"]);
    let out = run(c);
    let code = out.status.code().unwrap_or(-1);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    if code >= 2 {
        eprintln!("sigil stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    (code, v["reason"].as_str().map(String::from), v)
}

/// A scratch directory with a fake HOME (so ~/.ssh and ~/.config keys never leak in).
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Scratch { dir }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, data).unwrap();
        p
    }
    /// A command with HOME pointing into the scratch dir and the cwd set to it.
    pub fn cmd(&self, mut c: Command) -> Command {
        c.env("HOME", self.path("home"));
        c.env_remove("XDG_CONFIG_HOME");
        c.env_remove("XDG_STATE_HOME");
        c.env("GNUPGHOME", self.path("gnupg"));
        // Docker config from $HOME/.docker only; programs in the scratch `bin/` come first
        // on PATH (test doubles of docker credential helpers).
        c.env_remove("DOCKER_CONFIG");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.path("bin")];
        dirs.extend(std::env::split_paths(&path));
        c.env("PATH", std::env::join_paths(dirs).unwrap());
        c.current_dir(self.dir.path());
        c
    }
    /// Makes an age identity with the real `age-keygen`; returns (identity file, recipient).
    pub fn age_key(&self, name: &str) -> (PathBuf, String) {
        let p = self.path(name);
        let out = Command::new("age-keygen")
            .arg("-o")
            .arg(&p)
            .output()
            .expect("age-keygen runs");
        assert!(
            out.status.success(),
            "age-keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&p).unwrap();
        let recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("public key line")
            .to_string();
        (p, recipient)
    }
    /// Runs gpg in batch mode in this scratch's GNUPGHOME (`gnupg`, made 0700 on first use);
    /// asserts success and returns stdout.
    pub fn gpg(&self, args: &[&str]) -> Vec<u8> {
        let home = self.path("gnupg");
        std::fs::create_dir_all(&home).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        let out = Command::new("gpg")
            .env("GNUPGHOME", &home)
            .args([
                "--batch",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("gpg runs");
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Makes an OpenPGP key with gpg in this scratch GNUPGHOME; returns (fingerprint, exported
    /// secret key file, exported public key file). `algo` is e.g. "ed25519" or "rsa3072".
    pub fn pgp_key(&self, email: &str, algo: &str) -> (String, PathBuf, PathBuf) {
        let gpg = |args: &[&str]| self.gpg(args);
        let (primary, sub) = if algo == "ed25519" {
            ("ed25519", "cv25519")
        } else {
            (algo, algo)
        };
        gpg(&[
            "--quick-gen-key",
            &format!("Test <{email}>"),
            primary,
            "sign,cert",
            "never",
        ]);
        let listing = String::from_utf8(gpg(&["--with-colons", "--list-keys", email])).unwrap();
        let fp = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .unwrap()
            .trim_end_matches(':')
            .to_string();
        gpg(&["--quick-add-key", &fp, sub, "encr", "never"]);
        let sec = self.write(
            &format!("{email}.sec.asc"),
            &gpg(&["--armor", "--export-secret-keys", &fp]),
        );
        let public = self.write(
            &format!("{email}.pub.asc"),
            &gpg(&["--armor", "--export", &fp]),
        );
        (fp, sec, public)
    }
}

/// The shared vectors folder (`../shared/vectors` from the crate root).
pub fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors")
}

/// Runs the independent checker on a file with an age identity.
pub fn sops_check_age(file: &Path, identity: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/sops_check.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(file)
        .arg("--age-identity")
        .arg(identity)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("RESULT: MATCH"),
        "sops_check.py rejected {}: {text}",
        file.display()
    );
}

/// Writes a raw object (`git hash-object --literally`, so malformed ones too); returns its id.
pub fn write_object(repo: &Path, kind: &str, body: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("git")
        .current_dir(repo)
        .args(["hash-object", "-t", kind, "-w", "--stdin", "--literally"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
