//! Bad input and tampering: each refused with its own exit code, no panic, no output.

mod common;

use common::*;

/// Encrypts `plain` with sops and returns (scratch, identity, encrypted text).
fn sops_file(plain: &str) -> (Scratch, std::path::PathBuf, String) {
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    let f = s.write("f.yaml", plain.as_bytes());
    let mut c = s.cmd(sops());
    c.args(["encrypt", "--age", &recipient]).arg(&f);
    let text = String::from_utf8(ok(c)).unwrap();
    (s, id, text)
}

fn sigil_decrypt(s: &Scratch, id: &std::path::Path, text: &str) -> (Option<i32>, Vec<u8>, String) {
    let f = s.write("t.yaml", text.as_bytes());
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", id).arg("decrypt").arg(&f);
    let out = run(c);
    (
        out.status.code(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn line_with<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(key))
        .unwrap_or_else(|| panic!("no line {key}"))
}

#[test]
fn tampering_is_refused_with_the_right_code() {
    let (s, id, text) =
        sops_file("# note\na: alpha\nb: bravo\nplain_unencrypted: visible\nn: 12\n");
    let a = line_with(&text, "a: ").to_string();
    let b = line_with(&text, "b: ").to_string();
    let cases: Vec<(&str, String, i32)> = vec![
        // value ciphertext changed → authentication fails
        (
            "ciphertext",
            text.replacen(&a, &a.replacen("data:", "data:A", 1), 1),
            25,
        ),
        // swapped values → AAD mismatch
        (
            "swap",
            text.replacen(&a, "a: __A__", 1)
                .replacen(&b, &a.replacen("a: ", "b: ", 1), 1)
                .replacen("a: __A__", &b.replacen("b: ", "a: ", 1), 1),
            25,
        ),
        // unencrypted value changed → MAC
        (
            "plain value",
            text.replacen(
                "plain_unencrypted: visible",
                "plain_unencrypted: visiblE",
                1,
            ),
            51,
        ),
        // lastmodified changed → MAC cannot be decrypted
        (
            "lastmodified",
            {
                let lm = line_with(&text, "lastmodified:").to_string();
                text.replacen(&lm, "    lastmodified: \"2001-01-01T00:00:00Z\"", 1)
            },
            51,
        ),
        // MAC replaced by another value's ciphertext
        (
            "mac",
            {
                let mac = line_with(&text, "mac:").to_string();
                text.replacen(
                    &mac,
                    &format!("    mac: {}", a.trim_start().trim_start_matches("a: ")),
                    1,
                )
            },
            51,
        ),
        // type tag changed where the bytes do not parse as the new type
        (
            "type tag",
            text.replacen(&a, &a.replacen("type:str", "type:int", 1), 1),
            25,
        ),
        // encrypted comment altered → sigil refuses (sops only warns)
        (
            "comment",
            {
                let c = line_with(&text, "#ENC[").to_string();
                text.replacen(&c, &c.replacen("data:", "data:A", 1), 1)
            },
            50,
        ),
        // plaintext where a value must be encrypted
        ("plaintext value", text.replacen(&a, "a: alpha", 1), 25),
    ];
    for (what, tampered, code) in cases {
        let (got, stdout, stderr) = sigil_decrypt(&s, &id, &tampered);
        assert_eq!(got, Some(code), "{what}: {stderr}");
        assert!(stdout.is_empty(), "{what}: no plaintext may be printed");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
    // The untouched file decrypts.
    let (got, _, stderr) = sigil_decrypt(&s, &id, &text);
    assert_eq!(got, Some(0), "{stderr}");
}

#[test]
fn iv_and_tag_changes_are_refused() {
    let (s, id, text) = sops_file("a: alpha\n");
    let a = line_with(&text, "a: ").to_string();
    let iv = a
        .split(",iv:")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let mut bad_iv = iv.clone().into_bytes();
    bad_iv[0] = if bad_iv[0] == b'A' { b'B' } else { b'A' };
    let tampered = text.replacen(&iv, std::str::from_utf8(&bad_iv).unwrap(), 1);
    assert_eq!(sigil_decrypt(&s, &id, &tampered).0, Some(25));
    let tag = a
        .split(",tag:")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let mut bad_tag = tag.clone().into_bytes();
    bad_tag[0] = if bad_tag[0] == b'A' { b'B' } else { b'A' };
    let tampered = text.replacen(&tag, std::str::from_utf8(&bad_tag).unwrap(), 1);
    assert_eq!(sigil_decrypt(&s, &id, &tampered).0, Some(25));
}

#[test]
fn multi_document_with_different_sops_blocks_is_refused() {
    let (s, id, text) = sops_file("a: 1\n---\nb: 2\n");
    let docs: Vec<&str> = text.split("\n---\n").collect();
    assert_eq!(docs.len(), 2);
    let lm = line_with(docs[1], "lastmodified:").to_string();
    let second = docs[1].replacen(&lm, "    lastmodified: \"2001-01-01T00:00:00Z\"", 1);
    let (code, out, err) = sigil_decrypt(&s, &id, &format!("{}\n---\n{}", docs[0], second));
    assert_eq!(code, Some(50), "{err}");
    assert!(out.is_empty());
}

#[test]
fn bad_input_gets_distinct_codes() {
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    let enc = |name: &str, data: &[u8]| {
        let f = s.write(name, data);
        let mut c = s.cmd(sigil());
        c.args(["encrypt", "--age", &recipient]).arg(&f);
        run(c)
    };
    assert_eq!(enc("empty.yaml", b"").status.code(), Some(92));
    assert_eq!(enc("dup.yaml", b"a: 1\na: 2\n").status.code(), Some(2));
    assert_eq!(
        enc("dup.json", b"{\"a\": 1, \"a\": 2}").status.code(),
        Some(2)
    );
    assert_eq!(enc("dup.env", b"A=1\nA=2\n").status.code(), Some(2));
    assert_eq!(
        enc("dup.ini", b"[s]\na = 1\na = 2\n").status.code(),
        Some(2)
    );
    assert_eq!(enc("bad.json", b"{\"a\": }").status.code(), Some(2));
    assert_eq!(enc("bad.env", b"no equals sign\n").status.code(), Some(2));
    // As sops 3.11: a blank dotenv file encrypts (to a file of metadata only).
    assert_eq!(enc("blank.env", b"\n\n").status.code(), Some(0));
    assert_eq!(enc("bad.yaml", b"a: [1, 2\n").status.code(), Some(2));
    assert_eq!(enc("list.yaml", b"- a\n- b\n").status.code(), Some(2));
    assert_eq!(
        enc(
            "huge.yaml",
            b"n: 99999999999999999999\nm: 9223372036854775808\n"
        )
        .status
        .code(),
        Some(23)
    );
    assert_eq!(enc("key.yaml", b"true: 1\n").status.code(), Some(23));
    let missing = s.path("missing.yaml");
    let mut c = s.cmd(sigil());
    c.args(["encrypt", "--age", &recipient]).arg(&missing);
    assert_eq!(run(c).status.code(), Some(100));
    // Already encrypted → 203.
    let out = enc("ok.yaml", b"a: 1\n");
    assert!(out.status.success());
    let encrypted = s.write("ok.enc.yaml", &out.stdout);
    let mut c = s.cmd(sigil());
    c.args(["encrypt", "--age", &recipient]).arg(&encrypted);
    assert_eq!(run(c).status.code(), Some(203));
    // Not a sops file → 1; no key → 128; empty → 92; wrong flags → 8.
    let plain = s.write("plain.yaml", b"a: 1\n");
    let mut c = s.cmd(sigil());
    c.arg("decrypt").arg(&plain);
    assert_eq!(run(c).status.code(), Some(1));
    let mut c = s.cmd(sigil());
    c.arg("decrypt").arg(&encrypted);
    let out = run(c);
    assert_eq!(out.status.code(), Some(128));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Group 0: FAILED"));
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", &id)
        .args(["decrypt", "-i", "--output", "x"])
        .arg(&encrypted);
    assert_eq!(run(c).status.code(), Some(8));
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", &id)
        .args(["decrypt", "--extract", "[oops"])
        .arg(&encrypted);
    assert_eq!(run(c).status.code(), Some(91));
}

#[test]
fn decrypted_output_file_is_0600_and_in_place_keeps_mode() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    let f = s.write("f.yaml", b"a: 1\n");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut c = s.cmd(sigil());
    c.args(["encrypt", "-i", "--age", &recipient]).arg(&f);
    ok(c);
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let out = s.path("out.yaml");
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", &id)
        .arg("decrypt")
        .arg("--output")
        .arg(&out)
        .arg(&f);
    ok(c);
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"a: 1\n");
    // A failed decryption leaves no output file behind.
    let bad = s.write(
        "bad.yaml",
        &std::fs::read(&f)
            .unwrap()
            .iter()
            .map(|&b| if b == b'Z' { b'z' } else { b })
            .collect::<Vec<_>>(),
    );
    let out2 = s.path("out2.yaml");
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", &id)
        .arg("decrypt")
        .arg("--output")
        .arg(&out2)
        .arg(&bad);
    let _ = run(c);
    assert!(!out2.exists());
}

