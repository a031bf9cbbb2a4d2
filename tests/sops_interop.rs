//! Interop with the real sops 3.11 binary, in both directions, with keys made at test time.

mod common;

use common::*;

const SAMPLE: &str = include_str!("fixtures/sample.yaml");

/// (a) sops encrypts → sigil decrypts byte-identically; (b) sigil encrypts → sops decrypts to
/// the same bytes, and the independent checker accepts the file.
fn both_directions(name: &str, plain: &[u8], extra: &[&str]) {
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    let f = s.write(name, plain);

    let mut c = s.cmd(sops());
    c.args(["encrypt", "--age", &recipient]).args(extra).arg(&f);
    let by_sops = s.write(&format!("sops.{name}"), &ok(c));
    let mut c = s.cmd(sops());
    c.env("SOPS_AGE_KEY_FILE", &id).arg("decrypt").arg(&by_sops);
    let want = ok(c);
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", &id).arg("decrypt").arg(&by_sops);
    let got = ok(c);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want),
        "sigil decrypt of sops's {name}"
    );

    let mut c = s.cmd(sigil());
    c.args(["encrypt", "--age", &recipient]).args(extra).arg(&f);
    let by_sigil = s.write(&format!("sigil.{name}"), &ok(c));
    let mut c = s.cmd(sops());
    c.env("SOPS_AGE_KEY_FILE", &id)
        .arg("decrypt")
        .arg(&by_sigil);
    let sops_view = ok(c);
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", &id)
        .arg("decrypt")
        .arg(&by_sigil);
    let sigil_view = ok(c);
    assert_eq!(
        String::from_utf8_lossy(&sops_view),
        String::from_utf8_lossy(&sigil_view),
        "sops decrypt of sigil's {name}"
    );
    assert_eq!(
        String::from_utf8_lossy(&sops_view),
        String::from_utf8_lossy(&want),
        "same plaintext either way for {name}"
    );
    if extra.is_empty() {
        sops_check_age(&by_sigil, &id);
    }
}

#[test]
fn yaml_sample_with_comments_types_lists() {
    both_directions("sample.yaml", SAMPLE.as_bytes(), &[]);
}

#[test]
fn yaml_unicode_multiline_large() {
    let big = "x".repeat(200_000);
    let text = format!(
        "# über-comment\nunicode: \"héllo wörld 日本語\"\nemoji: \"smile \\U0001F600\"\nml: |\n    line one\n      indented\n\n    after blank\nstrip: |-\n    no newline\nlead: \"  spaced  \"\ntab: \"a\\tb\"\nquote: \"it's \\\"q\\\"\"\nbig: {big}\nlist:\n    # first\n    - a\n    # between\n    - b: 1\n      c: [x, y]\n    - - nested\n      - list\n"
    );
    both_directions("u.yaml", text.as_bytes(), &[]);
}

/// Values of 1 MiB and more are hashed on a second thread while they are encrypted; the MAC
/// must still cover every value in order, as sops computes it.
#[test]
fn yaml_values_above_the_parallel_hash_threshold() {
    let text = format!(
        "a: small\nbig1: {}\nb: 2\nbig2: {}\nc: [x, y]\n",
        "q".repeat(1_500_000),
        "r".repeat(1 << 20)
    );
    both_directions("huge.yaml", text.as_bytes(), &[]);
}

#[test]
fn yaml_multi_document_and_scalars() {
    let text = "a: 1\nb: 0x1F\nc: 1e3\nd: 2024-01-01\ne: ~\nf: .inf\ng: yes\nh: \"123\"\n---\n# second\nkind: Secret\nstringData:\n    password: hunter2\n";
    both_directions("multi.yaml", text.as_bytes(), &[]);
}

#[test]
fn yaml_anchors_and_merge_keys() {
    let text = "base: &b\n    x: 1\n    y: two\nderived:\n    <<: *b\n    z: 3\nlist: &l [1, 2]\ncopy: *l\n";
    both_directions("anchors.yaml", text.as_bytes(), &[]);
}

#[test]
fn selection_options() {
    let text = "user: admin\npassword: s3cr3t\ndata_enc: v1\nplain_unencrypted: keep\nnested:\n    password: p2\n    note: n\n";
    for extra in [
        &["--encrypted-regex", "^pass"][..],
        &["--unencrypted-regex", "^user$"],
        &["--encrypted-suffix", "_enc"],
        &["--unencrypted-suffix", "_unencrypted"],
    ] {
        both_directions("sel.yaml", text.as_bytes(), extra);
    }
}

