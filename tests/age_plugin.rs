//! age plugins: a plugin speaking the C2SP age-plugin protocol (tests/common/
//! age_plugin_sigiltest.py, installed on PATH as `age-plugin-sigiltest`) used by the real `age`
//! CLI, the real sops 3.11 and sigil, in every direction.
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;

const PLAIN: &str = "db:\n    password: s3cr3t\n";

/// Installs the plugin into the scratch `bin/` (first on PATH for `s.cmd`) and makes a key:
/// (identity file, recipient).
fn plugin_key(s: &Scratch) -> (std::path::PathBuf, String) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/age_plugin_sigiltest.py");
    let bin = s.write("bin/age-plugin-sigiltest", &std::fs::read(src).unwrap());
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = s.cmd(std::process::Command::new("age-plugin-sigiltest"));
    c.arg("--generate");
    let out = ok(c);
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    let identity = lines.next().unwrap().to_string();
    let recipient = lines.next().unwrap().to_string();
    assert!(
        identity.starts_with("AGE-PLUGIN-SIGILTEST-1") && recipient.starts_with("age1sigiltest1")
    );
    (
        s.write(
            "plugin-id.txt",
            format!("# a plugin identity\n{identity}\n").as_bytes(),
        ),
        recipient,
    )
}

#[test]
fn a_plugin_key_works_with_age_sops_and_sigil() {
    let s = Scratch::new();
    let (id, recipient) = plugin_key(&s);
    // The real age CLI: the plugin speaks the protocol.
    let plain = s.write("p.txt", b"hello\n");
    let mut c = s.cmd(std::process::Command::new("age"));
    c.args(["-r", &recipient, "-o"])
        .arg(s.path("p.age"))
        .arg(&plain);
    ok(c);
    let mut c = s.cmd(std::process::Command::new("age"));
    c.arg("-d").arg("-i").arg(&id).arg(s.path("p.age"));
    assert_eq!(ok(c), b"hello\n");
    // sops and sigil, both ways; the (X25519) age key next to it in a key group keeps working.
    let (x_id, x_recipient) = s.age_key("x25519.txt");
    let file = s.write("app.yaml", PLAIN.as_bytes());
    for tool in ["sops", "sigil"] {
        let mut c = s.cmd(if tool == "sops" { sops() } else { sigil() });
        c.args(["encrypt", "--age", &format!("{recipient},{x_recipient}")])
            .arg(&file);
        let enc = s.write(&format!("{tool}.yaml"), &ok(c));
        for reader in ["sops", "sigil"] {
            for key in [&id, &x_id] {
                let mut c = s.cmd(if reader == "sops" { sops() } else { sigil() });
                c.env("SOPS_AGE_KEY_FILE", key).arg("decrypt").arg(&enc);
                assert_eq!(
                    String::from_utf8_lossy(&ok(c)),
                    PLAIN,
                    "{tool} → {reader} with {}",
                    key.display()
                );
            }
        }
    }
    // Without the plugin on PATH: a clear refusal, 128, nothing printed.
    let enc = s.path("sigil.yaml");
    let mut c = sigil();
    c.env("HOME", s.path("home"))
        .env("PATH", "/usr/bin:/bin")
        .env("SOPS_AGE_KEY_FILE", &id)
        .arg("decrypt")
        .arg(&enc);
    let out = run(c);
    assert_eq!(out.status.code(), Some(128));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sigiltest"), "{err}");
}
