//! `sigil gate` and `sigil render` end to end: a real git repository with SSH-signed commits
//! (keys made by ssh-keygen at test time), SOPS files encrypted by sigil to an age key made by
//! age-keygen, the gate publishing git-sync style and as a Flux artifact, refusing unsigned
//! commits, rollbacks, plaintext Secrets and tampered SOPS files, and serving HTTP.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::gate::{
    alice_repo, commit_all, free_port, git, hmac_hex, http, memory_dir, ssh_key, wait_for,
};
use common::registry::{Registry, cosign_keypair};
use common::{Scratch, openssl, run, sigil};

struct Lab {
    s: Scratch,
    repo: PathBuf,
    key: PathBuf,
    age_key: PathBuf,
    age_recipient: String,
    out: PathBuf,
    _shm: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let s = Scratch::new();
        let repo = alice_repo(&s, "gitops", &[]);
        let key = ssh_key(&s, "alice");
        let (age_key, age_recipient) = s.age_key("age.txt");
        let shm = memory_dir();
        let out = shm.path().join("published");
        let lab = Lab {
            s,
            repo,
            key,
            age_key,
            age_recipient,
            out,
            _shm: shm,
        };
        lab.write_policy("");
        lab
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.repo.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn sops(&self, rel: &str, plain: &str) {
        self.sops_to(rel, plain, &["--age", &self.age_recipient], |_| {});
    }

    /// Writes `plain` encrypted by sigil to `keys` (as `data`/`stringData` only) at `rel`;
    /// `env` sets up the command (e.g. AWS credentials).
    fn sops_to(&self, rel: &str, plain: &str, keys: &[&str], env: impl FnOnce(&mut Command)) {
        let src = self.s.write("plain.yaml", plain.as_bytes());
        let mut c = self.s.cmd(sigil());
        env(&mut c);
        c.arg("encrypt")
            .args(keys)
            .args(["--encrypted-regex", "^(data|stringData)$"])
            .arg(&src);
        let out = run(c);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.write(rel, std::str::from_utf8(&out.stdout).unwrap());
    }

    fn commit(&self, msg: &str, signed: bool) -> String {
        commit_all(&self.repo, signed.then_some(self.key.as_path()), msg)
    }

    fn write_policy(&self, images: &str) {
        let pubkey = self.key.with_extension("pub");
        self.s.write(
            "policy.yaml",
            format!(
                "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  signers:\n    - name: alice\n      emails: [alice@example.com]\n      ssh: [{}]\n  commits:\n    mode: range\n    rules:\n      - {{refs: [\"refs/heads/main\"], paths: [\"**\"], signers: [alice]}}\n{images}",
                pubkey.display()
            )
            .as_bytes(),
        );
    }

    fn config(&self, extra_source: &str, http: Option<(u16, Option<&str>)>) -> PathBuf {
        let http = match http {
            Some((port, secret)) => {
                let secret = secret
                    .map(|s| {
                        format!(
                            ", webhookSecretFile: {}",
                            self.s.write("hook.secret", s.as_bytes()).display()
                        )
                    })
                    .unwrap_or_default();
                format!("  http: {{bind: \"127.0.0.1:{port}\"{secret}}}\n")
            }
            None => String::new(),
        };
        let artifact = if http.is_empty() {
            String::new()
        } else {
            format!(
                "        artifact: {{baseUrl: \"http://127.0.0.1\", statusFile: {}}}\n",
                self.s.path("state/ea.json").display()
            )
        };
        self.s.write(
            "gate.yaml",
            format!(
                "apiVersion: sigil.dev/v1alpha1\nkind: Gate\nspec:\n{http}  stateDir: {state}\n  sources:\n    - name: app\n      url: file://{repo}\n      ref: refs/heads/main\n      interval: 1h\n      policy: {policy}\n      secrets: {{ageKeyFile: {age}}}\n{extra_source}      render: {{directory: {{paths: [\".\"], recurse: true}}}}\n      publish:\n        volume: {{root: {out}, link: current, keepVersions: 1, grace: 0s, decryptSecrets: true}}\n{artifact}",
                state = self.s.path("state").display(),
                repo = self.repo.display(),
                policy = self.s.path("policy.yaml").display(),
                age = self.age_key.display(),
                out = self.out.display(),
            )
            .as_bytes(),
        )
    }