#[test]
fn mac_only_encrypted_and_comment_regex_via_config() {
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    s.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: maconly\\.yaml$\n    age: {recipient}\n    mac_only_encrypted: true\n    encrypted_regex: ^secret\n  - path_regex: cre\\.yaml$\n    age: {recipient}\n    encrypted_comment_regex: sops:enc\n  - path_regex: ucre\\.yaml$\n    age: {recipient}\n    unencrypted_comment_regex: sops:enc\n").as_bytes(),
    );
    for name in ["maconly.yaml", "cre.yaml", "ucre.yaml"] {
        let f = s.write(
            name,
            b"plain: 1\nsecret: two\n# sops:enc\nguarded: three\nafter: four\n",
        );
        let mut c = s.cmd(sigil());
        c.arg("encrypt").arg(&f);
        let enc = s.write(&format!("enc.{name}"), &ok(c));
        let mut c = s.cmd(sops());
        c.env("SOPS_AGE_KEY_FILE", &id).arg("decrypt").arg(&enc);
        let by_sops = ok(c);
        let mut c = s.cmd(sigil());
        c.env("SOPS_AGE_KEY_FILE", &id).arg("decrypt").arg(&enc);
        assert_eq!(ok(c), by_sops, "{name}");
        let mut c = s.cmd(sops());
        c.arg("encrypt").arg(&f);
        let enc2 = s.write(&format!("sops.{name}"), &ok(c));
        let mut c = s.cmd(sigil());
        c.env("SOPS_AGE_KEY_FILE", &id).arg("decrypt").arg(&enc2);
        assert_eq!(ok(c), by_sops, "{name} from sops");
    }
}

#[test]
fn two_recipients_and_shamir_two_of_three() {
    let s = Scratch::new();
    let (id1, r1) = s.age_key("k1.txt");
    let (id2, r2) = s.age_key("k2.txt");
    let (id3, r3) = s.age_key("k3.txt");
    // Two recipients in one group: either key alone decrypts.
    let f = s.write("two.yaml", b"a: secret\n");
    let mut c = s.cmd(sigil());
    c.args(["encrypt", "--age", &format!("{r1},{r2}")]).arg(&f);
    let enc = s.write("two.enc.yaml", &ok(c));
    for id in [&id1, &id2] {
        let mut c = s.cmd(sops());
        c.env("SOPS_AGE_KEY_FILE", id).arg("decrypt").arg(&enc);
        assert_eq!(ok(c), b"a: secret\n");
    }
    // Three groups, threshold 2, written by sigil and by sops; decrypt with one key missing.
    s.write(
        ".sops.yaml",
        format!("creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{r1}]\n      - age: [{r2}]\n      - age: [{r3}]\n").as_bytes(),
    );
    let f = s.write("shamir.yaml", b"db:\n    password: hunter2\n");
    let both = s.write(
        "both.txt",
        format!(
            "{}\n{}",
            std::fs::read_to_string(&id1).unwrap(),
            std::fs::read_to_string(&id3).unwrap()
        )
        .as_bytes(),
    );
    for tool in ["sigil", "sops"] {
        let mut c = s.cmd(if tool == "sigil" { sigil() } else { sops() });
        c.arg("encrypt").arg(&f);
        let enc = s.write(&format!("shamir.{tool}.yaml"), &ok(c));
        for reader in ["sigil", "sops"] {
            let mut c = s.cmd(if reader == "sigil" { sigil() } else { sops() });
            c.env("SOPS_AGE_KEY_FILE", &both).arg("decrypt").arg(&enc);
            assert_eq!(ok(c), b"db:\n    password: hunter2\n", "{tool} → {reader}");
        }
        // Only one group's key: quorum not reached, exit 128.
        let mut c = s.cmd(sigil());
        c.env("SOPS_AGE_KEY_FILE", &id2).arg("decrypt").arg(&enc);
        assert_eq!(run(c).status.code(), Some(128));
    }
}

#[test]
fn age_over_ssh_ed25519_and_rsa() {
    for kind in ["ed25519", "rsa"] {
        let s = Scratch::new();
        let key = s.path(&format!("id_{kind}"));
        let out = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-C", "t", "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success());
        let recipient = std::fs::read_to_string(key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string();
        let f = s.write("s.yaml", b"token: abc\n");
        for (enc_tool, dec_tool) in [("sops", "sigil"), ("sigil", "sops")] {
            let mut c = s.cmd(if enc_tool == "sigil" { sigil() } else { sops() });
            c.args(["encrypt", "--age", &recipient]).arg(&f);
            let enc = s.write(&format!("s.{enc_tool}.yaml"), &ok(c));
            let mut c = s.cmd(if dec_tool == "sigil" { sigil() } else { sops() });
            c.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", &key)
                .arg("decrypt")
                .arg(&enc);
            assert_eq!(ok(c), b"token: abc\n", "{kind}: {enc_tool} → {dec_tool}");
        }
        // ~/.ssh/id_<kind> is found without any variable, as sops does.
        std::fs::create_dir_all(s.path("home/.ssh")).unwrap();
        std::fs::copy(&key, s.path(&format!("home/.ssh/id_{kind}"))).unwrap();
        let mut c = s.cmd(sigil());
        c.arg("decrypt").arg(s.path("s.sops.yaml"));
        assert_eq!(ok(c), b"token: abc\n", "{kind}: default ~/.ssh key");
    }
}

