//! HashiCorp Vault transit keys against the real sops 3.11, through a stand-in for Vault's
//! transit engine (tests/common/vault_transit.py; no Vault server can be installed here). The
//! stand-in is shown honest by sops itself: sops encrypts through it and sigil decrypts, sigil
//! encrypts and sops decrypts, and each refuses what the other would.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const PLAIN: &str = "db:\n    user: app\n    password: s3cr3t\nports:\n    - 5432\n";
const TOKEN: &str = "hvs.test-token-not-a-secret";

struct Vault {
    child: Child,
    addr: String,
}

impl Vault {
    fn start(namespace: Option<&str>) -> Vault {
        Vault::start_with(namespace, None)
    }

    /// With `tls` (certificate, key): HTTPS.
    fn start_with(namespace: Option<&str>, tls: Option<(&Path, &Path)>) -> Vault {
        let port = common::gate::free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/vault_transit.py");
        let mut c = Command::new("python3");
        if let Some((cert, key)) = tls {
            c.env("VAULT_STANDIN_CERT", cert)
                .env("VAULT_STANDIN_KEY", key);
        }
        let child = c
            .arg(script)
            .arg(port.to_string())
            .arg(TOKEN)
            .arg(namespace.unwrap_or("-"))
            .args(["sops/first", "team/sops/second"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the Vault stand-in did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        Vault {
            child,
            addr: format!("{scheme}://127.0.0.1:{port}"),
        }
    }

    fn uri(&self, engine: &str, key: &str) -> String {
        format!("{}/v1/{engine}/keys/{key}", self.addr)
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with_token(s: &Scratch, c: Command, token: Option<&str>) -> Command {
    let mut c = s.cmd(c);
    for v in [
        "VAULT_TOKEN",
        "VAULT_ADDR",
        "VAULT_NAMESPACE",
        "SOPS_VAULT_URIS",
    ] {
        c.env_remove(v);
    }
    if let Some(t) = token {
        c.env("VAULT_TOKEN", t);
    }
    c
}

fn encrypt(s: &Scratch, tool: &str, args: &[&str], file: &Path, out: &str) -> PathBuf {
    let base = if tool == "sops" { sops() } else { sigil() };
    let mut c = with_token(s, base, Some(TOKEN));
    c.arg("encrypt").args(args).arg(file);
    s.write(out, &ok(c))
}

fn decrypt(
    s: &Scratch,
    tool: &str,
    file: &Path,
    token: Option<&str>,
) -> (Option<i32>, String, String) {
    let base = if tool == "sops" { sops() } else { sigil() };
    let mut c = with_token(s, base, token);
    c.arg("decrypt").arg(file);
    let out = run(c);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn both_directions_through_transit() {
    let v = Vault::start(None);
    let s = Scratch::new();
    let plain = s.write("app.yaml", PLAIN.as_bytes());
    for (engine, key) in [("sops", "first"), ("team/sops", "second")] {
        let uri = v.uri(engine, key);
        let by_sops = encrypt(
            &s,
            "sops",
            &["--hc-vault-transit", &uri],
            &plain,
            "sops.yaml",
        );
        let by_sigil = encrypt(
            &s,
            "sigil",
            &["--hc-vault-transit", &uri],
            &plain,
            "sigil.yaml",
        );
        for (file, who) in [(&by_sops, "sops"), (&by_sigil, "sigil")] {
            for reader in ["sops", "sigil"] {
                let (code, out, err) = decrypt(&s, reader, file, Some(TOKEN));
                assert_eq!(
                    (code, out.as_str()),
                    (Some(0), PLAIN),
                    "{who} → {reader}: {err}"
                );
            }
        }
        // The same entry shape, field for field.
        let fields = |f: &Path| -> Vec<String> {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .skip_while(|l| l.trim() != "hc_vault:")
                .skip(1)
                .take(5)
                .map(|l| {
                    l.trim()
                        .trim_start_matches("- ")
                        .split(':')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .collect()
        };
        assert_eq!(fields(&by_sigil), fields(&by_sops));
        assert_eq!(
            fields(&by_sigil),
            [
                "vault_address",
                "engine_path",
                "key_name",
                "created_at",
                "enc"
            ]
        );
    }
}

#[test]
fn token_file_namespace_config_and_refusals() {
    let v = Vault::start(Some("team-a"));
    let s = Scratch::new();
    let plain = s.write("secret.yaml", PLAIN.as_bytes());
    s.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - hc_vault_transit_uri: {}\n",
            v.uri("sops", "first")
        )
        .as_bytes(),
    );
    let ns = |mut c: Command| {
        c.env("VAULT_NAMESPACE", "team-a");
        c
    };
    // The rule's key, a token from ~/.vault-token, the namespace header.
    s.write("home/.vault-token", format!("{TOKEN}\n").as_bytes());
    let mut c = ns(with_token(&s, sigil(), None));
    c.arg("encrypt").arg(&plain);
    let f = s.write("enc.yaml", &ok(c));
    let mut c = ns(with_token(&s, sops(), None));
    c.arg("decrypt").arg(&f);
    assert_eq!(String::from_utf8_lossy(&ok(c)), PLAIN);
    std::fs::remove_file(s.path("home/.vault-token")).unwrap();
    // No token, a wrong token, no namespace: both refuse with 128.
    for (token, namespace) in [
        (None, true),
        (Some("hvs.wrong"), true),
        (Some(TOKEN), false),
    ] {
        let mut codes = Vec::new();
        let mut sigil_err = String::new();
        for tool in ["sops", "sigil"] {
            let base = if tool == "sops" { sops() } else { sigil() };
            let mut c = with_token(&s, base, token);
            if namespace {
                c.env("VAULT_NAMESPACE", "team-a");
            }
            c.arg("decrypt").arg(&f);
            let out = run(c);
            codes.push(out.status.code());
            if tool == "sigil" {
                sigil_err = String::from_utf8_lossy(&out.stderr).into_owned();
                assert!(out.stdout.is_empty());
            }
        }
        assert_eq!(
            codes,
            [Some(128), Some(128)],
            "{token:?} {namespace}: {sigil_err}"
        );
        assert!(
            sigil_err.contains("403") && !sigil_err.contains("hvs.wrong"),
            "{sigil_err}"
        );
    }
    // A changed ciphertext: the stand-in refuses, as Vault does.
    let text = std::fs::read_to_string(&f).unwrap();
    let enc = text.lines().find(|l| l.contains("enc: vault:v1:")).unwrap();
    let changed = enc.replacen("vault:v1:", "vault:v1:AAAA", 1);
    let bad = s.write("bad.yaml", text.replace(enc, &changed).as_bytes());
    for tool in ["sops", "sigil"] {
        let base = if tool == "sops" { sops() } else { sigil() };
        let mut c = ns(with_token(&s, base, Some(TOKEN)));
        c.arg("decrypt").arg(&bad);
        assert_eq!(run(c).status.code(), Some(128), "{tool}");
    }
    // rotate moves the file from Vault to another Vault key and back to sops.
    let mut c = ns(with_token(&s, sigil(), Some(TOKEN)));
    c.args([
        "rotate",
        "-i",
        "--add-hc-vault-transit",
        &v.uri("team/sops", "second"),
        "--rm-hc-vault-transit",
        &v.uri("sops", "first"),
    ])
    .arg(&f);
    ok(c);
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(
        text.contains("engine_path: team/sops") && !text.contains("key_name: first"),
        "{text}"
    );
    let mut c = ns(with_token(&s, sops(), Some(TOKEN)));
    c.arg("decrypt").arg(&f);
    assert_eq!(String::from_utf8_lossy(&ok(c)), PLAIN);
    // A URI sops refuses, sigil refuses.
    let mut c = with_token(&s, sigil(), Some(TOKEN));
    c.args([
        "encrypt",
        "--hc-vault-transit",
        "127.0.0.1:8200/v1/sops/keys/first",
    ])
    .arg(&plain);
    let out = run(c);
    assert_ne!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

/// A Vault behind a private CA: `VAULT_CACERT` names it, for sops (Vault's client) and sigil.
#[test]
fn a_private_ca_through_vault_cacert() {
    let s = Scratch::new();
    let dir = s.path("pki");
    std::fs::create_dir_all(&dir).unwrap();
    common::openssl::ca(&dir, "ca", "test vault ca");
    common::openssl::csr(&dir, "server", "127.0.0.1");
    common::openssl::sign(
        &dir,
        "server",
        "ca",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        "server",
        None,
    );
    let v = Vault::start_with(
        None,
        Some((&dir.join("server.pem"), &dir.join("server.key"))),
    );
    let plain = s.write("app.yaml", PLAIN.as_bytes());
    let uri = v.uri("sops", "first");
    let ca = dir.join("ca.pem");
    let with_ca = |tool: &str| {
        let mut c = with_token(
            &s,
            if tool == "sops" { sops() } else { sigil() },
            Some(TOKEN),
        );
        c.env("VAULT_CACERT", &ca);
        c
    };
    for (writer, reader) in [("sops", "sigil"), ("sigil", "sops")] {
        let mut c = with_ca(writer);
        c.args(["encrypt", "--hc-vault-transit", &uri]).arg(&plain);
        let f = s.write(&format!("{writer}.yaml"), &ok(c));
        let mut c = with_ca(reader);
        c.arg("decrypt").arg(&f);
        assert_eq!(
            String::from_utf8_lossy(&ok(c)),
            PLAIN,
            "{writer} → {reader}"
        );
    }
    // Without the CA the server is not trusted: 128, nothing printed.
    let (code, out, err) = decrypt(&s, "sigil", &s.path("sops.yaml"), Some(TOKEN));
    assert_eq!((code, out.as_str()), (Some(128), ""), "{err}");
}