    /// Starts `sigil gate` serving HTTP on `port` and its probes on `probe_port`, webhooks
    /// signed with `secret` if given.
    fn serve_with_probes(
        &self,
        port: u16,
        probe_port: u16,
        secret: Option<&str>,
    ) -> std::process::Child {
        let config = self.config("", Some((port, secret)));
        let text = std::fs::read_to_string(&config).unwrap().replace(
            &format!("bind: \"127.0.0.1:{port}\""),
            &format!("bind: \"127.0.0.1:{port}\", probeBind: \"127.0.0.1:{probe_port}\""),
        );
        std::fs::write(&config, text).unwrap();
        let mut c = self.s.cmd(sigil());
        c.args(["gate", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c.spawn().unwrap()
    }

    fn once(&self, config: &Path) -> (i32, String) {
        self.once_with(config, |_| {})
    }

    /// `gate --once` with `env` setting up the command; (exit code, stdout + stderr).
    fn once_with(&self, config: &Path, env: impl FnOnce(&mut Command)) -> (i32, String) {
        let mut c = self.s.cmd(sigil());
        env(&mut c);
        c.args(["gate", "--once", "--config"]).arg(config);
        let out = run(c);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    /// `sigil render` of `apps/web` at `rev` for `main`, as Argo CD runs the plugin.
    fn render(&self, rev: &str, extra: &[&str]) -> std::process::Output {
        let mut c = self.s.cmd(sigil());
        c.current_dir(self.repo.join("apps/web"))
            .env("ARGOCD_APP_REVISION", rev)
            .env("ARGOCD_APP_SOURCE_TARGET_REVISION", "main")
            .args(["render", "--policy"])
            .arg(self.s.path("policy.yaml"))
            .args(extra);
        run(c)
    }

    fn current(&self) -> Option<String> {
        std::fs::read_link(self.out.join("current"))
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
    }
}

const CONFIGMAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {greeting: hello}\n";
const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n    password: correct-horse\n";

#[test]
fn publishes_verified_revisions_and_refuses_the_rest() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    lab.sops("apps/web/secret.yaml", SECRET);
    let c1 = lab.commit("first", true);
    let config = lab.config("", None);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
    let tree = lab.out.join("current");
    assert_eq!(
        std::fs::read_to_string(tree.join("apps/web/configmap.yaml")).unwrap(),
        CONFIGMAP
    );
    // The SOPS file is decrypted into the tmpfs tree, 0600; no .git is published.
    let secret = tree.join("apps/web/secret.yaml");
    assert_decrypted_0600(&secret);
    assert!(!tree.join(".git").exists());
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.out.join(".sigil-verdict.json")).unwrap())
            .unwrap();
    assert_eq!(verdict["result"], "verified");
    assert_eq!(verdict["commit"], c1.as_str());
    assert_eq!(verdict["files"][0]["macVerified"], true);
    // Nothing new: a new process verifies and republishes the same commit (its volume or
    // artifact may have been lost with a pod), exit 0, same link.
    let (code, out) = lab.once(&config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));

    // An unsigned commit: refused, the link stays.
    lab.write(
        "apps/web/configmap.yaml",
        &CONFIGMAP.replace("hello", "pwned"),
    );
    let bad = lab.commit("unsigned", false);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("unsigned") && out.contains(&bad[..12]),
        "{out}"
    );
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
    assert_eq!(
        std::fs::read_to_string(lab.out.join("current/apps/web/configmap.yaml")).unwrap(),
        CONFIGMAP
    );

    // A signed commit on top does not launder the unsigned one (range mode).
    let c3 = lab.commit("signed on top", true);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&bad[..12]), "{out}");
    let _ = c3;

    // History rewritten to drop the unsigned commit: now it descends from c1 and is signed.
    git(&lab.repo, &["reset", "-q", "--hard", &c1]);
    lab.write("apps/web/configmap.yaml", &CONFIGMAP.replace("hello", "hi"));
    let c4 = lab.commit("second release", true);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(lab.current().as_deref(), Some(c4.as_str()));
    // keepVersions 1, grace 0: the old version is gone, the current one stays.
    let versions: Vec<String> = std::fs::read_dir(lab.out.join(".versions"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".json") && !n.starts_with('.'))
        .collect();
    assert!(versions.contains(&c4), "{versions:?}");

    // Rollback to the older signed c1 (force-push): refused unless allowed.
    git(&lab.repo, &["reset", "-q", "--hard", &c1]);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not-descendant"), "{out}");
    assert_eq!(lab.current().as_deref(), Some(c4.as_str()));
    let allow = lab.config("      allowRollback: true\n", None);
    let (code, out) = lab.once(&allow);
    assert_eq!(code, 0, "{out}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
}

#[test]
fn secrets_checks_refuse_plaintext_and_tampering() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    let c1 = lab.commit("first", true);
    let config = lab.config("", None);
    assert_eq!(lab.once(&config).0, 0);
    // A plaintext Secret, signed: refused.
    lab.write("apps/web/secret.yaml", SECRET);
    lab.commit("plaintext secret", true);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("plaintext-secret") && out.contains("apps/web/secret.yaml"),
        "{out}"
    );
    assert!(
        !out.contains("correct-horse"),
        "a secret value leaked into the output: {out}"
    );
    // Encrypted, then tampered (a value swapped for another file's value), signed: refused.
    git(&lab.repo, &["reset", "-q", "--hard", &c1]);
    lab.sops("apps/web/secret.yaml", SECRET);
    lab.sops(
        "apps/web/other.yaml",
        &SECRET
            .replace("db", "other")
            .replace("correct-horse", "battery-staple"),
    );
    let text = std::fs::read_to_string(lab.repo.join("apps/web/secret.yaml")).unwrap();
    let other = std::fs::read_to_string(lab.repo.join("apps/web/other.yaml")).unwrap();
    let enc = |t: &str| {
        t.lines()
            .find(|l| l.contains("password: ENC["))
            .unwrap()
            .to_string()
    };
    lab.write(
        "apps/web/secret.yaml",
        &text.replace(&enc(&text), &enc(&other)),
    );
    lab.commit("tampered", true);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("secrets") && out.contains("apps/web/secret.yaml"),
        "{out}"
    );
    assert!(
        !out.contains("battery-staple") && !out.contains("correct-horse"),
        "{out}"
    );
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
}

/// A Secret whose data key is wrapped by AWS KMS (a role assumed through STS, an encryption
/// context): with `secrets.awsKms` the gate checks its MAC with its own AWS credentials and
/// decrypts it into the tmpfs volume; a tampered value is refused; without `awsKms` nothing is
/// sent to AWS and decryption is refused at configuration time.
#[test]
fn kms_wrapped_secrets_are_checked_and_decrypted() {
    let m = common::moto::Moto::start();
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    let key = format!("{}+{}", m.arn, m.role);
    let base = |c: &mut Command| m.env(c, Some(&m.base));
    lab.sops_to(
        "apps/web/secret.yaml",
        SECRET,
        &["--kms", &key, "--encryption-context", "app:web"],
        base,
    );
    let c1 = lab.commit("kms secret", true);
    let config = lab.config("", None);
    let text = std::fs::read_to_string(&config).unwrap();
    let age_line = text
        .lines()
        .find(|l| l.contains("secrets: {ageKeyFile"))
        .unwrap()
        .to_string();
    std::fs::write(
        &config,
        text.replace(&age_line, "      secrets: {awsKms: true}"),
    )
    .unwrap();
    let once = |config: &Path| lab.once_with(config, base);
    let (code, out) = once(&config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
    let secret = lab.out.join("current/apps/web/secret.yaml");
    assert_decrypted_0600(&secret);
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.out.join(".sigil-verdict.json")).unwrap())
            .unwrap();
    assert_eq!(verdict["files"][0]["macVerified"], true);
    // A changed ciphertext under the same key: the MAC check refuses it.
    let enc = std::fs::read_to_string(lab.repo.join("apps/web/secret.yaml")).unwrap();
    let line = enc.lines().find(|l| l.contains("password: ENC[")).unwrap();
    let data = line
        .split("data:")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    let flipped: String = data.chars().rev().collect();
    lab.write("apps/web/secret.yaml", &enc.replace(data, &flipped));
    lab.commit("tampered", true);
    let (code, out) = once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("apps/web/secret.yaml") && !out.contains("correct-horse"),
        "{out}"
    );
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
    // Without awsKms, decryptSecrets has no key: a configuration error, before any call.
    let no_kms = lab.s.write(
        "gate-nokms.yaml",
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("      secrets: {awsKms: true}\n", "")
            .as_bytes(),
    );
    let (code, out) = once(&no_kms);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(
            "decryptSecrets needs secrets.ageKeyFile, secrets.awsKms or secrets.vaultTransit"
        ),
        "{out}"
    );
}