#[test]
fn openpgp_ed25519_and_rsa_in_process() {
    for algo in ["ed25519", "rsa3072"] {
        let s = Scratch::new();
        let (fp, sec, public) = s.pgp_key(&format!("{algo}@example.com"), algo);
        let f = s.write("p.yaml", b"password: pgp-secret\n");
        // sops (gpg) encrypts → sigil decrypts in process from the exported secret key.
        let mut c = s.cmd(sops());
        c.args(["encrypt", "--pgp", &fp]).arg(&f);
        let enc = s.write("p.sops.yaml", &ok(c));
        let mut c = s.cmd(sigil());
        c.env("GNUPGHOME", s.path("no-gnupg"))
            .arg("decrypt")
            .arg("--pgp-key-file")
            .arg(&sec)
            .arg(&enc);
        assert_eq!(ok(c), b"password: pgp-secret\n", "{algo}: sops → sigil");
        // sigil encrypts in process to the public key → sops decrypts with gpg.
        let mut c = s.cmd(sigil());
        c.args(["encrypt", "--pgp", &fp, "--pgp-key-file"])
            .arg(&public)
            .arg(&f);
        let enc = s.write("p.sigil.yaml", &ok(c));
        let mut c = s.cmd(sops());
        c.arg("decrypt").arg(&enc);
        assert_eq!(ok(c), b"password: pgp-secret\n", "{algo}: sigil → sops");
        // Without a key file sigil falls back to gpg, like sops.
        let mut c = s.cmd(sigil());
        c.arg("decrypt").arg(&enc);
        assert_eq!(ok(c), b"password: pgp-secret\n", "{algo}: gpg fallback");
    }
}

#[test]
fn json_dotenv_ini_binary_both_directions() {
    both_directions(
        "doc.json",
        br#"{"name": "demo", "port": 8080, "ratio": 0.5, "big": 123456789, "on": true, "none": null, "html": "<a&b>", "list": [1, "two", {"k": "v"}], "nested": {"password": "s3cr3t", "empty": ""}, "uni": "h\u00e9llo \ud83d\ude00"}"#,
        &[],
    );
    both_directions("app.env", b"# comment\nDB_USER=admin\nDB_PASS=s3cr3t\nexport EXP=1\nSPACED = v \nQUOTED=\"q\"\nML=line1\\nline2\n", &[]);
    both_directions(
        "conf.ini",
        b"; top comment\n[server]\nhost = example.com\n; port comment\nport = 8080\n\n[secrets]\npassword = s3cr3t\n\n[plain_unencrypted]\nnote = visible\n",
        &[],
    );
    let mut blob: Vec<u8> = (0..=255u8).collect();
    blob.extend_from_slice(b"\nbinary tail\n");
    both_directions("blob.bin", &blob, &[]);
}

#[test]
fn json_big_integers_stay_exact_unlike_sops_3_11() {
    // sops 3.11 reads every JSON number as float64 and loses digits above 2^53; sigil types
    // integers as int (like sops 3.13.2), which sops 3.11 decrypts exactly.
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    let f = s.write("big.json", b"{\"big\": 12345678901234567}");
    let mut c = s.cmd(sigil());
    c.args(["encrypt", "--age", &recipient]).arg(&f);
    let enc = s.write("big.enc.json", &ok(c));
    let mut c = s.cmd(sops());
    c.env("SOPS_AGE_KEY_FILE", &id).arg("decrypt").arg(&enc);
    assert_eq!(ok(c), b"{\n\t\"big\": 12345678901234567\n}\n");
}

#[test]
fn yaml_long_and_multiline_keys() {
    let k = "k".repeat(130);
    let text = format!(
        "short: 1\n\"{k}\": v\n\"multi\\nline\": x\nnested:\n    \"{k}\":\n        a: 1\n        b: [1, 2]\n    \"{k}{k}\":\n        - x\n"
    );
    both_directions("keys.yaml", text.as_bytes(), &[]);
}

#[test]
fn yaml_comment_layouts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/comments");
    for name in [
        "mixed",
        "foot-after-map-item",
        "dash-and-flow",
        "dedent-levels",
        "deep-end",
        "under-indented",
    ] {
        let text = std::fs::read(dir.join(format!("{name}.yaml"))).unwrap();
        both_directions(&format!("{name}.yaml"), &text, &[]);
    }
}

#[test]
fn yaml_comment_sops_cannot_read_back_is_decrypted_by_sigil() {
    // sops 3.11 encrypts this trailing comment with AAD `a:` but, reading its own file back,
    // attaches it to `a.b` and prints the ciphertext with a warning. sigil places comments by
    // indentation and decrypts it.
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    let text = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/comments/mid-end.yaml"),
    )
    .unwrap();
    let f = s.write("mid.yaml", &text);
    let mut c = s.cmd(sops());
    c.args(["encrypt", "--age", &recipient]).arg(&f);
    let enc = s.write("mid.enc.yaml", &ok(c));
    let mut c = s.cmd(sops());
    c.env("SOPS_AGE_KEY_FILE", &id).arg("decrypt").arg(&enc);
    assert!(
        String::from_utf8(ok(c)).unwrap().contains("#ENC["),
        "sops prints the ciphertext"
    );
    let mut c = s.cmd(sigil());
    c.env("SOPS_AGE_KEY_FILE", &id).arg("decrypt").arg(&enc);
    let out = String::from_utf8(ok(c)).unwrap();
    assert!(out.contains("# mid end") && !out.contains("ENC["), "{out}");
}

