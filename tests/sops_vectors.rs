//! The public sops fixtures in ../shared/vectors/sops decrypt as ../shared/vectors/README.md says.

mod common;

use common::*;

struct Case {
    file: &'static str,
    keys: &'static str,
    expect: Expect,
}

enum Expect {
    Plaintext,
    Code(i32),
}

const CASES: &[Case] = &[
    Case {
        file: "example.yaml",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "example.json",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "example.ini",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "example.txt",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "examples/all_in_one/config/secret.enc.json",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "examples/per_file/config.enc/static_github.json",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "functional-tests/res/comments.enc.yaml",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "functional-tests/res/comments_unencrypted_comments.yaml",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "functional-tests/res/format.enc.yaml",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "functional-tests/res/format.enc.json",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "functional-tests/res/format.enc.env",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "functional-tests/res/format.enc.ini",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "functional-tests/res/format-2.enc.ini",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "functional-tests/res/multiple_keys.yaml",
        keys: "pgp",
        expect: Expect::Plaintext,
    },
    Case {
        file: "functional-tests/res/no_mac.yaml",
        keys: "pgp",
        expect: Expect::Code(51),
    },
    Case {
        file: "functional-tests/res/comments.yaml",
        keys: "pgp",
        expect: Expect::Code(1),
    },
    Case {
        file: "functional-tests/res/comments_list.yaml",
        keys: "pgp",
        expect: Expect::Code(1),
    },
    Case {
        file: "functional-tests/res/plainfile.yaml",
        keys: "pgp",
        expect: Expect::Code(1),
    },
    Case {
        file: "pr-1031-age-examples/example.yaml",
        keys: "age",
        expect: Expect::Plaintext,
    },
    Case {
        file: "pr-1031-age-examples/example.json",
        keys: "age",
        expect: Expect::Plaintext,
    },
    Case {
        file: "pr-1031-age-examples/example.ini",
        keys: "age",
        expect: Expect::Plaintext,
    },
    Case {
        file: "pr-1031-age-examples/example.txt",
        keys: "age",
        expect: Expect::Plaintext,
    },
];

#[test]
fn sops_fixtures_decrypt_byte_for_byte() {
    let root = vectors().join("sops");
    assert!(
        root.is_dir(),
        "the shared vectors are missing at {}",
        root.display()
    );
    let s = Scratch::new();
    // OpenPGP fixtures are decrypted in process only: GNUPGHOME is empty, so a gpg fallback
    // cannot succeed. (They were written by Go's old OpenPGP library: non-canonical MPIs and
    // short partial chunks, which sigil's narrow legacy decoder handles.)
    let mut failures = Vec::new();
    for case in CASES {
        let mut c = s.cmd(sigil());
        match case.keys {
            "pgp" => {
                c.arg("decrypt")
                    .arg("--pgp-key-file")
                    .arg(root.join("pgp/sops_functional_tests_key.asc"));
            }
            _ => {
                c.env("SOPS_AGE_KEY_FILE", root.join("age/keys.txt"))
                    .arg("decrypt");
            }
        }
        c.arg(root.join(case.file));
        let out = run(c);
        let stderr = String::from_utf8_lossy(&out.stderr);
        match case.expect {
            Expect::Plaintext => {
                let want =
                    std::fs::read(root.join("decrypted-by-sops-3.11.0").join(case.file)).unwrap();
                if out.status.code() != Some(0) {
                    failures.push(format!(
                        "{}: exit {:?}: {stderr}",
                        case.file,
                        out.status.code()
                    ));
                } else if out.stdout != want {
                    failures.push(format!(
                        "{}: output differs from sops 3.11\n--- sigil\n{}\n--- sops\n{}",
                        case.file,
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&want)
                    ));
                }
            }
            Expect::Code(code) => {
                if out.status.code() != Some(code) || !out.stdout.is_empty() {
                    failures.push(format!(
                        "{}: expected exit {code}, got {:?}: {stderr}",
                        case.file,
                        out.status.code()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn no_mac_fixture_decrypts_only_with_ignore_mac() {
    let root = vectors().join("sops");
    let s = Scratch::new();
    std::fs::create_dir_all(s.path("gnupg")).unwrap();
    let imported = std::process::Command::new("gpg")
        .env("GNUPGHOME", s.path("gnupg"))
        .args(["--batch", "--quiet", "--import"])
        .arg(root.join("pgp/sops_functional_tests_key.asc"))
        .output()
        .unwrap();
    assert!(imported.status.success());
    let mut c = s.cmd(sigil());
    c.arg("decrypt")
        .arg("--ignore-mac")
        .arg("--pgp-key-file")
        .arg(root.join("pgp/sops_functional_tests_key.asc"));
    c.arg(root.join("functional-tests/res/no_mac.yaml"));
    let out = run(c);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("WARNING"),
        "--ignore-mac must be loud"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("t00m4nys3cr3tzupdated"));
}

#[test]
fn without_the_keys_every_fixture_fails_with_128() {
    let root = vectors().join("sops");
    let s = Scratch::new();
    for file in ["example.yaml", "pr-1031-age-examples/example.yaml"] {
        let mut c = s.cmd(sigil());
        c.env("GNUPGHOME", s.path("no-gnupg"))
            .arg("decrypt")
            .arg(root.join(file));
        assert_eq!(run(c).status.code(), Some(128), "{file}");
    }
}

#[test]
fn each_pgp_key_alone_decrypts_in_process() {
    use sequoia_openpgp::parse::Parse;
    use sequoia_openpgp::serialize::SerializeInto;
    let root = vectors().join("sops");
    let s = Scratch::new();
    let certs: Vec<sequoia_openpgp::Cert> = sequoia_openpgp::cert::CertParser::from_file(
        root.join("pgp/sops_functional_tests_key.asc"),
    )
    .unwrap()
    .map(|c| c.unwrap())
    .filter(|c| c.is_tsk())
    .collect();
    assert_eq!(certs.len(), 2);
    for cert in &certs {
        let key = s.write(
            &format!("{}.asc", cert.fingerprint()),
            &cert.as_tsk().armored().to_vec().unwrap(),
        );
        for file in [
            "example.yaml",
            "example.json",
            "example.txt",
            "example.ini",
            "functional-tests/res/multiple_keys.yaml",
        ] {
            let mut c = s.cmd(sigil());
            c.arg("decrypt")
                .arg("--pgp-key-file")
                .arg(&key)
                .arg(root.join(file));
            let want = std::fs::read(root.join("decrypted-by-sops-3.11.0").join(file)).unwrap();
            assert_eq!(ok(c), want, "{file} with {}", cert.fingerprint());
        }
    }
}