#[test]
fn configuration_errors_are_reported_at_once() {
    let s = Scratch::new();
    let bad = s.write(
        "gate.yaml",
        b"apiVersion: sigil.dev/v1alpha1\nkind: Gate\nspec:\n  http: {bind: nonsense}\n  stateDir: state\n  sources:\n    - name: Bad_Name\n      url: file:///nowhere\n      ref: main\n      interval: soon\n      policy: missing-policy.yaml\n      publish: {}\n",
    );
    let mut c = s.cmd(sigil());
    c.args(["gate", "--once", "--config"]).arg(&bad);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "http.bind",
        "name must be",
        "ref must be",
        "interval",
        "missing-policy.yaml",
        "publish needs",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // An unknown field is an error, not ignored.
    let typo = s.write("typo.yaml", b"apiVersion: sigil.dev/v1alpha1\nkind: Gate\nspec:\n  stateDir: s\n  sourcess: []\n  sources: []\n");
    let mut c = s.cmd(sigil());
    c.args(["gate", "--once", "--config"]).arg(&typo);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sourcess"));
}

#[test]
fn probe_bind_must_be_a_valid_other_address() {
    let s = Scratch::new();
    for (http, want) in [
        (
            "{bind: \"127.0.0.1:8080\", probeBind: nonsense}",
            "is not host:port",
        ),
        (
            "{bind: \"0.0.0.0:8080\", probeBind: \"127.0.0.1:8080\"}",
            "must be another address",
        ),
    ] {
        let bad = s.write(
            "gate.yaml",
            format!("apiVersion: sigil.dev/v1alpha1\nkind: Gate\nspec:\n  http: {http}\n  stateDir: state\n  sources: []\n").as_bytes(),
        );
        let mut c = s.cmd(sigil());
        c.args(["gate", "--once", "--config"]).arg(&bad);
        let out = run(c);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("http.probeBind") && err.contains(want),
            "{err}"
        );
    }
}

#[test]
fn server_webhook_status_metrics_artifact_and_sigterm() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    let c1 = lab.commit("first", true);
    let port = free_port();
    let config = lab.config("", Some((port, Some("s3cret"))));
    let mut c = lab.s.cmd(sigil());
    c.args(["gate", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_for("readyz", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http(port, "GET", "/readyz", &[], b"").0 == 200
    });
    assert_eq!(http(port, "GET", "/livez", &[], b"").0, 200);
    let (code, body) = http(port, "GET", "/status", &[], b"");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status["sources"][0]["published"]["commit"], c1.as_str());
    assert_eq!(status["sources"][0]["published"]["signer"], "alice");
    // The Flux artifact is served and matches its digest and the status document.
    let ea: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.s.path("state/ea.json")).unwrap()).unwrap();
    let url = ea["artifact"]["url"].as_str().unwrap().to_string();
    let path = &url[url.find("/artifacts/").unwrap()..];
    let (code, targz) = http(port, "GET", path, &[], b"");
    assert_eq!(code, 200);
    use sha2::Digest;
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&targz)));
    assert_eq!(ea["artifact"]["digest"], digest.as_str());
    assert_eq!(
        ea["artifact"]["revision"],
        format!("refs/heads/main@sha1:{c1}").as_str()
    );
    assert_eq!(
        http(
            port,
            "GET",
            "/artifacts/app/..%2F..%2Fetc%2Fpasswd.tar.gz",
            &[],
            b""
        )
        .0,
        404
    );
    // A webhook with a bad signature does nothing; a good one triggers a sync at once
    // (the poll interval is an hour).
    lab.write("apps/web/configmap.yaml", &CONFIGMAP.replace("hello", "hi"));
    let c2 = lab.commit("second", true);
    let body = br#"{"ref":"refs/heads/main"}"#;
    let bad = http(
        port,
        "POST",
        "/hooks/app",
        &[("X-Hub-Signature-256", format!("sha256={}", "0".repeat(64)))],
        body,
    );
    assert_eq!(bad.0, 401);
    let good = http(
        port,
        "POST",
        "/hooks/app",
        &[(
            "X-Hub-Signature-256",
            format!("sha256={}", hmac_hex(b"s3cret", body)),
        )],
        body,
    );
    assert!(good.0 == 202 || good.0 == 200, "{good:?}");
    wait_for("the webhook-triggered publish", || {
        lab.current().as_deref() == Some(c2.as_str())
    });
    // An unsigned commit, triggered: refused, recorded, counted; the link stays.
    lab.write(
        "apps/web/configmap.yaml",
        &CONFIGMAP.replace("hello", "pwned"),
    );
    let bad_commit = lab.commit("unsigned", false);
    let sig = hmac_hex(b"s3cret", body);
    http(
        port,
        "POST",
        "/hooks/app",
        &[("X-Signature", format!("sha256={sig}"))],
        body,
    );
    wait_for("the refusal", || {
        let (_, b) = http(port, "GET", "/status", &[], b"");
        let s: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
        s["sources"][0]["lastAttempt"]["result"] == "refused"
    });
    let (_, b) = http(port, "GET", "/status", &[], b"");
    let s: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(s["sources"][0]["lastAttempt"]["reason"], "unsigned");
    assert_eq!(
        s["sources"][0]["lastAttempt"]["subject"],
        bad_commit.as_str()
    );
    assert_eq!(s["sources"][0]["published"]["commit"], c2.as_str());
    assert_eq!(lab.current().as_deref(), Some(c2.as_str()));
    let (_, metrics) = http(port, "GET", "/metrics", &[], b"");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains(
            "sigil_refusals_total{source=\"app\",check=\"commits\",reason=\"unsigned\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "sigil_published_revision_info{{source=\"app\",commit=\"{c2}\"}} 1"
        )),
        "{metrics}"
    );
    let (code, page) = http(port, "GET", "/", &[], b"");
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&page).contains(&bad_commit[..12]));
    // SIGTERM: clean exit 0.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "gate did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        err.lines().all(|l| l.starts_with('{')),
        "logs are JSON lines off a terminal:\n{err}"
    );
    assert!(!err.contains("correct-horse"));
}