/// sops functional test `extract_string`: `--extract` prints a string leaf's bytes as they
/// are, no line feed added; and a block scalar ending the file without a line break is
/// chomped as YAML 1.2 (and go-yaml) says, whichever tool encrypted the file.
#[test]
fn extract_block_scalars_at_end_of_file_like_sops() {
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    for header in ["|", "|-", "|+", ">", ">+", "|2"] {
        for tail in ["", "\n", "\n\n", "\n  \n", "\nnext: 1\n"] {
            let text = format!("multiline: {header}\n  multi\n  line{tail}");
            let f = s.write("t.yaml", text.as_bytes());
            let mut encrypted = Vec::new();
            for enc_tool in ["sops", "sigil"] {
                let mut c = s.cmd(if enc_tool == "sops" { sops() } else { sigil() });
                c.args(["encrypt", "--age", &recipient]).arg(&f);
                encrypted.push((enc_tool, s.write(&format!("t.{enc_tool}.yaml"), &ok(c))));
            }
            // For --extract and for the whole file: what sops prints of the file sops
            // encrypted, and what every other pairing prints, byte for byte.
            for extract in [true, false] {
                let mut outputs = Vec::new();
                for (enc_tool, enc) in &encrypted {
                    for dec_tool in ["sops", "sigil"] {
                        let mut c = s.cmd(if dec_tool == "sops" { sops() } else { sigil() });
                        c.env("SOPS_AGE_KEY_FILE", &id).arg("decrypt");
                        if extract {
                            c.args(["--extract", r#"["multiline"]"#]);
                        }
                        c.arg(enc);
                        outputs.push((format!("{enc_tool} → {dec_tool}"), ok(c)));
                    }
                }
                let want = &outputs[0].1;
                for (what, got) in &outputs[1..] {
                    assert_eq!(
                        String::from_utf8_lossy(got),
                        String::from_utf8_lossy(want),
                        "{text:?} extract={extract}: {what} differs from sops → sops"
                    );
                }
            }
        }
    }
    // The functional test's exact bytes.
    let f = s.write("ml.yaml", b"multiline: |\n  multi\n  line");
    let mut c = s.cmd(sigil());
    c.args(["encrypt", "-i", "--age", &recipient]).arg(&f);
    ok(c);
    let mut c = s.cmd(sops());
    c.env("SOPS_AGE_KEY_FILE", &id)
        .args(["decrypt", "--extract", r#"["multiline"]"#])
        .arg(&f);
    assert_eq!(ok(c), b"multi\nline");
}

/// sops functional tests `test_no_keygroups`, `test_zero_keygroups`, `test_empty_keygroup`:
/// a creation rule without keys, with `key_groups: []` or with an empty key group fails with
/// sops's exit code (1, "empty key group provided"), and sigil's message names the rule and
/// the group; nothing is written.
#[test]
fn creation_rules_without_keys_fail_like_sops_and_name_the_rule() {
    let s = Scratch::new();
    let (_, recipient) = s.age_key("key.txt");
    s.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n    - path_regex: none\\.yaml$\n    - path_regex: zero\\.yaml$\n      key_groups: []\n    - path_regex: empty\\.yaml$\n      key_groups:\n        - {{}}\n    - path_regex: second\\.yaml$\n      key_groups:\n        - age: [{recipient}]\n        - {{}}\n    - age: {recipient}\n"
        )
        .as_bytes(),
    );
    for (name, says) in [
        (
            "none",
            "creation_rules[0] (the rule for path_regex none\\.yaml$) has no keys",
        ),
        (
            "zero",
            "creation_rules[1] (the rule for path_regex zero\\.yaml$) has no keys",
        ),
        (
            "empty",
            "creation_rules[2].key_groups[0] (the rule for path_regex empty\\.yaml$) is empty",
        ),
        (
            "second",
            "creation_rules[3].key_groups[1] (the rule for path_regex second\\.yaml$) is empty",
        ),
    ] {
        let plain = b"a: secret\n";
        let f = s.write(&format!("{name}.yaml"), plain);
        let mut c = s.cmd(sops());
        c.args(["encrypt", "-i"]).arg(&f);
        let by_sops = run(c);
        assert_eq!(std::fs::read(&f).unwrap(), plain, "sops wrote {name}");
        let mut c = s.cmd(sigil());
        c.args(["encrypt", "-i"]).arg(&f);
        let by_sigil = run(c);
        let stderr = String::from_utf8_lossy(&by_sigil.stderr);
        assert_eq!(
            by_sigil.status.code(),
            by_sops.status.code(),
            "{name}: {stderr}"
        );
        assert_eq!(by_sigil.status.code(), Some(1), "{name}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert!(by_sigil.stdout.is_empty() && by_sops.stdout.is_empty());
        assert_eq!(std::fs::read(&f).unwrap(), plain, "sigil wrote {name}");
    }
}

/// sops functional test `roundtrip_shamir` encrypts to an RSA-1024 key: sops (through gpg)
/// accepts it, and so does sigil, with a warning naming the key and its size; the files
/// decrypt with either tool. `--strict-keys` (or SIGIL_STRICT_KEYS) refuses such keys.
#[test]
fn weak_openpgp_recipients_encrypt_with_a_warning_like_sops() {
    let s = Scratch::new();
    let (weak_fp, _, weak_pub) = s.pgp_key("weak@example.com", "rsa1024");
    let (strong_fp, _, _) = s.pgp_key("strong@example.com", "rsa2048");
    let listing = String::from_utf8(s.gpg(&["--with-colons", "--list-keys", &weak_fp])).unwrap();
    let weak_sub = listing
        .lines()
        .skip_while(|l| !l.starts_with("sub:"))
        .find_map(|l| l.strip_prefix("fpr:::::::::"))
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    let plain = b"a: secret\n";
    let f = s.write("w.yaml", plain);
    let mut c = s.cmd(sops());
    c.args(["encrypt", "--pgp", &format!("{weak_fp},{strong_fp}")])
        .arg(&f);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "sops accepts RSA-1024");
    let by_sops = s.write("w.sops.yaml", &out.stdout);
    // sigil, through gpg's keyring and from a key file.
    for key_file in [false, true] {
        let mut c = s.cmd(sigil());
        c.args(["encrypt", "--pgp", &format!("{weak_fp},{strong_fp}")]);
        if key_file {
            c.env("GNUPGHOME", s.path("no-gnupg")).env(
                "SIGIL_PGP_KEY_FILES",
                format!(
                    "{}:{}",
                    weak_pub.display(),
                    s.path("strong@example.com.pub.asc").display()
                ),
            );
        }
        c.arg(&f);
        let out = run(c);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "key file {key_file}: {stderr}");
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(
            warnings.len(),
            1,
            "one warning, for the weak key only: {stderr}"
        );
        assert!(
            warnings[0].contains(&weak_fp)
                && warnings[0].contains(&format!("RSA-1024 subkey {weak_sub}")),
            "{stderr}"
        );
        let by_sigil = s.write("w.sigil.yaml", &out.stdout);
        for (file, reader) in [
            (&by_sigil, "sops"),
            (&by_sigil, "sigil"),
            (&by_sops, "sigil"),
        ] {
            let mut c = s.cmd(if reader == "sops" { sops() } else { sigil() });
            c.arg("decrypt").arg(file);
            assert_eq!(ok(c), plain, "{reader} decrypts {}", file.display());
        }
    }
    // Strictness on request: exit 50, nothing printed.
    for strict in [&["--strict-keys"][..], &[]] {
        let mut c = s.cmd(sigil());
        if strict.is_empty() {
            c.env("SIGIL_STRICT_KEYS", "1");
        }
        c.args(["encrypt", "--pgp", &weak_fp]).args(strict).arg(&f);
        let out = run(c);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(50), "{stderr}");
        assert!(out.stdout.is_empty());
        assert!(
            stderr.contains(&weak_fp) && stderr.contains("RSA-1024"),
            "{stderr}"
        );
    }
}

