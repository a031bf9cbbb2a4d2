//! The gate's HTML status page (`/`) as a real browser renders it: headless Chromium loads the
//! page of a running gate that has published a signed commit and refused an unsigned one, and
//! the rendered DOM must show the published commit, its signer and the refusal — with no
//! script on the page (it works without JS) and the refresh meta tag in place.
//!
//! Needs `/usr/bin/chromium` (Debian `chromium`, installed by scripts/peers.sh); this test
//! installs nothing.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::gate::{
    alice_repo, commit_all, free_port, hmac_hex, http, memory_dir, ssh_key, wait_for,
};
use common::{Scratch, run, sigil};

const CHROMIUM: &str = "/usr/bin/chromium";

fn status(port: u16) -> serde_json::Value {
    let (code, body) = http(port, "GET", "/status", &[], b"");
    if code != 200 {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&body).unwrap_or_default()
}

/// Kills the gate when the test ends, pass or fail.
struct Reaper(std::process::Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `chromium --headless --dump-dom <url>` with a fresh profile; killed (with its helper
/// processes) if it hangs. Returns the serialized DOM.
fn dump_dom(s: &Scratch, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out_path = s.path("dom.html");
    let err_path = s.path("chromium.log");
    let mut c = Command::new(CHROMIUM);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(["--dump-dom", url])
    .env("HOME", s.path("home"))
    .stdin(Stdio::null())
    .stdout(std::fs::File::create(&out_path).unwrap())
    .stderr(std::fs::File::create(&err_path).unwrap())
    .process_group(0);
    let mut child = c.spawn().expect("chromium starts");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(90) {
            // SAFETY: signals our own child's process group (it leads it: process_group(0)).
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!(
                "chromium hung for 90s; its log:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Helpers (zygote, renderer) left behind by the browser, if any.
    // SAFETY: as above; the group may already be empty (ESRCH is ignored).
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let dom = std::fs::read_to_string(&out_path).unwrap();
    assert!(
        status.success() && !dom.is_empty(),
        "chromium failed ({status:?}); its log:\n{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    dom
}

/// The table row (`<tr>…</tr>`) of `dom` that contains every one of `needles`.
fn row_with<'a>(dom: &'a str, needles: &[&str]) -> Option<&'a str> {
    dom.split("<tr>")
        .map(|r| r.split("</tr>").next().unwrap_or(r))
        .find(|r| needles.iter().all(|n| r.contains(n)))
}

#[test]
fn status_page_renders_in_headless_chromium() {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: install Debian's chromium (scripts/peers.sh does)"
    );
    let s = Scratch::new();
    // A repository with one signed commit: a ConfigMap and a SOPS-encrypted Secret.
    let repo = alice_repo(&s, "gitops", &[]);
    let key = ssh_key(&s, "alice");
    let (age_key, recipient) = s.age_key("age.txt");
    let write = |rel: &str, text: &str| {
        let p = repo.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "apps/web/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {greeting: hello}\n",
    );
    let plain = s.write(
        "plain.yaml",
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n    password: correct-horse\n",
    );
    let mut enc = sigil();
    enc.args([
        "encrypt",
        "--age",
        &recipient,
        "--encrypted-regex",
        "^(data|stringData)$",
    ])
    .arg(&plain);
    let out = run(enc);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    write(
        "apps/web/secret.yaml",
        std::str::from_utf8(&out.stdout).unwrap(),
    );
    let c1 = commit_all(&repo, Some(&key), "first");

    // Policy and gate: interval 1h (only the webhook triggers syncs), HTTP on a free port.
    let policy = s.write(
        "policy.yaml",
        format!(
            "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  signers:\n    - name: alice\n      emails: [alice@example.com]\n      ssh: [{}]\n  commits:\n    mode: range\n    rules:\n      - {{refs: [\"refs/heads/main\"], paths: [\"**\"], signers: [alice]}}\n",
            key.with_extension("pub").display()
        )
        .as_bytes(),
    );
    let shm = memory_dir();
    let out_dir: PathBuf = shm.path().join("published");
    let port = free_port();
    let secret = s.write("hook.secret", b"s3cret");
    let config = s.write(
        "gate.yaml",
        format!(
            "apiVersion: sigil.dev/v1alpha1\nkind: Gate\nspec:\n  http: {{bind: \"127.0.0.1:{port}\", webhookSecretFile: {secret}}}\n  stateDir: {state}\n  sources:\n    - name: app\n      url: file://{repo}\n      ref: refs/heads/main\n      interval: 1h\n      policy: {policy}\n      secrets: {{ageKeyFile: {age}}}\n      render: {{directory: {{paths: [\".\"], recurse: true}}}}\n      publish:\n        volume: {{root: {out}, link: current, decryptSecrets: true}}\n        artifact: {{baseUrl: \"http://127.0.0.1:{port}\"}}\n",
            secret = secret.display(),
            state = s.path("state").display(),
            repo = repo.display(),
            policy = policy.display(),
            age = age_key.display(),
            out = out_dir.display(),
        )
        .as_bytes(),
    );
    let mut gate = s.cmd(sigil());
    gate.args(["gate", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _gate = Reaper(gate.spawn().unwrap());
    wait_for("the first publish", || {
        status(port)["sources"][0]["published"]["commit"] == c1.as_str()
    });

    // An unsigned commit, announced by a signed webhook: refused and recorded.
    write(
        "apps/web/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {greeting: pwned}\n",
    );
    let bad = commit_all(&repo, None, "unsigned");
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (code, _) = http(
        port,
        "POST",
        "/hooks/app",
        &[(
            "X-Signature",
            format!("sha256={}", hmac_hex(b"s3cret", body)),
        )],
        body,
    );
    assert!(code == 202 || code == 200, "webhook answered {code}");
    wait_for("the refusal", || {
        status(port)["sources"][0]["lastAttempt"]["result"] == "refused"
    });
    let st = status(port);
    assert_eq!(st["sources"][0]["lastAttempt"]["reason"], "unsigned");
    assert_eq!(st["sources"][0]["published"]["commit"], c1.as_str());

    // The page as served has no script at all: it needs no JS.
    let (code, raw) = http(port, "GET", "/", &[], b"");
    assert_eq!(code, 200);
    let raw = String::from_utf8(raw).unwrap();
    assert!(!raw.to_ascii_lowercase().contains("<script"), "{raw}");

    // The page as Chromium renders it.
    let dom = dump_dom(&s, &format!("http://127.0.0.1:{port}/"));
    assert!(
        dom.contains("<html") && dom.contains("sigil gate"),
        "not the status page:\n{dom}"
    );
    assert!(!dom.to_ascii_lowercase().contains("<script"), "{dom}");
    assert!(
        dom.contains(r#"<meta http-equiv="refresh" content="10">"#),
        "no refresh meta tag:\n{dom}"
    );
    // Published: the short commit (the full id in its title) and the signer, on one row.
    let published = row_with(&dom, &["Published", &format!(">{}</code>", &c1[..12])])
        .unwrap_or_else(|| panic!("no published row with {}:\n{dom}", &c1[..12]));
    assert!(
        published.contains(&format!("title=\"{c1}\"")),
        "{published}"
    );
    assert!(published.contains("signed by alice"), "{published}");
    // The refusal: a row of the refusals table with the refused commit's short id and the
    // reason `unsigned`.
    let refusal = row_with(
        &dom,
        &[
            &format!("<code>{}</code>", &bad[..12]),
            "<code>unsigned</code>",
        ],
    )
    .unwrap_or_else(|| panic!("no refusal row for {}:\n{dom}", &bad[..12]));
    assert!(refusal.contains("commits"), "{refusal}");
    // The last attempt shows the refusal too.
    let last = row_with(&dom, &["Last attempt"]).expect("a last-attempt row");
    assert!(
        last.contains("refused") && last.contains("<code>unsigned</code>"),
        "{last}"
    );
}