/// Idle connections cannot starve the probes: with `http.probeBind`, `/livez` and `/readyz`
/// answer at once on their own listener while 300 idle connections sit on the main one
/// (which holds at most 32 of them from one address and answers the rest 503).
#[test]
fn probes_answer_while_idle_connections_hold_the_server() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    lab.commit("first", true);
    let (port, probe_port) = (free_port(), free_port());
    let mut child = lab.serve_with_probes(port, probe_port, None);
    wait_for("readyz", || {
        http(probe_port, "GET", "/readyz", &[], b"").0 == 200
    });
    let idle: Vec<_> = (0..300)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // The main listener is taken by this peer: new connections from it are refused at once.
    wait_for("the per-peer bound", || {
        http(port, "GET", "/livez", &[], b"").0 == 503
    });
    for path in ["/livez", "/readyz"] {
        let t = Instant::now();
        assert_eq!(http(probe_port, "GET", path, &[], b"").0, 200, "{path}");
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{path} took {:?}",
            t.elapsed()
        );
    }
    assert_eq!(http(probe_port, "GET", "/status", &[], b"").0, 404);
    drop(idle);
    wait_for("the main listener again", || {
        http(port, "GET", "/livez", &[], b"").0 == 200
    });
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

/// A TCP connection to 127.0.0.1:`port` from the loopback address `src` (127.x.y.z), so one
/// test can be many peers.
fn connect_from(src: [u8; 4], port: u16) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::FromRawFd;
    let addr = |ip: [u8; 4], port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket owned by the returned stream; the addresses outlive the calls.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stream = std::net::TcpStream::from_raw_fd(fd);
        let local = addr(src, 0);
        if libc::bind(fd, (&raw const local).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let remote = addr([127, 0, 0, 1], port);
        if libc::connect(fd, (&raw const remote).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stream)
    }
}