/// One `set`/`unset` command line (`FILE` stands for the encrypted file) and its stdin.
struct Update<'a> {
    args: &'a [&'a str],
    stdin: &'a [u8],
}

/// What one tool did to its copy of the file.
#[derive(Debug, PartialEq)]
struct Outcome {
    code: Option<i32>,
    stdout: Vec<u8>,
    /// The file was written (its modification time, set to 2001 before, moved).
    written: bool,
    /// The file decrypted afterwards by sops (`--input-type yaml` when `yaml`).
    plaintext: Vec<u8>,
}

/// Runs `u` with sops and with sigil, each on its own copy of `encrypted` (named `name`), and
/// returns both outcomes.
fn update_both(
    s: &Scratch,
    id: &std::path::Path,
    name: &str,
    encrypted: &[u8],
    u: &Update,
    yaml: bool,
) -> [Outcome; 2] {
    ["sops", "sigil"].map(|tool| {
        let f = s.write(&format!("{tool}/{name}"), encrypted);
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let mut c = s.cmd(if tool == "sops" { sops() } else { sigil() });
        c.env("SOPS_AGE_KEY_FILE", id);
        for a in u.args {
            if *a == "FILE" {
                c.arg(&f);
            } else {
                c.arg(a);
            }
        }
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), u.stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        let written = std::fs::metadata(&f).unwrap().modified().unwrap() != old;
        let mut c = s.cmd(sops());
        c.env("SOPS_AGE_KEY_FILE", id).arg("decrypt");
        if yaml {
            c.args(["--input-type", "yaml", "--output-type", "yaml"]);
        }
        c.arg(&f);
        let plaintext = run(c).stdout;
        Outcome {
            code: out.status.code(),
            stdout: out.stdout,
            written,
            plaintext,
        }
    })
}