#[test]
fn set_unset_rotate_edit_and_exec() {
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    let f = s.write("f.yaml", b"a: 1\nb:\n    c: two\n");
    let mut c = s.cmd(sigil());
    c.args(["encrypt", "-i", "--age", &recipient]).arg(&f);
    ok(c);
    let with_key = |mut c: std::process::Command| {
        c.env("SOPS_AGE_KEY_FILE", &id);
        c
    };
    let mut c = s.cmd(with_key(sigil()));
    c.arg("set").arg(&f).arg(r#"["b"]["d"]"#).arg(r#""new""#);
    ok(c);
    let mut c = s.cmd(with_key(sigil()));
    c.arg("unset").arg(&f).arg(r#"["a"]"#);
    ok(c);
    let mut c = s.cmd(with_key(sops()));
    c.arg("decrypt").arg(&f);
    assert_eq!(ok(c), b"b:\n    c: two\n    d: new\n");
    let mut c = s.cmd(with_key(sigil()));
    c.arg("unset").arg(&f).arg(r#"["zz"]"#);
    assert_eq!(run(c).status.code(), Some(1));
    // rotate: new data key, sops still decrypts.
    let before = std::fs::read_to_string(&f).unwrap();
    let mut c = s.cmd(with_key(sigil()));
    c.args(["rotate", "-i"]).arg(&f);
    ok(c);
    let after = std::fs::read_to_string(&f).unwrap();
    assert_ne!(before, after);
    let mut c = s.cmd(with_key(sops()));
    c.arg("decrypt").arg(&f);
    assert_eq!(ok(c), b"b:\n    c: two\n    d: new\n");
    // edit with an editor that changes nothing → 200; with one that edits → re-encrypted.
    let mut c = s.cmd(with_key(sigil()));
    c.env("EDITOR", "true").arg("edit").arg(&f);
    assert_eq!(run(c).status.code(), Some(200));
    let script = s.write("ed.sh", b"#!/bin/sh\nsed -i 's/two/three/' \"$1\"\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = s.cmd(with_key(sigil()));
    c.env("EDITOR", &script).arg("edit").arg(&f);
    ok(c);
    let mut c = s.cmd(with_key(sops()));
    c.arg("decrypt").arg(&f);
    assert_eq!(ok(c), b"b:\n    c: three\n    d: new\n");
    // an editor that breaks the file: refused, file untouched
    let breaker = s.write("break.sh", b"#!/bin/sh\nprintf 'a: [\\n' > \"$1\"\n");
    std::fs::set_permissions(&breaker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = std::fs::read(&f).unwrap();
    let mut c = s.cmd(with_key(sigil()));
    c.env("EDITOR", &breaker).arg("edit").arg(&f);
    assert_eq!(run(c).status.code(), Some(1));
    assert_eq!(std::fs::read(&f).unwrap(), before);
    // a new file starts from sops's example document
    let fresh = s.path("fresh.yaml");
    let mut c = s.cmd(with_key(sigil()));
    c.env("EDITOR", "true")
        .args(["edit", "--age", &recipient])
        .arg(&fresh);
    ok(c);
    let mut c = s.cmd(with_key(sops()));
    c.arg("decrypt").arg(&fresh);
    assert!(
        String::from_utf8(ok(c))
            .unwrap()
            .starts_with("hello: Welcome to SOPS!")
    );
    // exec-env and exec-file
    let g = s.write("env.yaml", b"TOKEN: s3cret\nPORT: 8080\n");
    let mut c = s.cmd(sigil());
    c.args(["encrypt", "-i", "--age", &recipient]).arg(&g);
    ok(c);
    let mut c = s.cmd(with_key(sigil()));
    c.arg("exec-env").arg(&g).arg("echo $TOKEN:$PORT; exit 7");
    let out = run(c);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stdout, b"s3cret:8080\n");
    let mut c = s.cmd(with_key(sigil()));
    c.arg("exec-file").arg(&g).arg("cat {}");
    assert_eq!(ok(c), b"TOKEN: s3cret\nPORT: 8080\n");
    let mut c = s.cmd(sigil());
    c.arg("filestatus").arg(&g);
    assert_eq!(ok(c), b"{\"encrypted\":true}\n");
}

#[test]
fn check_secrets_finds_plaintext() {
    let s = Scratch::new();
    let (_id, recipient) = s.age_key("key.txt");
    s.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: {recipient}\n")
            .as_bytes(),
    );
    let good = s.write("secrets/good.yaml", b"password: one\n");
    let mut c = s.cmd(sigil());
    c.args(["encrypt", "-i"]).arg(&good);
    ok(c);
    s.write("secrets/plain.yaml", b"password: two\n");
    s.write(
        "manifests/secret.yaml",
        b"apiVersion: v1\nkind: Secret\nmetadata:\n    name: x\ndata:\n    token: c2VjcmV0\n",
    );
    s.write(
        "manifests/config.yaml",
        b"apiVersion: v1\nkind: ConfigMap\ndata:\n    a: b\n",
    );
    let mut c = s.cmd(sigil());
    c.args(["check", "secrets", "secrets", "manifests"]);
    let out = run(c);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("secrets/plain.yaml"), "{text}");
    assert!(
        text.contains("manifests/secret.yaml") && text.contains("token"),
        "{text}"
    );
    assert!(
        !text.contains("good.yaml") && !text.contains("config.yaml"),
        "{text}"
    );
    let mut c = s.cmd(sigil());
    c.args([
        "check",
        "secrets",
        "secrets/good.yaml",
        "manifests/config.yaml",
    ]);
    assert_eq!(run(c).status.code(), Some(0));
}

/// `check secrets` on a repository like the real home-ops ones: a catch-all `path_regex` that
/// also matches `.sops.yaml`, and rules with cloud KMS keys sigil cannot use. Checking needs no
/// key, so neither stops it; the plaintext Secret is still reported.
#[test]
fn check_secrets_ignores_its_config_and_unusable_key_types() {
    let s = Scratch::new();
    let (_id, recipient) = s.age_key("key.txt");
    s.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: gcp/.*\n    gcp_kms: projects/p/locations/global/keyRings/r/cryptoKeys/k\n  - path_regex: azure/.*\n    azure_keyvault: https://v.vault.azure.net/keys/k/1\n  - path_regex: .*\\.ya?ml\n    encrypted_regex: ^(data|stringData)$\n    age: {recipient}\n"
        )
        .as_bytes(),
    );
    let good = s.write(
        "apps/secret.yaml",
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: a}\nstringData: {password: one}\n",
    );
    let mut c = s.cmd(sigil());
    c.args(["encrypt", "-i"]).arg(&good);
    ok(c);
    s.write(
        "apps/plain.yaml",
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: b}\nstringData: {password: two}\n",
    );
    let mut c = s.cmd(sigil());
    c.args(["check", "secrets", "."]);
    let out = run(c);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("apps/plain.yaml"), "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("./.sops.yaml") || l.starts_with(".sops.yaml")),
        "{text}"
    );
    assert!(!text.contains("apps/secret.yaml"), "{text}");
    // Encrypting with the gcp rule still says which key type is missing (exit 5).
    let f = s.write("gcp/x.yaml", b"a: b\n");
    let mut c = s.cmd(sigil());
    c.args(["encrypt"]).arg(&f);
    let out = run(c);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gcp_kms"));
}