/// The gate's resident set size in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One request on `s`; the status code, 0 when the connection closed without one.
fn exchange(mut s: std::net::TcpStream, request: &[u8]) -> u16 {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(request);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    String::from_utf8_lossy(&resp)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn sync_runs(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("sigil_sync_runs_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The load test of the HTTP edge (loopback only, bounded): 300 idle and 300
/// one-byte-a-second clients from many peers while the probes answer within 100 ms; 2,000
/// signed webhooks from 64 threads, each answered 202 or 503, coalesced into far fewer syncs;
/// 300 malformed requests each answered 4xx or closed; the gate's RSS under 64 MiB throughout.
#[test]
fn the_http_edge_under_load() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    lab.commit("first", true);
    let (port, probe_port) = (free_port(), free_port());
    let secret = "load-secret";
    let mut child = lab.serve_with_probes(port, probe_port, Some(secret));
    let pid = child.id();
    wait_for("readyz", || {
        http(probe_port, "GET", "/readyz", &[], b"").0 == 200
    });
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let probe = |what: &str| {
        for path in ["/livez", "/readyz"] {
            let t = Instant::now();
            assert_eq!(
                http(probe_port, "GET", path, &[], b"").0,
                200,
                "{path} {what}"
            );
            assert!(
                t.elapsed() < Duration::from_millis(100),
                "{path} took {:?} {what}",
                t.elapsed()
            );
        }
    };

    // 300 idle connections and 300 slow clients, 20 peers of 30 each.
    let peer = |i: usize| [127, 0, 1 + (i / 30) as u8, 1];
    let (mut idle, mut slow) = (Vec::new(), Vec::new());
    for i in 0..600 {
        let s = connect_from(peer(i), port).unwrap();
        if i % 2 == 0 {
            idle.push(s)
        } else {
            slow.push(s)
        }
    }
    // Every slot of the main listener is taken: a new peer is turned away at once.
    assert_eq!(http(port, "GET", "/livez", &[], b"").0, 503);
    let request = b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n";
    let started = Instant::now();
    let mut sent = 0;
    while started.elapsed() < Duration::from_secs(6) {
        for s in &mut slow {
            let _ = s.write_all(&request[sent % request.len()..][..1]);
        }
        sent += 1;
        for _ in 0..5 {
            probe("under idle and slow clients");
            std::thread::sleep(Duration::from_millis(150));
        }
    }
    drop(idle);
    drop(slow);
    wait_for("the main listener again", || {
        http(port, "GET", "/livez", &[], b"").0 == 200
    });

    // 2,000 signed webhooks from 64 threads, 8 peers.
    let before = sync_runs(&String::from_utf8(http(port, "GET", "/metrics", &[], b"").1).unwrap());
    let body = br#"{"ref":"refs/heads/main"}"#;
    let signature = format!("sha256={}", hmac_hex(secret.as_bytes(), body));
    let hook = format!(
        "POST /hooks/app HTTP/1.1\r\nHost: gate\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        std::str::from_utf8(body).unwrap()
    );
    let codes: Vec<u16> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..64)
            .map(|t| {
                let hook = hook.as_bytes();
                scope.spawn(move || {
                    (0..2000 / 64 + usize::from(t < 2000 % 64))
                        .map(
                            |_| match connect_from([127, 0, 2, 1 + (t % 8) as u8], port) {
                                Ok(s) => exchange(s, hook),
                                Err(_) => 0,
                            },
                        )
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    assert_eq!(codes.len(), 2000);
    let accepted = codes.iter().filter(|c| **c == 202).count();
    let others: Vec<_> = codes.iter().filter(|c| !matches!(c, 202 | 503)).collect();
    assert!(
        others.is_empty(),
        "{} answers not 202/503: {others:?}",
        others.len()
    );
    assert!(
        accepted >= 1000,
        "only {accepted} of 2000 webhooks accepted"
    );
    probe("after the webhooks");
    let mut after = 0;
    wait_for("the syncs asked for", || {
        after = sync_runs(&String::from_utf8(http(port, "GET", "/metrics", &[], b"").1).unwrap());
        after > before
    });
    std::thread::sleep(Duration::from_millis(500));
    after = sync_runs(&String::from_utf8(http(port, "GET", "/metrics", &[], b"").1).unwrap());
    let syncs = after - before;
    assert!(
        syncs * 4 <= accepted as u64,
        "{syncs} syncs for {accepted} accepted webhooks: not coalesced"
    );

    // 300 malformed requests.
    let malformed: [&[u8]; 6] = [
        b"GET /livez HTTP/1.1\r\n\r\n",
        b"GET /livez HTTP/1.1\nHost: x\r\n\r\n",
        b"POST /hooks/app HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET livez HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /hooks/app HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n",
    ];
    for i in 0..300 {
        let s = connect_from([127, 0, 3, 1 + (i % 8) as u8], port).unwrap();
        let code = exchange(s, malformed[i % malformed.len()]);
        assert!(
            code == 0 || (400..500).contains(&code),
            "{code} for {:?}",
            String::from_utf8_lossy(malformed[i % malformed.len()])
        );
    }
    probe("after malformed requests");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = peak.join().unwrap();
    assert!(peak > 0 && peak < 64 << 10, "peak RSS {peak} KiB");
    eprintln!(
        "load: {accepted}/2000 webhooks accepted, {syncs} syncs, peak RSS {} MiB",
        peak >> 10
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

#[test]
fn artifacts_are_deterministic() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    lab.write("run.sh", "#!/bin/sh\necho hi\n");
    Command::new("chmod")
        .arg("+x")
        .arg(lab.repo.join("run.sh"))
        .status()
        .unwrap();
    lab.commit("first", true);
    let port = free_port();
    let config = lab.config("", Some((port, None)));
    assert_eq!(lab.once(&config).0, 0);
    let first: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.s.path("state/ea.json")).unwrap()).unwrap();
    // A fresh state directory (a restarted pod's emptyDir) produces the same bytes.
    std::fs::remove_dir_all(lab.s.path("state")).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(lab.once(&config).0, 0);
    let second: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.s.path("state/ea.json")).unwrap()).unwrap();
    assert_eq!(first["artifact"]["digest"], second["artifact"]["digest"]);
}

#[test]
fn render_for_argocd() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    lab.sops("apps/web/secret.yaml", SECRET);
    lab.write(
        "apps/other/x.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n",
    );
    let c1 = lab.commit("first", true);
    let render = |rev: &str, extra: &[&str]| lab.render(rev, extra);
    let out = render(&c1, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"name\": \"web\"") && !text.contains("\"name\": \"other\""),
        "{text}"
    );
    assert!(
        text.contains("ENC[") && !text.contains("correct-horse"),
        "SOPS stays encrypted without --decrypt"
    );
    let out = render(
        &c1,
        &["--decrypt", "--age-key-file", lab.age_key.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("correct-horse"));
    // The work tree is ignored: only the verified commit's objects are rendered.
    lab.write(
        "apps/web/configmap.yaml",
        &CONFIGMAP.replace("hello", "uncommitted"),
    );
    let out = render(&c1, &[]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("uncommitted"));
    // An unsigned revision: refused, nothing on stdout.
    let bad = lab.commit("unsigned", false);
    let out = render(&bad, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unsigned"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn policy_requires_sops_for_listed_kinds() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    lab.commit("first", true);
    lab.write_policy("  secrets:\n    requireSops: [{kind: Secret}, {kind: ConfigMap}]\n");
    let config = lab.config("", None);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("plaintext-secret") && out.contains("ConfigMap must be SOPS-encrypted"),
        "{out}"
    );
    // Encrypted, the same ConfigMap passes.
    lab.sops("apps/web/configmap.yaml", CONFIGMAP);
    let c2 = lab.commit("encrypted configmap", true);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(lab.current().as_deref(), Some(c2.as_str()));
    // Key material in the policy is a configuration error, not silently ignored.
    lab.write_policy("  secrets:\n    decryptOnPublish: true\n");
    let (code, out) = lab.once(&config);
    assert_eq!(code, 2, "{out}");
}

#[test]
fn tag_refs_follow_the_highest_signed_tag() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    let c1 = lab.commit("first", true);
    let key = format!("user.signingkey={}", lab.key.display());
    let tag = |name: &str, signed: bool| {
        let mut args = vec!["-c", "gpg.format=ssh", "-c", &key, "tag", "-m", name];
        if signed {
            args.push("-s");
        }
        args.push(name);
        git(&lab.repo, &args);
    };
    tag("v1.2.0", true);
    lab.write_policy("  tags:\n    - {pattern: \"v*\", signers: [alice], verifyCommit: true}\n");
    let config = lab.config("", None);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("ref: refs/heads/main", "ref: refs/tags/v*");
    std::fs::write(&config, text).unwrap();
    let (code, out) = lab.once(&config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
    // v1.10.0 sorts above v1.2.0 by version; it is an unsigned annotated tag: refused.
    lab.write("apps/web/configmap.yaml", &CONFIGMAP.replace("hello", "hi"));
    let c2 = lab.commit("second", true);
    tag("v1.10.0", false);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("tags"), "{out}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
    // A signed v1.11.0 on the same commit is published.
    tag("v1.11.0", true);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(lab.current().as_deref(), Some(c2.as_str()));
}

/// A local HTTP receiver: every request's headers and body, answered 200.
fn receiver() -> (u16, std::sync::mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let head_end = loop {
                let Ok(n) = conn.read(&mut chunk) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
            };
            let Some(head_end) = head_end else { continue };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let Ok(n) = conn.read(&mut chunk) else { break };
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send((head, buf[head_end..].to_vec()));
        }
    });
    (port, rx)
}