fn sops_encrypted_json(s: &Scratch, recipient: &str, plain: &str) -> Vec<u8> {
    let f = s.write("plain.json", plain.as_bytes());
    let mut c = s.cmd(sops());
    c.args(["encrypt", "--age", recipient]).arg(&f);
    ok(c)
}

/// sops functional tests `set_json_file_insert_with_value_file` and
/// `..._with_value_stdin`: `--value-file` and `--value-stdin` are switches (VALUE names the
/// file; with --value-stdin only FILE and PATH are given), and every wrong use fails with
/// sops's exit code, the file untouched.
#[test]
fn set_value_file_and_value_stdin_like_sops() {
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    let enc = sops_encrypted_json(&s, &recipient, r#"{"a": 2, "b": "ba"}"#);
    let v = s.write("v.json", br#"{"cc": "ccc"}"#);
    let v = v.to_str().unwrap();
    let cases: &[(&[&str], &[u8], i32)] = &[
        (&["set", "--value-file", "FILE", r#"["c"]"#, v], b"", 0),
        (
            &["set", "--value-stdin", "FILE", r#"["c"]"#],
            br#"{"cc": "ccc"}"#,
            0,
        ),
        (&["set", "--value-stdin", "FILE", r#"["c"]"#], b"", 7),
        (&["set", "--value-stdin", "FILE", r#"["c"]"#, v], b"1", 100),
        (
            &[
                "set",
                "--value-file",
                "--value-stdin",
                "FILE",
                r#"["c"]"#,
                v,
            ],
            b"1",
            1,
        ),
        (&["set", "FILE", r#"["c"]"#], b"", 100),
        (&["set", "FILE"], b"", 100),
        (&["set", "FILE", "bad", "1"], b"", 7),
        (&["set", "FILE", r#"["c"]"#, "bad"], b"", 7),
        (
            &["set", "--value-file", "FILE", r#"["c"]"#, "missing.json"],
            b"",
            1,
        ),
        (&["set", "missing.json", r#"["c"]"#, "1"], b"", 2),
        (&["set", "FILE", r#"["c"]"#, "-5"], b"", 0),
        (&["unset", "FILE"], b"", 100),
        (&["unset", "FILE", "bad"], b"", 7),
        (&["unset", "missing.json", r#"["a"]"#], b"", 2),
    ];
    for (args, stdin, code) in cases {
        let [by_sops, by_sigil] =
            update_both(&s, &id, "f.json", &enc, &Update { args, stdin }, false);
        assert_eq!(by_sops.code, Some(*code), "sops {args:?}");
        assert_eq!(by_sigil, by_sops, "{args:?}");
    }
}

/// sops functional tests `set_json_file_update_idempotent_write`/`_nowrite` and
/// `unset_*_file`: set and unset write the file (in the output store) even when nothing
/// changes, unless `--idempotent` is given and nothing changes; a key created with `null` is
/// a change.
#[test]
fn set_and_unset_write_unless_idempotent_like_sops() {
    let s = Scratch::new();
    let (id, recipient) = s.age_key("key.txt");
    let enc = sops_encrypted_json(&s, &recipient, r#"{"a": 2, "b": "ba", "c": [1, 2]}"#);
    // (arguments, decrypt as YAML, sops's exit code, written)
    #[rustfmt::skip]
    let cases: &[(&[&str], bool, i32, bool)] = &[
        (&["set", "FILE", r#"["b"]"#, r#""ba""#], false, 0, true),
        (&["set", "--idempotent", "FILE", r#"["b"]"#, r#""ba""#], false, 0, false),
        (&["set", "--idempotent", "FILE", r#"["b"]"#, r#""bb""#], false, 0, true),
        (&["set", "--idempotent", "FILE", r#"["n"]"#, "null"], false, 0, true),
        (&["set", "--idempotent", "FILE", r#"["c"][0]"#, "1"], false, 0, false),
        (&["set", "--idempotent", "FILE", r#"["c"][2]"#, "null"], false, 0, true),
        (&["set", "--idempotent", "FILE", r#"["b"]["x"]"#, "1"], false, 0, true),
        (&["set", "--output-type", "yaml", "FILE", r#"["b"]"#, r#""ba""#], true, 0, true),
        (&["set", "--output-type", "yaml", "--idempotent", "FILE", r#"["b"]"#, r#""ba""#], false, 0, false),
        (&["unset", "FILE", r#"["a"]"#], false, 0, true),
        (&["unset", "--idempotent", "FILE", r#"["a"]"#], false, 0, true),
        (&["unset", "FILE", r#"["zz"]"#], false, 1, false),
        (&["unset", "--idempotent", "FILE", r#"["zz"]"#], false, 0, false),
        (&["unset", "--idempotent", "FILE", r#"["c"][5]"#], false, 0, false),
        (&["unset", "FILE", r#"["c"][1]"#], false, 0, true),
    ];
    for (args, yaml, code, written) in cases {
        let u = Update { args, stdin: b"" };
        let [by_sops, by_sigil] = update_both(&s, &id, "f.json", &enc, &u, *yaml);
        assert_eq!(
            (by_sops.code, by_sops.written),
            (Some(*code), *written),
            "sops {args:?}"
        );
        assert_eq!(by_sigil, by_sops, "{args:?}");
    }
    // The YAML case: the file is YAML for both, as the functional test checks.
    let args: &[&str] = &[
        "set",
        "--output-type",
        "yaml",
        "FILE",
        r#"["b"]"#,
        r#""ba""#,
    ];
    let [by_sops, by_sigil] =
        update_both(&s, &id, "f.json", &enc, &Update { args, stdin: b"" }, true);
    assert_eq!(by_sops.plaintext, b"a: 2\nb: ba\nc:\n    - 1\n    - 2\n");
    assert_eq!(by_sigil.plaintext, by_sops.plaintext);
    for tool in ["sops", "sigil"] {
        let text = std::fs::read_to_string(s.path(&format!("{tool}/f.json"))).unwrap();
        assert!(text.starts_with("a: "), "{tool}: {text}");
    }
    // Where sigil differs on purpose: sops 3.11 reads the JSON number given to `set` as a
    // float, which never equals an integer of the file (a YAML `1`), so it rewrites the file
    // even with --idempotent (and stores a float); sigil compares numbers by value.
    let f = s.write("int.yaml", b"n: 1\n");
    let mut c = s.cmd(sops());
    c.args(["encrypt", "--age", &recipient]).arg(&f);
    let int_file = ok(c);
    let args: &[&str] = &["set", "--idempotent", "FILE", r#"["n"]"#, "1"];
    let u = Update { args, stdin: b"" };
    let [by_sops, by_sigil] = update_both(&s, &id, "int.yaml", &int_file, &u, false);
    assert!(by_sops.written && !by_sigil.written);
    assert_eq!(by_sigil.plaintext, by_sops.plaintext);
}

/// The classic spelling as users write it (`sops -e -i`, `-d`, `--extract ... -d`, `--set`,
/// `-r -i --add-age`, `--output`, edit, and sops's refusals), in one shell script run with
/// sops and with sigil: the same transcript of plaintext and exit codes.
#[test]
fn classic_spelling_script_like_sops() {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/classic_sops.sh");
    let s = Scratch::new();
    let (key1, age1) = s.age_key("key1.txt");
    let (key2, age2) = s.age_key("key2.txt");
    let transcripts = [sops_bin(), env!("CARGO_BIN_EXE_sigil").to_string()].map(|bin| {
        let dir = s.path(if bin.ends_with("sigil") {
            "sigil"
        } else {
            "sops"
        });
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = s.cmd(std::process::Command::new("sh"));
        clean_env(&mut c);
        c.arg(&script)
            .current_dir(&dir)
            .env("SOPS", &bin)
            .env("SOPS_DISABLE_VERSION_CHECK", "1")
            .env("AGE1", &age1)
            .env("AGE2", &age2)
            .env("KEY1", &key1)
            .env("KEY2", &key2);
        let out = run(c);
        assert!(
            out.status.success(),
            "{bin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    });
    assert_eq!(transcripts[1], transcripts[0]);
    assert!(
        transcripts[0].contains("== refusals\nexit 100\n"),
        "{}",
        transcripts[0]
    );
}

/// Ciphertext made comparable: values and the `sops` section (random) masked out.
fn shape(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let text = text.split("\nsops:").next().unwrap_or_default();
    let text = text.split("\n\t\"sops\":").next().unwrap_or_default();
    regex::Regex::new(r"ENC\[[^\]]*\]")
        .unwrap()
        .replace_all(text, "ENC[…]")
        .into_owned()
}

/// The classic spelling with the flags sops accepts there, each command line run by sops and
/// by sigil on copies of the same files: same exit code, same output (ciphertext compared by
/// shape: which values are encrypted), and the same files afterwards (decrypted by sops).
#[test]
fn classic_spelling_with_flags_like_sops() {
    let s = Scratch::new();
    let (id1, r1) = s.age_key("k1.txt");
    let (id2, r2) = s.age_key("k2.txt");
    let both_keys = s.write(
        "both.txt",
        format!(
            "{}{}",
            std::fs::read_to_string(&id1).unwrap(),
            std::fs::read_to_string(&id2).unwrap()
        )
        .as_bytes(),
    );
    let plain = b"a: alpha\nb: bravo\nc_plain: charlie\nn:\n    deep: 1\n";
    let f = s.write("plain.yaml", plain);
    let mut c = s.cmd(sops());
    c.args(["encrypt", "--age", &r1]).arg(&f);
    let enc = ok(c);
    // A valid file whose MAC no longer matches (lastmodified is part of it).
    let tampered = regex::Regex::new(r#"lastmodified: "\d{4}"#)
        .unwrap()
        .replace(
            &String::from_utf8(enc.clone()).unwrap(),
            r#"lastmodified: "2001"#,
        )
        .into_owned();
    let config = format!("creation_rules:\n    - age: {r1}\n      encrypted_regex: ^(a|n)$\n");
    #[rustfmt::skip]
    let cases: &[&[&str]] = &[
        &["-e", "--age", &r1, "--encrypted-regex", "^b$", "plain.yaml"],
        &["--encrypt", "--unencrypted-suffix", "_plain", "-a", &r1, "plain.yaml"],
        &["-e", "--unencrypted-regex", "^c", "--mac-only-encrypted", "--age", &r1, "plain.yaml"],
        &["-e", "--config", "conf/sops.yaml", "plain.yaml"],
        &["-e", "-i", "--config", "conf/sops.yaml", "plain.yaml"],
        &["-e", "--output-type", "json", "--age", &r1, "plain.yaml"],
        &["-e", "--input-type", "json", "--age", &r1, "plain.yaml"],
        &["-e", "--indent", "2", "--age", &r1, "plain.yaml"],
        &["-e", "-i", "plain.yaml"],
        &["-e", "--output", "out.yaml", "--age", &r1, "plain.yaml"],
        &["-d", "enc.yaml"],
        &["-d", "--output-type", "json", "enc.yaml"],
        &["-d", "--indent", "2", "enc.yaml"],
        &["-d", "-i", "--output-type", "json", "enc.yaml"],
        &["--decrypt", "--output", "out.txt", "--extract", r#"["n"]"#, "enc.yaml"],
        &["-d", "--extract", r#"["n"]["deep"]"#, "enc.yaml"],
        &["-d", "--extract", "bad", "enc.yaml"],
        &["-d", "tampered.yaml"],
        &["-d", "--ignore-mac", "tampered.yaml"],
        &["-d", "plain.yaml"],
        &["-r", "-i", "--add-age", &r2, "--rm-age", &r1, "enc.yaml"],
        &["-r", "--output", "out.yaml", "enc.yaml"],
        &["-r", "-i", "--ignore-mac", "tampered.yaml"],
        &["--set", r#"["n"]["x"] {"y": [1, "two"]}"#, "enc.yaml"],
        &["--set", r#"["a"] "new""#, "--ignore-mac", "tampered.yaml"],
        &["--set", r#"["a"] "new""#, "tampered.yaml"],
        &["--set", r#"["a"]"#, "enc.yaml"],
        &["-d", "--", "enc.yaml"],
        &["-e", "-i", "--age", &r1, "enc.yaml"],
        &["-v"],
    ];
    for args in cases {
        let results = ["sops", "sigil"].map(|tool| {
            let dir = s.path(&format!("{tool}-case"));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("conf")).unwrap();
            std::fs::write(dir.join("plain.yaml"), plain).unwrap();
            std::fs::write(dir.join("enc.yaml"), &enc).unwrap();
            std::fs::write(dir.join("tampered.yaml"), &tampered).unwrap();
            std::fs::write(dir.join("conf/sops.yaml"), &config).unwrap();
            let mut c = s.cmd(if tool == "sops" { sops() } else { sigil() });
            c.current_dir(&dir)
                .env("SOPS_AGE_KEY_FILE", &id1)
                .env("EDITOR", "true")
                .args(*args);
            let out = run(c);
            let stdout = if out.stdout.windows(4).any(|w| w == b"ENC[") {
                shape(&out.stdout)
            } else if args == &["-v"] {
                // Versions differ; both print one line.
                assert_eq!(out.stdout.iter().filter(|b| **b == b'\n').count(), 1);
                "version\n".into()
            } else {
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            let mut files = Vec::new();
            for name in [
                "plain.yaml",
                "enc.yaml",
                "tampered.yaml",
                "out.yaml",
                "out.txt",
            ] {
                let Ok(bytes) = std::fs::read(dir.join(name)) else {
                    continue;
                };
                let view = if bytes.windows(4).any(|w| w == b"ENC[") {
                    let mut c = s.cmd(sops());
                    c.current_dir(&dir)
                        .env("SOPS_AGE_KEY_FILE", &both_keys)
                        .args(["decrypt", "--ignore-mac", "--input-type", "yaml"])
                        .args(["--output-type", "yaml", name]);
                    let d = run(c);
                    format!(
                        "{} → {:?} {}",
                        shape(&bytes),
                        d.status.code(),
                        String::from_utf8_lossy(&d.stdout)
                    )
                } else {
                    String::from_utf8_lossy(&bytes).into_owned()
                };
                files.push((name, view));
            }
            (out.status.code(), stdout, files)
        });
        assert_eq!(results[1], results[0], "{args:?}");
    }
}