#[test]
fn updatekeys_and_extract() {
    let s = Scratch::new();
    let (id1, r1) = s.age_key("k1.txt");
    let (id2, r2) = s.age_key("k2.txt");
    s.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {r1}\n").as_bytes(),
    );
    let f = s.write(
        "f.yaml",
        b"db:\n    password: hunter2\n    port: 5432\nlist: [a, b]\n",
    );
    let mut c = s.cmd(sigil());
    c.args(["encrypt", "-i"]).arg(&f);
    ok(c);
    let before = std::fs::read_to_string(&f).unwrap();
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", &id2).arg("decrypt").arg(&f);
    assert_eq!(run(c).status.code(), Some(128));
    // Add a recipient in .sops.yaml, apply it: values, MAC and lastmodified stay as they were.
    s.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {r1},{r2}\n").as_bytes(),
    );
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", &id1)
        .args(["updatekeys", "-y"])
        .arg(&f);
    ok(c);
    let after = std::fs::read_to_string(&f).unwrap();
    let pick = |t: &str, k: &str| {
        t.lines()
            .filter(|l| l.contains(k))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    for k in ["password:", "port:", "lastmodified:", "mac:"] {
        assert_eq!(pick(&before, k), pick(&after, k), "{k} must not change");
    }
    let mut c = s.cmd(sops());
    c.env("SOPS_AGE_KEY_FILE", &id2).arg("decrypt").arg(&f);
    assert_eq!(
        ok(c),
        b"db:\n    password: hunter2\n    port: 5432\nlist:\n    - a\n    - b\n"
    );
    // --extract prints a string raw, other values via the store, maps as documents.
    let extract = |path: &str| {
        let mut c = s.cmd(sigil());
        c.env("SOPS_AGE_KEY_FILE", &id2)
            .args(["decrypt", "--extract", path])
            .arg(&f);
        ok(c)
    };
    assert_eq!(extract(r#"["db"]["password"]"#), b"hunter2");
    assert_eq!(extract(r#"["db"]["port"]"#), b"5432\n");
    assert_eq!(extract(r#"["db"]"#), b"password: hunter2\nport: 5432\n");
    assert_eq!(extract(r#"["list"][1]"#), b"b");
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", &id2)
        .args(["decrypt", "--extract", r#"["nope"]"#])
        .arg(&f);
    assert_eq!(
        run(c).status.code(),
        Some(1),
        "missing component: exit 1 like sops"
    );
}

/// The classic spelling where sops 3.11 only warns and carries on, surprising its user:
/// sigil refuses (exit 8; 1 for what it cannot do) before touching anything.
#[test]
fn classic_spelling_refuses_what_sops_silently_ignores() {
    let (s, id, text) = sops_file("a: alpha\n");
    let (_, recipient) = s.age_key("other.txt");
    // (arguments, sigil's exit code, what sops 3.11 does instead)
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["-d", "-r", "enc.yaml"],
            8,
            "rotates, prints the rotated file",
        ),
        (
            &["-e", "-d", "enc.yaml"],
            8,
            "runs both, keeps the last output",
        ),
        (
            &["-d", "enc.yaml", "-i"],
            8,
            "ignores -i, prints the plaintext",
        ),
        (
            &["-e", "-i", "--age", &recipient, "a.yaml", "b.yaml"],
            8,
            "encrypts a.yaml only",
        ),
        (
            &["--set", r#"["a"] 1"#, "--output", "x.yaml", "enc.yaml"],
            8,
            "rewrites enc.yaml",
        ),
        (
            &["--output", "x.yaml", "enc.yaml"],
            8,
            "edits enc.yaml in place",
        ),
        (
            &["-e", "--kms", "arn:aws:kms:eu-west-1:1:key/k", "a.yaml"],
            1,
            "uses AWS KMS",
        ),
        (
            &["-r", "-i", "--add-gcp-kms", "projects/p/k", "enc.yaml"],
            1,
            "uses GCP KMS",
        ),
        (
            &["-d", "--keyservice", "tcp://localhost:5000", "enc.yaml"],
            1,
            "asks a key service",
        ),
        (
            &["-s", "enc.yaml"],
            1,
            "shows the master keys in the editor",
        ),
    ];
    for (args, code, _sops_instead) in cases {
        let enc = s.write("enc.yaml", text.as_bytes());
        let a = s.write("a.yaml", b"a: 1\n");
        let b = s.write("b.yaml", b"b: 2\n");
        let mut c = s.cmd(sigil());
        c.env("SOPS_AGE_KEY_FILE", &id)
            .env("EDITOR", "true")
            .args(*args);
        let out = run(c);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr.starts_with("sigil: error: "), "{args:?}: {stderr}");
        assert_eq!(std::fs::read_to_string(&enc).unwrap(), text, "{args:?}");
        assert_eq!(std::fs::read(&a).unwrap(), b"a: 1\n", "{args:?}");
        assert_eq!(std::fs::read(&b).unwrap(), b"b: 2\n", "{args:?}");
        assert!(!s.path("x.yaml").exists(), "{args:?}");
    }
}

/// Where sigil and sops 3.11 must agree on exit codes and values (issue 11's parity list):
/// empty, blank and comment-only inputs, `!!binary` values, a first-document MAC failure of a
/// multi-document file, and empty SOPS_*/SIGIL_* variables.
#[test]
fn parity_with_sops_on_edge_inputs() {
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    let both =
        |name: &str, args: &[&str], input: &[u8]| -> (Option<i32>, Option<i32>, Vec<u8>, Vec<u8>) {
            let f = s.write(name, input);
            let mut a = s.cmd(sops());
            a.env("SOPS_AGE_KEY_FILE", &id).args(args).arg(&f);
            let mut b = s.cmd(sigil());
            b.env("SOPS_AGE_KEY_FILE", &id).args(args).arg(&f);
            let (a, b) = (run(a), run(b));
            (a.status.code(), b.status.code(), a.stdout, b.stdout)
        };
    let enc = ["encrypt", "--age", recipient.as_str()];
    for (name, input, code) in [
        ("empty.yaml", &b""[..], 92),
        ("blank.yaml", b"\n\n", 2),
        ("comment.yaml", b"# only a comment\n", 2),
        ("comments.yaml", b"# one\n\n# two\n", 2),
        ("blank.json", b"\n", 2),
        ("blank.env", b"\n", 0),
        ("empty.env", b"", 0),
        ("empty.json", b"", 2),
    ] {
        let (a, b, _, out) = both(name, &enc, input);
        assert_eq!((a, b), (Some(code), Some(code)), "{name}");
        if code != 0 {
            assert!(out.is_empty(), "{name}");
        }
    }
    // !!binary: sops encrypts the decoded bytes; both read each other's files the same.
    let binary = b"a: !!binary aGVsbG8=\nraw: !!binary /w==\nb: x\n";
    let (_, _, by_sops, by_sigil) = both("bin.yaml", &enc, binary);
    for (who, file) in [("sops", by_sops), ("sigil", by_sigil)] {
        let (a, b, x, y) = both(&format!("bin-{who}.enc.yaml"), &["decrypt"], &file);
        assert_eq!((a, b), (Some(0), Some(0)), "{who}");
        assert_eq!(
            String::from_utf8_lossy(&x),
            String::from_utf8_lossy(&y),
            "{who}"
        );
        assert!(
            String::from_utf8_lossy(&y).starts_with("a: hello\n"),
            "{who}"
        );
    }
    // A multi-document file: a changed MAC in the first document is sops's 51; one in a later
    // document sops ignores (0), sigil refuses (50, stricter on purpose).
    let (_, _, multi, _) = both("multi.yaml", &enc, b"a: 1\nb: two\n---\nc: 3\n");
    let text = String::from_utf8(multi).unwrap();
    let tweak = |doc: &str| {
        let at = doc.find("mac: ENC[AES256_GCM,data:").unwrap() + "mac: ENC[AES256_GCM,data:".len();
        let c = if &doc[at..at + 1] == "A" { "B" } else { "A" };
        format!("{}{c}{}", &doc[..at], &doc[at + 1..])
    };
    let docs: Vec<&str> = text.split("\n---\n").collect();
    assert_eq!(docs.len(), 2);
    let first = format!("{}\n---\n{}", tweak(docs[0]), docs[1]);
    let later = format!("{}\n---\n{}", docs[0], tweak(docs[1]));
    let (a, b, _, out) = both("first.enc.yaml", &["decrypt"], first.as_bytes());
    assert_eq!((a, b), (Some(51), Some(51)));
    assert!(out.is_empty());
    let (a, b, _, out) = both("later.enc.yaml", &["decrypt"], later.as_bytes());
    assert_eq!((a, b), (Some(0), Some(50)));
    assert!(out.is_empty());
    // Empty variables count as unset.
    let f = s.write("ok.enc.yaml", text.as_bytes());
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", &id)
        .env("SIGIL_PGP_KEY_FILES", "")
        .env("SOPS_PGP_FP", "")
        .env("SOPS_DECRYPTION_ORDER", "")
        .arg("decrypt")
        .arg(&f);
    let out = run(c);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