#[test]
fn notifications_on_publish_refusal_and_recovery() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    let c1 = lab.commit("first", true);
    let (hook_port, hooks) = receiver();
    let port = free_port();
    let config = lab.config("", Some((port, Some("s3cret"))));
    let notify_secret = lab.s.write("notify.secret", b"n0tify");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "  notify:\n    - {{type: webhook, url: \"http://127.0.0.1:{hook_port}/sigil\", secretFile: {}}}\n",
        notify_secret.display()
    ));
    std::fs::write(&config, text).unwrap();
    let mut c = lab.s.cmd(sigil());
    c.args(["gate", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let next = || {
        hooks
            .recv_timeout(Duration::from_secs(20))
            .expect("a notification")
    };
    let check = |(head, body): (String, Vec<u8>)| -> serde_json::Value {
        let sig = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("X-Signature: ")
                    .or_else(|| l.strip_prefix("x-signature: "))
            })
            .unwrap_or_else(|| panic!("no X-Signature in {head}"))
            .trim()
            .to_string();
        assert_eq!(sig, format!("sha256={}", hmac_hex(b"n0tify", &body)));
        serde_json::from_slice(&body).unwrap()
    };
    let published = check(next());
    assert_eq!(
        (published["result"].as_str(), published["commit"].as_str()),
        (Some("published"), Some(c1.as_str()))
    );
    // An unsigned commit: one refusal notification, not repeated for the same commit.
    lab.write(
        "apps/web/configmap.yaml",
        &CONFIGMAP.replace("hello", "pwned"),
    );
    let bad = lab.commit("unsigned", false);
    let body = b"{}";
    let trigger = || {
        http(
            port,
            "POST",
            "/hooks/app",
            &[(
                "X-Signature",
                format!("sha256={}", hmac_hex(b"s3cret", body)),
            )],
            body,
        );
    };
    trigger();
    let refused = check(next());
    assert_eq!(
        (refused["result"].as_str(), refused["reason"].as_str()),
        (Some("refused"), Some("unsigned"))
    );
    assert_eq!(refused["commit"], bad.as_str());
    trigger();
    assert!(
        hooks.recv_timeout(Duration::from_secs(2)).is_err(),
        "a repeated refusal was notified again"
    );
    // Fixed by a signed commit on a rewritten branch: recovery.
    git(&lab.repo, &["reset", "-q", "--hard", &c1]);
    lab.write("apps/web/configmap.yaml", &CONFIGMAP.replace("hello", "hi"));
    let c2 = lab.commit("fixed", true);
    trigger();
    let recovered = check(next());
    assert_eq!(
        (recovered["result"].as_str(), recovered["commit"].as_str()),
        (Some("recovered"), Some(c2.as_str()))
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// A source URL's userinfo, query and fragment never show: not in `/status`, `/`, the logs,
/// notifications or `--once` output, whether the sync publishes or fails.
#[test]
fn source_url_secrets_are_never_shown() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    lab.commit("first", true);
    // git reads a file:// URL's query and fragment as part of the path.
    let tail = "?private_token=QSECRET#FSECRET";
    let secret_dir = PathBuf::from(format!("{}{tail}", lab.repo.display()));
    std::fs::rename(&lab.repo, &secret_dir).unwrap();
    let url = format!("file://alice:USECRET@localhost{}{tail}", lab.repo.display());
    let (hook_port, hooks) = receiver();
    let port = free_port();
    let config = lab.config("", Some((port, Some("s3cret"))));
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("url: file://{}\n", lab.repo.display()),
        &format!("url: \"{url}\"\n"),
    );
    assert!(text.contains("USECRET"));
    std::fs::write(
        &config,
        text + &format!(
            "  notify:\n    - {{type: webhook, url: \"http://127.0.0.1:{hook_port}/sigil\"}}\n"
        ),
    )
    .unwrap();
    let logs = lab.s.path("gate.log");
    let mut c = lab.s.cmd(sigil());
    c.args(["gate", "--config"])
        .arg(&config)
        .stdout(std::fs::File::create(lab.s.path("gate.out")).unwrap())
        .stderr(std::fs::File::create(&logs).unwrap());
    let mut child = c.spawn().unwrap();
    wait_for("readyz", || http(port, "GET", "/readyz", &[], b"").0 == 200);
    let status = |port| -> serde_json::Value {
        serde_json::from_slice(&http(port, "GET", "/status", &[], b"").1).unwrap()
    };
    assert_eq!(
        status(port)["sources"][0]["url"],
        format!("file://***@localhost{}?***#***", lab.repo.display()).as_str()
    );
    // The source vanishes: the fetch fails and git's error is shown, scrubbed.
    std::fs::rename(&secret_dir, &lab.repo).unwrap();
    let body = b"{}";
    let sig = format!("sha256={}", hmac_hex(b"s3cret", body));
    http(port, "POST", "/hooks/app", &[("X-Signature", sig)], body);
    wait_for("the failed fetch", || {
        status(port)["sources"][0]["lastAttempt"]["result"] == "error"
    });
    let mut shown = vec![
        String::from_utf8_lossy(&http(port, "GET", "/status", &[], b"").1).into_owned(),
        String::from_utf8_lossy(&http(port, "GET", "/", &[], b"").1).into_owned(),
    ];
    for _ in 0..2 {
        let (_, payload) = hooks
            .recv_timeout(Duration::from_secs(20))
            .expect("a notification");
        shown.push(String::from_utf8_lossy(&payload).into_owned());
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    shown.push(std::fs::read_to_string(&logs).unwrap());
    shown.push(std::fs::read_to_string(lab.s.path("gate.out")).unwrap());
    shown.push(lab.once(&config).1);
    assert!(shown[0].contains("fetch-failed"), "{}", shown[0]);
    for text in &shown {
        assert!(!text.contains("SECRET"), "a secret is shown:\n{text}");
    }
}

/// Forged "verified" lines (no MAC, or a wrong one) in the gate's commit verdict cache
/// (`<stateDir>/<source>.verdicts.jsonl`) are misses: the unsigned history is still refused.
#[test]
fn forged_gate_commit_cache_entries_are_ignored() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    lab.commit("first", true);
    // More than 64 new commits: only then is the cache consulted commit by commit.
    for i in 0..65 {
        lab.commit(&format!("unsigned {i}"), false);
    }
    let config = lab.config("", None);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unsigned"), "{out}");
    // What a forger can compute: the cache key of each commit for this ref, policy, first-seen
    // time (from the ledger) and version.
    let head = git(&lab.repo, &["rev-parse", "HEAD"]);
    let ledger: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.s.path("state/app.first-seen.json")).unwrap())
            .unwrap();
    let first_seen = format!("Some({})", ledger[&head]);
    let mut c = sigil();
    c.args(["verify", "commits", "--format", "json", "--policy"])
        .arg(lab.s.path("policy.yaml"))
        .arg("--repo")
        .arg(&lab.repo);
    let report: serde_json::Value = serde_json::from_slice(&run(c).stdout).unwrap();
    let digest = report["policyDigest"].as_str().unwrap();
    let mut forged = String::new();
    for id in git(&lab.repo, &["rev-list", "HEAD"]).lines() {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        let version = env!("CARGO_PKG_VERSION");
        for part in [id, "refs/heads/main", digest, &first_seen, version, "None"] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let line = serde_json::json!([hex::encode(h.finalize()), {"signer": "forged"}]).to_string();
        forged.push_str(&format!("{line}\n{}\t{line}\n", "0".repeat(64)));
    }
    std::fs::write(lab.s.path("state/app.verdicts.jsonl"), forged).unwrap();
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unsigned"), "{out}");
    assert_eq!(lab.current(), None, "nothing published");
    // The key authenticating the caches, made by the gate in its state directory.
    let key = lab.s.path("state/cache.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// A forged entry in the gate's image verdict cache (`<stateDir>/image-verdicts`) is a miss:
/// the unsigned image is still refused.
#[test]
fn forged_gate_image_cache_entries_are_ignored() {
    let reg = Registry::start();
    let lab = Lab::new();
    let (_, public) = cosign_keypair(&lab.s, "cosign");
    lab.write_policy(&format!(
        "  images:\n    insecureRegistries: [\"127.0.0.1:*\"]\n    rules:\n      - match: \"127.0.0.1:*/**\"\n        authorities:\n          - key: {}\n",
        public.display()
    ));
    let digest = reg.push_image("team/web", "v1", "web, unsigned");
    lab.write(
        "apps/web/deploy.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  template:\n    spec:\n      containers: [{{name: web, image: \"{}/team/web@{digest}\"}}]\n",
            reg.host
        ),
    );
    lab.commit("first", true);
    let config = lab.config("", None);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("images"), "{out}");
    let mut c = lab.s.cmd(sigil());
    c.args(["verify", "images", "--format", "json", "--policy"])
        .arg(lab.s.path("policy.yaml"))
        .arg(format!("{}/team/web@{digest}", reg.host));
    let report: serde_json::Value = serde_json::from_slice(&run(c).stdout).unwrap();
    assert_eq!(report["images"][0]["reason"], "unsigned");
    let policy_digest = report["policyDigest"].as_str().unwrap();
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let name = format!("{}/team/web", reg.host);
    for part in [
        name.as_str(),
        &digest,
        "127.0.0.1:*/**",
        policy_digest,
        env!("CARGO_PKG_VERSION"),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let entry = lab
        .s
        .path("state/image-verdicts")
        .join(hex::encode(h.finalize()));
    let forged = r#"{"signatures":[{"source":"forged","format":"legacy"}]}"#;
    for text in [forged.to_string(), format!("{}\t{forged}", "0".repeat(64))] {
        std::fs::create_dir_all(entry.parent().unwrap()).unwrap();
        std::fs::write(&entry, text).unwrap();
        let (code, out) = lab.once(&config);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("images") && out.contains("unsigned"), "{out}");
        assert_eq!(lab.current(), None, "nothing published");
    }
}

/// A stand-in for the Kubernetes API server (no real one runs here): Python's HTTPS server
/// with a certificate from a test CA, recording each PATCH (path, Authorization, Content-Type,
/// JSON body) and answering with the status code in `code` (200, or a Status error).
struct FakeApiServer {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
    code: PathBuf,
    ca: PathBuf,
}

impl FakeApiServer {
    const SCRIPT: &'static str = r#"
import http.server, json, ssl, sys
port_file, log, code_file, cert, key = sys.argv[1:]
class H(http.server.BaseHTTPRequestHandler):
    def do_PATCH(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
        code = int(open(code_file).read().strip() or '200')
        with open(log, 'a') as f:
            f.write(json.dumps({'path': self.path, 'auth': self.headers.get('Authorization'),
                                'type': self.headers.get('Content-Type'), 'body': json.loads(body)}) + '\n')
        out = json.dumps({'kind': 'Status', 'message': 'denied by the test'} if code != 200 else {'kind': 'ExternalArtifact'}).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(port_file + '.tmp', 'w').write(str(srv.server_address[1]))
import os; os.rename(port_file + '.tmp', port_file)
srv.serve_forever()
"#;

    fn start(s: &Scratch) -> FakeApiServer {
        let dir = s.path("kube");
        std::fs::create_dir_all(&dir).unwrap();
        for ca in ["ca", "other-ca"] {
            openssl::ca(&dir, ca, &format!("test {ca}"));
        }
        openssl::csr(&dir, "srv", "kube-apiserver");
        openssl::sign(
            &dir,
            "srv",
            "ca",
            "subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n",
            "srv",
            None,
        );
        let code = dir.join("code");
        std::fs::write(&code, "200").unwrap();
        let port_file = dir.join("port");
        let child = Command::new("python3")
            .arg("-c")
            .arg(Self::SCRIPT)
            .arg(&port_file)
            .arg(dir.join("patches.jsonl"))
            .arg(&code)
            .arg(dir.join("srv.pem"))
            .arg(dir.join("srv.key"))
            .spawn()
            .expect("python3");
        wait_for("the fake API server", || port_file.exists());
        let port = std::fs::read_to_string(&port_file)
            .unwrap()
            .parse()
            .unwrap();
        FakeApiServer {
            child,
            port,
            log: dir.join("patches.jsonl"),
            code,
            ca: dir.join("ca.pem"),
        }
    }

    fn patches(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn flux_external_artifact_status_is_patched_through_the_api() {
    let lab = Lab::new();
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    let c1 = lab.commit("first", true);
    let api = FakeApiServer::start(&lab.s);
    let token = lab.s.write("kube/token", b"test-token-123\n");
    let with_ca = |ca: &Path| {
        let config = lab.config("", Some((free_port(), None)));
        let text = std::fs::read_to_string(&config).unwrap();
        let ea = format!(
            ", externalArtifact: {{namespace: flux-system, name: sigil-app, apiServer: \"https://127.0.0.1:{}\", tokenFile: {}, caFile: {}}}}}",
            api.port,
            token.display(),
            ca.display()
        );
        // The artifact line ends with `statusFile: …}`: add the externalArtifact inside it.
        let mut text = text;
        let at = text.rfind("statusFile: ").unwrap();
        let close = at + text[at..].find('}').unwrap();
        text.replace_range(close..close + 1, &ea);
        std::fs::write(&config, text).unwrap();
        config
    };

    // The API refuses: the sync fails (exit 3), nothing is recorded as published, and the
    // request carried the token, the merge-patch type and the status of this commit.
    std::fs::write(&api.code, "403").unwrap();
    let config = with_ca(&api.ca);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("status-update-failed"), "{out}");
    assert!(out.contains("denied by the test"), "{out}");
    assert!(!out.contains("test-token-123"), "the token leaked: {out}");
    let p = api.patches();
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0]["path"],
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/externalartifacts/sigil-app/status"
    );
    assert_eq!(p[0]["auth"], "Bearer test-token-123");
    assert_eq!(p[0]["type"], "application/merge-patch+json");
    assert_eq!(
        p[0]["body"]["status"]["artifact"]["revision"],
        format!("refs/heads/main@sha1:{c1}").as_str()
    );

    // Accepted: published, and the patched status is the status document written beside it.
    std::fs::write(&api.code, "200").unwrap();
    let (code, out) = lab.once(&config);
    assert_eq!(code, 0, "{out}");
    let p = api.patches();
    assert_eq!(p.len(), 2);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.s.path("state/ea.json")).unwrap()).unwrap();
    assert_eq!(p[1]["body"]["status"], written);
    assert_eq!(written["conditions"][0]["type"], "Ready");

    // An API server whose certificate does not chain to the configured CA is never sent the
    // token.
    let other = with_ca(&api.ca.with_file_name("other-ca.pem"));
    let (code, out) = lab.once(&other);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("status-update-failed"), "{out}");
    assert_eq!(api.patches().len(), 2);
    // A restarted gate patches the status again on its first sync (the object may have been
    // recreated meanwhile), though the commit is already published.
    let config = with_ca(&api.ca);
    let (code, out) = lab.once(&config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(api.patches().len(), 3);
}

/// The published secret holds the plaintext, readable by its owner only.
fn assert_decrypted_0600(secret: &Path) {
    use std::os::unix::fs::PermissionsExt;
    assert!(
        std::fs::read_to_string(secret)
            .unwrap()
            .contains("correct-horse")
    );
    assert_eq!(
        std::fs::metadata(secret).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// Commits everything in the lab's repository signed with the OpenPGP key `fpr` (or unsigned).
fn commit_openpgp(lab: &Lab, fpr: Option<&str>, msg: &str) -> String {
    git(&lab.repo, &["add", "-A"]);
    let mut c = Command::new("git");
    c.current_dir(&lab.repo)
        .env("GNUPGHOME", lab.s.path("gnupg"))
        .args(["-c", "gpg.format=openpgp"]);
    if let Some(f) = fpr {
        c.args(["-c", &format!("user.signingkey={f}"), "commit", "-q", "-S"]);
    } else {
        c.args(["commit", "-q"]);
    }
    let out = c.args(["--allow-empty", "-m", msg]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    git(&lab.repo, &["rev-parse", "HEAD"])
}

#[test]
fn the_gate_follows_an_in_repo_policy_from_its_trust_root() {
    let lab = Lab::new();
    let (alice, _, alice_pub) = lab.s.pgp_key("alice@example.com", "ed25519");
    let (mallory, _, _) = lab.s.pgp_key("mallory@example.com", "ed25519");
    let policy_toml = format!(
        "version = 0\n[authorization.alice]\nsign_commit = true\nkeyring = \"\"\"\n{}\"\"\"\n",
        std::fs::read_to_string(alice_pub).unwrap()
    );
    lab.write("openpgp-policy.toml", &policy_toml);
    lab.write("apps/web/configmap.yaml", CONFIGMAP);
    let root = commit_openpgp(&lab, Some(&alice), "policy");
    lab.s.write(
        "policy.yaml",
        format!(
            "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  commits:\n    mode: in-repo\n    inRepo: {{trustRoot: {root}}}\n"
        )
        .as_bytes(),
    );
    let config = lab.config("", None);
    // The trust root itself is published as it is.
    let (code, out) = lab.once(&config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(lab.current().as_deref(), Some(root.as_str()));
    // Alice's commit, with a secret: published, the secret decrypted 0600.
    lab.sops("apps/web/secret.yaml", SECRET);
    let c1 = commit_openpgp(&lab, Some(&alice), "alice adds a secret");
    let (code, out) = lab.once(&config);
    assert_eq!(code, 0, "{out}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
    assert_decrypted_0600(&lab.out.join("current/apps/web/secret.yaml"));
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.out.join(".sigil-verdict.json")).unwrap())
            .unwrap();
    assert_eq!(verdict["commits"][0]["signer"], "alice", "{verdict:#}");
    // Mallory's commit (a key the policy does not hold), and an unsigned one: refused, and
    // alice's commit on top does not launder them (no authenticated path).
    lab.write(
        "apps/web/configmap.yaml",
        &CONFIGMAP.replace("hello", "pwned"),
    );
    let bad = commit_openpgp(&lab, Some(&mallory), "mallory");
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("untrusted-key") && out.contains(&bad[..12]),
        "{out}"
    );
    commit_openpgp(&lab, Some(&alice), "alice on top");
    let (code, out) = lab.once(&config);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&bad[..12]), "{out}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
    // `sigil render` (the Argo CD plugin) follows the same path: alice's revision renders,
    // mallory's is refused with the reason.
    let render = |rev: &str| lab.render(rev, &["--no-images"]);
    let out = render(&c1);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"greeting\": \"hello\""));
    let out = render(&bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("untrusted-key"));
    // Mallory adding herself to the policy is refused the same way.
    git(&lab.repo, &["reset", "-q", "--hard", &c1]);
    lab.write(
        "openpgp-policy.toml",
        &policy_toml.replace(
            "[authorization.alice]",
            "[authorization.mallory]\nsign_commit = true\nkeyring = \"\"\n[authorization.alice]",
        ),
    );
    let (code, out) = {
        commit_openpgp(&lab, Some(&alice), "alice adds an entity without add_user");
        lab.once(&config)
    };
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("policy-change-not-allowed"), "{out}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
}
