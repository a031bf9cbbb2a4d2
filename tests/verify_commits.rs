//! `sigil verify commits|tag` against real git, gpg and ssh-keygen, with keys made at test time.
//! Each case states sigil's verdict and, beside it, what `git verify-commit`/`verify-tag` says
//! with the same keys; where sigil is stricter than git, the pitfall is named.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(repo)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

struct Lab {
    s: Scratch,
    repo: PathBuf,
}

impl Lab {
    fn new(object_format: &str) -> Lab {
        let s = Scratch::new();
        let repo = s.path("repo");
        let out = Command::new("git")
            .args([
                "init",
                "-q",
                "-b",
                "main",
                &format!("--object-format={object_format}"),
            ])
            .arg(&repo)
            .output()
            .unwrap();
        assert!(out.status.success());
        for (k, v) in [
            ("user.name", "Alice"),
            ("user.email", "alice@example.com"),
            ("commit.gpgsign", "false"),
            ("tag.gpgsign", "false"),
        ] {
            git(&repo, &["config", k, v]);
        }
        std::fs::create_dir_all(s.path("gnupg")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(s.path("gnupg"), std::fs::Permissions::from_mode(0o700)).unwrap();
        Lab { s, repo }
    }

    fn ssh_key(&self, name: &str, kind: &str) -> PathBuf {
        let p = self.s.path(name);
        let mut c = Command::new("ssh-keygen");
        c.args(["-q", "-t", kind, "-N", "", "-C", name, "-f"])
            .arg(&p);
        if kind == "ecdsa" {
            c.args(["-b", "256"]);
        }
        assert!(c.output().unwrap().status.success());
        p
    }

    fn pub_line(&self, key: &Path) -> String {
        std::fs::read_to_string(key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// Commits a new file, signed with `sign` (`("ssh", keypath)`, `("openpgp", fpr)`, or unsigned).
    fn commit(
        &self,
        file: &str,
        sign: Option<(&str, &str)>,
        email: &str,
        env: &[(&str, &str)],
    ) -> String {
        std::fs::create_dir_all(self.repo.join(file).parent().unwrap()).unwrap();
        std::fs::write(self.repo.join(file), file).unwrap();
        git(&self.repo, &["add", file]);
        let mut c = Command::new("git");
        c.current_dir(&self.repo)
            .env("GNUPGHOME", self.s.path("gnupg"));
        for (k, v) in env {
            c.env(k, v);
        }
        c.args(["-c", &format!("user.email={email}")]);
        match sign {
            Some(("ssh", key)) => {
                c.args([
                    "-c",
                    "gpg.format=ssh",
                    "-c",
                    &format!("user.signingkey={key}"),
                    "commit",
                    "-q",
                    "-S",
                    "-m",
                    file,
                ]);
            }
            Some(("x509", key)) => {
                c.args([
                    "-c",
                    "gpg.format=x509",
                    "-c",
                    &format!("user.signingkey={key}"),
                    "commit",
                    "-q",
                    "-S",
                    "-m",
                    file,
                ]);
            }
            Some(("openpgp", fpr)) => {
                c.args([
                    "-c",
                    "gpg.format=openpgp",
                    "-c",
                    &format!("user.signingkey={fpr}"),
                    "commit",
                    "-q",
                    "-S",
                    "-m",
                    file,
                ]);
            }
            _ => {
                c.args(["commit", "-q", "-m", file]);
            }
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "commit: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        git(&self.repo, &["rev-parse", "HEAD"])
    }

    /// `git -c K=V… tag -s -m MESSAGE NAME TARGET` with the lab's GnuPG home.
    fn signed_tag(&self, config: &[&str], message: &str, name: &str, target: &str) {
        let mut c = Command::new("git");
        c.current_dir(&self.repo)
            .env("GNUPGHOME", self.s.path("gnupg"));
        for kv in config {
            c.args(["-c", kv]);
        }
        c.args(["tag", "-s", "-m", message, name, target]);
        common::ok(c);
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        self.s.write(name, text.as_bytes())
    }

    fn gpg(&self, args: &[&str]) -> Vec<u8> {
        self.s.gpg(args)
    }

    /// An SSH ed25519 key for alice@example.com in `allowed_signers`, and a policy whose
    /// signers alice and bob both read that file; returns (key, allowed_signers, policy).
    fn alice_ssh(&self) -> (PathBuf, PathBuf, PathBuf) {
        let alice = self.ssh_key("alice", "ed25519");
        let allowed = self.write(
            "allowed_signers",
            &format!("alice@example.com {}\n", self.pub_line(&alice)),
        );
        let p = policy(
            self,
            "    - name: alice\n      allowedSigners: allowed_signers\n    - name: bob\n      allowedSigners: allowed_signers\n",
            "",
        );
        (alice, allowed, p)
    }

    /// An OpenPGP key (one primary key for signing and certifying); returns (fpr, cert file).
    fn pgp_key(&self, email: &str, algo: &str) -> (String, PathBuf) {
        self.gpg(&[
            "--quick-gen-key",
            &format!("T <{email}>"),
            algo,
            "sign,cert",
            "never",
        ]);
        let listing =
            String::from_utf8(self.gpg(&["--with-colons", "--list-keys", email])).unwrap();
        let fpr = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .unwrap()
            .trim_end_matches(':')
            .to_string();
        let cert = self.s.write(
            &format!("{email}.asc"),
            &self.gpg(&["--armor", "--export", &fpr]),
        );
        (fpr, cert)
    }

    /// `sigil verify ARGS` on this repository: (exit code, reason, the JSON report).
    fn sigil(&self, policy: &Path, args: &[&str]) -> (i32, Option<String>, serde_json::Value) {
        verify_json(&self.s.path("state-home"), policy, &self.repo, args)
    }

    /// `git verify-commit`/`verify-tag` exit code with the same trust (allowed_signers for SSH,
    /// the signer's public key imported into a fresh keyring for OpenPGP).
    fn git_verify(&self, what: &str, id: &str, allowed: Option<&Path>, certs: &[&Path]) -> i32 {
        let home = self.s.path("gnupg-verify");
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        for c in certs {
            let _ = Command::new("gpg")
                .env("GNUPGHOME", &home)
                .args(["--batch", "--quiet", "--import"])
                .arg(c)
                .output();
        }
        let mut c = Command::new("git");
        c.current_dir(&self.repo).env("GNUPGHOME", &home);
        if let Some(a) = allowed {
            c.args(["-c", &format!("gpg.ssh.allowedSignersFile={}", a.display())]);
        }
        c.args([what, "--raw", id]);
        let out = c.output().unwrap();
        if std::env::var("SIGIL_TEST_DEBUG").is_ok() {
            eprintln!("git {what}: {}", String::from_utf8_lossy(&out.stderr));
        }
        out.status.code().unwrap_or(-1)
    }
}

fn policy(lab: &Lab, signers: &str, extra_rule: &str) -> PathBuf {
    lab.write(
        "policy.yaml",
        &format!(
            "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nmetadata: {{name: t}}\nspec:\n  signers:\n{signers}  commits:\n    rules:\n      - refs: [\"refs/heads/*\"]\n        signers: [alice, bob]\n{extra_rule}  tags:\n    - pattern: \"v*\"\n      signers: [alice]\n"
        ),
    )
}

/// Asserts sigil's verdict and git's exit code for the same object.
fn expect(
    case: &str,
    sigil: (i32, Option<String>),
    want: (i32, Option<&str>),
    git_rc: i32,
    git_want: i32,
    pitfall: &str,
) {
    assert_eq!(
        (sigil.0, sigil.1.as_deref()),
        want,
        "{case}: sigil verdict (git says rc={git_rc}; {pitfall})"
    );
    assert_eq!(
        git_rc, git_want,
        "{case}: git's own verdict changed ({pitfall})"
    );
}

#[test]
fn ssh_signatures() {
    let lab = Lab::new("sha1");
    let alice = lab.ssh_key("alice", "ed25519");
    let bob = lab.ssh_key("bob", "ecdsa");
    let mallory = lab.ssh_key("mallory", "ed25519");
    let allowed = lab.write(
        "allowed_signers",
        &format!(
            "alice@example.com {}\nbob@example.com namespaces=\"git\" {}\n",
            lab.pub_line(&alice),
            lab.pub_line(&bob)
        ),
    );
    lab.write(
        "alice_allowed",
        &format!("alice@example.com {}\n", lab.pub_line(&alice)),
    );
    lab.write(
        "bob_allowed",
        &format!(
            "bob@example.com namespaces=\"git\" {}\n",
            lab.pub_line(&bob)
        ),
    );
    let p = policy(
        &lab,
        "    - name: alice\n      emails: [alice@example.com]\n      allowedSigners: alice_allowed\n    - name: bob\n      emails: [bob@example.com]\n      allowedSigners: bob_allowed\n",
        "        requireCommitterMatch: true\n",
    );
    let a = alice.to_str().unwrap();
    let good = lab.commit("a.txt", Some(("ssh", a)), "alice@example.com", &[]);
    expect(
        "good ed25519",
        run2(lab.sigil(&p, &["commits", &good, "--ref", "refs/heads/main"])),
        (0, None),
        lab.git_verify("verify-commit", &good, Some(&allowed), &[]),
        0,
        "",
    );
    let ec = lab.commit(
        "b.txt",
        Some(("ssh", bob.to_str().unwrap())),
        "bob@example.com",
        &[],
    );
    expect(
        "good ecdsa",
        run2(lab.sigil(&p, &["commits", &ec, "--ref", "refs/heads/main"])),
        (0, None),
        lab.git_verify("verify-commit", &ec, Some(&allowed), &[]),
        0,
        "",
    );
    let unsigned = lab.commit("c.txt", None, "alice@example.com", &[]);
    expect(
        "unsigned",
        run2(lab.sigil(&p, &["commits", &unsigned, "--ref", "refs/heads/main"])),
        (1, Some("unsigned")),
        lab.git_verify("verify-commit", &unsigned, Some(&allowed), &[]),
        1,
        "",
    );
    let unknown = lab.commit(
        "d.txt",
        Some(("ssh", mallory.to_str().unwrap())),
        "alice@example.com",
        &[],
    );
    expect(
        "key not in policy",
        run2(lab.sigil(&p, &["commits", &unknown, "--ref", "refs/heads/main"])),
        (1, Some("untrusted-key")),
        lab.git_verify("verify-commit", &unknown, Some(&allowed), &[]),
        1,
        "",
    );
    // Alice's key, but committed as Bob: git never compares the signer with the committer.
    let spoof = lab.commit("e.txt", Some(("ssh", a)), "bob@example.com", &[]);
    expect(
        "signer != committer",
        run2(lab.sigil(&p, &["commits", &spoof, "--ref", "refs/heads/main"])),
        (1, Some("committer-mismatch")),
        lab.git_verify("verify-commit", &spoof, Some(&allowed), &[]),
        0,
        "pitfall 10: git never binds signer to committer",
    );
    // An ecdsa-signed tag: a good signature, but tags "v*" may only be signed by alice.
    lab.signed_tag(
        &[
            "gpg.format=ssh",
            &format!("user.signingkey={}", bob.display()),
        ],
        "rel",
        "v2",
        &ec,
    );
    expect(
        "ecdsa tag by a signer the tag rule does not allow",
        run2(lab.sigil(&p, &["tag", "v2"])),
        (1, Some("signer-not-allowed")),
        lab.git_verify("verify-tag", "v2", Some(&allowed), &[]),
        0,
        "pitfall 9: git accepts any key in allowed_signers for any tag",
    );
    // A whole range: every commit is checked, the unsigned one refuses the range.
    let (code, reason, v) = lab.sigil(
        &p,
        &[
            "commits",
            &format!("{good}..{ec}"),
            "--ref",
            "refs/heads/main",
        ],
    );
    assert_eq!((code, reason.as_deref()), (0, None), "{v}");
    let (code, reason, _) = lab.sigil(
        &p,
        &[
            "commits",
            &format!("{good}..{spoof}"),
            "--ref",
            "refs/heads/main",
        ],
    );
    assert_eq!((code, reason.as_deref()), (1, Some("unsigned")));
}

fn run2(r: (i32, Option<String>, serde_json::Value)) -> (i32, Option<String>) {
    (r.0, r.1)
}

#[test]
fn ssh_windows_namespaces_revocation_and_backdating() {
    let lab = Lab::new("sha1");
    let alice = lab.ssh_key("alice", "ed25519");
    let a = alice.to_str().unwrap();
    let p_with = |allowed: &str, revoked: bool| {
        lab.write("allowed_signers", allowed);
        let extra = if revoked {
            "      revokedKeys: revoked\n"
        } else {
            ""
        };
        policy(
            &lab,
            &format!(
                "    - name: alice\n      allowedSigners: allowed_signers\n{extra}    - name: bob\n      ssh: [\"{}\"]\n",
                lab.pub_line(&alice).replace("alice", "x")
            ),
            "",
        )
    };
    // valid-before in the past: refused at the commit time (git agrees).
    let p = p_with(
        &format!(
            "alice@example.com valid-before=\"20200101\" {}\n",
            lab.pub_line(&alice)
        ),
        false,
    );
    let c = lab.commit("a.txt", Some(("ssh", a)), "alice@example.com", &[]);
    let allowed = lab.s.path("allowed_signers");
    // bob's plain key is alice's key too (inline), so only the allowed_signers window differs:
    // use a policy with alice alone for these checks.
    let p = lab.write("p2.yaml", &std::fs::read_to_string(&p).unwrap().replace(&format!("    - name: bob\n      ssh: [\"{}\"]\n", lab.pub_line(&alice).replace("alice", "x")), "    - name: bob\n      emails: [bob@example.com]\n      ssh: []\n      allowedSigners: allowed_signers\n"));
    expect(
        "valid-before in the past",
        run2(lab.sigil(&p, &["commits", &c, "--ref", "refs/heads/main"])),
        (1, Some("expired-key")),
        lab.git_verify("verify-commit", &c, Some(&allowed), &[]),
        1,
        "",
    );
    // A backdated commit: dated before valid-before, made now. git trusts the date; sigil does
    // too unless told when the commit was first seen (the gate always does).
    let back = lab.commit(
        "b.txt",
        Some(("ssh", a)),
        "alice@example.com",
        &[
            ("GIT_COMMITTER_DATE", "2019-06-01T00:00:00Z"),
            ("GIT_AUTHOR_DATE", "2019-06-01T00:00:00Z"),
        ],
    );
    expect(
        "backdated, no first-seen",
        run2(lab.sigil(&p, &["commits", &back, "--ref", "refs/heads/main"])),
        (0, None),
        lab.git_verify("verify-commit", &back, Some(&allowed), &[]),
        0,
        "",
    );
    let now = time_now();
    expect(
        "backdated, first-seen now",
        run2(lab.sigil(
            &p,
            &[
                "commits",
                &back,
                "--ref",
                "refs/heads/main",
                "--first-seen",
                &now,
            ],
        )),
        (1, Some("expired-key")),
        lab.git_verify("verify-commit", &back, Some(&allowed), &[]),
        0,
        "pitfall 6: git judges valid-before at the signer-controlled committer date",
    );
    // namespaces that exclude git.
    lab.write(
        "allowed_signers",
        &format!(
            "alice@example.com namespaces=\"file\" {}\n",
            lab.pub_line(&alice)
        ),
    );
    expect(
        "namespace not allowed",
        run2(lab.sigil(&p, &["commits", &c, "--ref", "refs/heads/main"])),
        (1, Some("wrong-namespace")),
        lab.git_verify("verify-commit", &c, Some(&allowed), &[]),
        1,
        "",
    );
    // Revoked key: refused; a configured but missing revocation file is a configuration error.
    lab.write(
        "allowed_signers",
        &format!("alice@example.com {}\n", lab.pub_line(&alice)),
    );
    let p3 = lab.write(
        "p3.yaml",
        &std::fs::read_to_string(&p).unwrap().replace(
            "      allowedSigners: allowed_signers\n    - name: bob",
            "      allowedSigners: allowed_signers\n      revokedKeys: revoked\n    - name: bob",
        ),
    );
    let (code, _, _) = lab.sigil(&p3, &["commits", &c, "--ref", "refs/heads/main"]);
    assert_eq!(
        code, 2,
        "missing revocation file must be a configuration error (git only warns: pitfall 7)"
    );
    lab.write("revoked", &format!("{}\n", lab.pub_line(&alice)));
    expect(
        "revoked key",
        run2(lab.sigil(&p3, &["commits", &c, "--ref", "refs/heads/main"])),
        (1, Some("revoked-key")),
        lab.git_verify("verify-commit", &c, Some(&allowed), &[]),
        0,
        "git without -c gpg.ssh.revocationFile accepts it",
    );
}

fn time_now() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn ssh_certificates() {
    let lab = Lab::new("sha1");
    let ca = lab.ssh_key("ca", "ed25519");
    let bob = lab.ssh_key("bob", "ed25519");
    let sign_cert_for = |key: &Path, principal: &str, validity: &str, host: bool| {
        let mut c = Command::new("ssh-keygen");
        c.args(["-q", "-s"])
            .arg(&ca)
            .args(["-I", "bob", "-n", principal, "-V", validity]);
        if host {
            c.arg("-h");
        }
        let out = c.arg(key.with_extension("pub")).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let sign_cert =
        |principal: &str, validity: &str| sign_cert_for(&bob, principal, validity, false);
    let allowed = lab.write(
        "allowed_signers",
        &format!("*@example.com cert-authority {}\n", lab.pub_line(&ca)),
    );
    let p = policy(
        &lab,
        "    - name: alice\n      allowedSigners: allowed_signers\n    - name: bob\n      allowedSigners: allowed_signers\n",
        "",
    );
    let cert = lab.s.path("bob-cert.pub");
    let certs = cert.to_str().unwrap();
    sign_cert("bob@example.com", "-1d:+1d");
    let good = lab.commit("a.txt", Some(("ssh", certs)), "bob@example.com", &[]);
    expect(
        "certificate valid",
        run2(lab.sigil(&p, &["commits", &good, "--ref", "refs/heads/main"])),
        (0, None),
        lab.git_verify("verify-commit", &good, Some(&allowed), &[]),
        0,
        "",
    );
    sign_cert("bob@elsewhere.example", "-1d:+1d");
    let wrong = lab.commit("b.txt", Some(("ssh", certs)), "bob@example.com", &[]);
    expect(
        "certificate principal outside the pattern",
        run2(lab.sigil(&p, &["commits", &wrong, "--ref", "refs/heads/main"])),
        (1, Some("cert-principal-mismatch")),
        lab.git_verify("verify-commit", &wrong, Some(&allowed), &[]),
        1,
        "",
    );
    sign_cert("bob@example.com", "20200101:20200201");
    let expired = lab.commit("c.txt", Some(("ssh", certs)), "bob@example.com", &[]);
    expect(
        "certificate expired",
        run2(lab.sigil(&p, &["commits", &expired, "--ref", "refs/heads/main"])),
        (1, Some("cert-expired")),
        lab.git_verify("verify-commit", &expired, Some(&allowed), &[]),
        1,
        "",
    );
    // Not yet valid at the commit time.
    sign_cert("bob@example.com", "+1d:+2d");
    let early = lab.commit("d.txt", Some(("ssh", certs)), "bob@example.com", &[]);
    expect(
        "certificate not yet valid",
        run2(lab.sigil(&p, &["commits", &early, "--ref", "refs/heads/main"])),
        (1, Some("cert-expired")),
        lab.git_verify("verify-commit", &early, Some(&allowed), &[]),
        1,
        "",
    );
    // A host certificate cannot sign commits.
    sign_cert_for(&bob, "bob@example.com", "-1d:+1d", true);
    let host = lab.commit("e.txt", Some(("ssh", certs)), "bob@example.com", &[]);
    expect(
        "host certificate",
        run2(lab.sigil(&p, &["commits", &host, "--ref", "refs/heads/main"])),
        (1, Some("cert-invalid")),
        lab.git_verify("verify-commit", &host, Some(&allowed), &[]),
        1,
        "",
    );
    // ECDSA and RSA user keys, certified by the same CA.
    for kind in ["ecdsa", "rsa"] {
        let key = lab.ssh_key(&format!("bob-{kind}"), kind);
        sign_cert_for(&key, "bob@example.com", "-1d:+1d", false);
        let cert = lab.s.path(&format!("bob-{kind}-cert.pub"));
        let id = lab.commit(
            &format!("{kind}.txt"),
            Some(("ssh", cert.to_str().unwrap())),
            "bob@example.com",
            &[],
        );
        expect(
            &format!("{kind} certificate"),
            run2(lab.sigil(&p, &["commits", &id, "--ref", "refs/heads/main"])),
            (0, None),
            lab.git_verify("verify-commit", &id, Some(&allowed), &[]),
            0,
            "",
        );
    }
    sign_cert("bob@example.com", "-1d:+1d");
    let good = lab.commit("f.txt", Some(("ssh", certs)), "bob@example.com", &[]);
    // The CA line restricted to other namespaces.
    let file_only = lab.write(
        "allowed_signers_file",
        &format!(
            "*@example.com cert-authority,namespaces=\"file\" {}\n",
            lab.pub_line(&ca)
        ),
    );
    let p_ns = lab.write(
        "p-ns.yaml",
        &std::fs::read_to_string(&p).unwrap().replace(
            "allowedSigners: allowed_signers\n",
            "allowedSigners: allowed_signers_file\n",
        ),
    );
    expect(
        "CA line without the git namespace",
        run2(lab.sigil(&p_ns, &["commits", &good, "--ref", "refs/heads/main"])),
        (1, Some("wrong-namespace")),
        lab.git_verify("verify-commit", &good, Some(&file_only), &[]),
        1,
        "",
    );
    // Revoked CA, revoked certificate key: git with the same revocation file agrees.
    let git_revoked = |id: &str, revoked: &Path| -> i32 {
        Command::new("git")
            .current_dir(&lab.repo)
            .args([
                "-c",
                &format!("gpg.ssh.allowedSignersFile={}", allowed.display()),
            ])
            .args([
                "-c",
                &format!("gpg.ssh.revocationFile={}", revoked.display()),
            ])
            .args(["verify-commit", id])
            .output()
            .unwrap()
            .status
            .code()
            .unwrap_or(-1)
    };
    for (what, key) in [("CA", &ca), ("certificate key", &bob)] {
        let revoked = lab.write("revoked", &format!("{}\n", lab.pub_line(key)));
        let p_rev = lab.write(
            "p-rev.yaml",
            &std::fs::read_to_string(&p).unwrap().replace(
                "allowedSigners: allowed_signers\n",
                "allowedSigners: allowed_signers\n      revokedKeys: revoked\n",
            ),
        );
        expect(
            &format!("revoked {what}"),
            run2(lab.sigil(&p_rev, &["commits", &good, "--ref", "refs/heads/main"])),
            (1, Some("revoked-key")),
            git_revoked(&good, &revoked),
            1,
            "",
        );
    }
    // Backdated: a certificate that expired long ago, a commit dated inside its window.
    // git trusts the date; sigil does too unless told when the commit was first seen.
    sign_cert("bob@example.com", "20200101:20200201");
    let back = lab.commit(
        "g.txt",
        Some(("ssh", certs)),
        "bob@example.com",
        &[
            ("GIT_COMMITTER_DATE", "2020-01-15T00:00:00Z"),
            ("GIT_AUTHOR_DATE", "2020-01-15T00:00:00Z"),
        ],
    );
    expect(
        "backdated into an expired certificate's window, no first-seen",
        run2(lab.sigil(&p, &["commits", &back, "--ref", "refs/heads/main"])),
        (0, None),
        lab.git_verify("verify-commit", &back, Some(&allowed), &[]),
        0,
        "",
    );
    expect(
        "backdated, first-seen now",
        run2(lab.sigil(
            &p,
            &[
                "commits",
                &back,
                "--ref",
                "refs/heads/main",
                "--first-seen",
                &time_now(),
            ],
        )),
        (1, Some("cert-expired")),
        lab.git_verify("verify-commit", &back, Some(&allowed), &[]),
        0,
        "git judges the certificate at the signer-controlled committer date",
    );
    // A certificate from a CA the policy does not name.
    let other_ca = lab.ssh_key("other-ca", "ed25519");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-s"])
        .arg(&other_ca)
        .args(["-I", "bob", "-n", "bob@example.com", "-V", "-1d:+1d"])
        .arg(bob.with_extension("pub"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let foreign = lab.commit("j.txt", Some(("ssh", certs)), "bob@example.com", &[]);
    expect(
        "certificate from an untrusted CA",
        run2(lab.sigil(&p, &["commits", &foreign, "--ref", "refs/heads/main"])),
        (1, Some("untrusted-ca")),
        lab.git_verify("verify-commit", &foreign, Some(&allowed), &[]),
        1,
        "",
    );
    // requireCommitterMatch: the certificate's principal must be the committer.
    sign_cert("bob@example.com", "-1d:+1d");
    let p_match = policy(
        &lab,
        "    - name: alice\n      allowedSigners: allowed_signers\n    - name: bob\n      allowedSigners: allowed_signers\n",
        "        requireCommitterMatch: true\n",
    );
    let other = lab.commit("h.txt", Some(("ssh", certs)), "carol@example.com", &[]);
    expect(
        "principal is not the committer",
        run2(lab.sigil(&p_match, &["commits", &other, "--ref", "refs/heads/main"])),
        (1, Some("committer-mismatch")),
        lab.git_verify("verify-commit", &other, Some(&allowed), &[]),
        0,
        "git checks the principal pattern, not who committed",
    );
    let same = lab.commit("i.txt", Some(("ssh", certs)), "bob@example.com", &[]);
    expect(
        "principal is the committer",
        run2(lab.sigil(&p_match, &["commits", &same, "--ref", "refs/heads/main"])),
        (0, None),
        lab.git_verify("verify-commit", &same, Some(&allowed), &[]),
        0,
        "",
    );
}

#[test]
fn openpgp_signatures() {
    for algo in ["ed25519", "rsa3072"] {
        let lab = Lab::new("sha1");
        let (fpr, cert) = lab.pgp_key("alice@example.com", algo);
        let (other, other_cert) = lab.pgp_key("mallory@example.com", "ed25519");
        let p = policy(
            &lab,
            &format!(
                "    - name: alice\n      emails: [alice@example.com]\n      openpgp: [{}]\n    - name: bob\n      openpgp: [{}]\n",
                cert.display(),
                cert.display()
            ),
            "        requireCommitterMatch: true\n",
        );
        let good = lab.commit("a.txt", Some(("openpgp", &fpr)), "alice@example.com", &[]);
        expect(
            &format!("good {algo}"),
            run2(lab.sigil(&p, &["commits", &good, "--ref", "refs/heads/main"])),
            (0, None),
            lab.git_verify("verify-commit", &good, None, &[&cert]),
            0,
            "",
        );
        let bad = lab.commit("b.txt", Some(("openpgp", &other)), "alice@example.com", &[]);
        expect(
            &format!("{algo}: any key in the keyring"),
            run2(lab.sigil(&p, &["commits", &bad, "--ref", "refs/heads/main"])),
            (1, Some("untrusted-key")),
            lab.git_verify("verify-commit", &bad, None, &[&cert, &other_cert]),
            0,
            "pitfall 9: git passes any good signature from any key in the keyring",
        );
        // Content altered after signing (exercises the direct Ed25519 path's fallback).
        let raw = git(&lab.repo, &["cat-file", "commit", &good]) + "\n";
        let altered = write_object(
            &lab.repo,
            "commit",
            raw.replacen("\n\na.txt", "\n\nA.txt", 1).as_bytes(),
        );
        expect(
            &format!("{algo}: content altered"),
            run2(lab.sigil(&p, &["commits", &altered, "--ref", "refs/heads/main"])),
            (1, Some("bad-signature")),
            lab.git_verify("verify-commit", &altered, None, &[&cert]),
            1,
            "",
        );
        // Tags: a signed tag verifies, and so does the commit it points at.
        lab.signed_tag(
            &[&format!("user.signingkey={fpr}")],
            "release",
            "v1.0",
            &good,
        );
        expect(
            &format!("{algo} signed tag"),
            run2(lab.sigil(&p, &["tag", "v1.0"])),
            (0, None),
            lab.git_verify("verify-tag", "v1.0", None, &[&cert]),
            0,
            "",
        );
        // The same signed tag object pushed under another name.
        let tag_obj = git(&lab.repo, &["rev-parse", "refs/tags/v1.0"]);
        git(&lab.repo, &["update-ref", "refs/tags/v2.0", &tag_obj]);
        expect(
            "tag name != ref",
            run2(lab.sigil(&p, &["tag", "v2.0"])),
            (1, Some("tag-name-mismatch")),
            lab.git_verify("verify-tag", "v2.0", None, &[&cert]),
            0,
            "pitfall 4: git does not compare the tag name with the ref",
        );
    }
}

#[test]
fn malleable_and_altered_objects() {
    let lab = Lab::new("sha1");
    let (alice, allowed, p) = lab.alice_ssh();
    let good = lab.commit(
        "a.txt",
        Some(("ssh", alice.to_str().unwrap())),
        "alice@example.com",
        &[],
    );
    let raw = git(&lab.repo, &["cat-file", "commit", &good]) + "\n";
    // An extra gpgsig-foo header: git drops it from the signed bytes, so the new id still verifies.
    let stray = raw.replacen("gpgsig ", "gpgsig-foo junk\n continued\ngpgsig ", 1);
    let id = write_object(&lab.repo, "commit", stray.as_bytes());
    git(&lab.repo, &["update-ref", "refs/heads/stray", &id]);
    expect(
        "extra gpgsig-foo header",
        run2(lab.sigil(&p, &["commits", &id, "--ref", "refs/heads/stray"])),
        (1, Some("stray-signature-header")),
        lab.git_verify("verify-commit", &id, Some(&allowed), &[]),
        0,
        "pitfall 2: git ignores headers starting with gpgsig",
    );
    // Content altered after signing.
    let altered = raw.replacen("\n\na.txt", "\n\nA.txt", 1);
    let id = write_object(&lab.repo, "commit", altered.as_bytes());
    expect(
        "message altered",
        run2(lab.sigil(&p, &["commits", &id, "--ref", "refs/heads/main"])),
        (1, Some("bad-signature")),
        lab.git_verify("verify-commit", &id, Some(&allowed), &[]),
        1,
        "",
    );
    // A wrong namespace: an SSH signature made for "file" over the same payload.
    let payload =
        raw.split("gpgsig ").next().unwrap().to_string() + &raw[raw.find("\n\n").unwrap() + 1..];
    let msg = lab.write("payload", &payload);
    let out = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "file", "-f"])
        .arg(&alice)
        .arg(&msg)
        .output()
        .unwrap();
    assert!(out.status.success());
    let sig = std::fs::read_to_string(msg.with_extension("sig")).unwrap();
    let header: String = sig
        .trim_end()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("gpgsig {l}\n")
            } else {
                format!(" {l}\n")
            }
        })
        .collect();
    let committer_end = payload.find("\n\n").unwrap() + 1;
    let wrong_ns = format!(
        "{}{}{}",
        &payload[..committer_end],
        header,
        &payload[committer_end..]
    );
    let id = write_object(&lab.repo, "commit", wrong_ns.as_bytes());
    expect(
        "wrong namespace",
        run2(lab.sigil(&p, &["commits", &id, "--ref", "refs/heads/main"])),
        (1, Some("wrong-namespace")),
        lab.git_verify("verify-commit", &id, Some(&allowed), &[]),
        1,
        "",
    );
    // Data after a tag's signature.
    lab.signed_tag(
        &[
            "gpg.format=ssh",
            &format!("user.signingkey={}", alice.display()),
        ],
        "rel",
        "v1",
        &good,
    );
    expect(
        "signed SSH tag",
        run2(lab.sigil(&p, &["tag", "v1"])),
        (0, None),
        lab.git_verify("verify-tag", "v1", Some(&allowed), &[]),
        0,
        "",
    );
    let tag_raw = git(&lab.repo, &["cat-file", "tag", "v1"]) + "\ntrailing junk\n";
    let id = write_object(&lab.repo, "tag", tag_raw.as_bytes());
    git(&lab.repo, &["update-ref", "refs/tags/v1", &id]);
    expect(
        "data after tag signature",
        run2(lab.sigil(&p, &["tag", "v1"])),
        (1, Some("tag-trailing-data")),
        lab.git_verify("verify-tag", "v1", Some(&allowed), &[]),
        0,
        "pitfall 2: git ignores bytes after a tag's signature",
    );
}

#[test]
fn merges_and_sha256() {
    let lab = Lab::new("sha1");
    let (alice, _, p) = lab.alice_ssh();
    let a = alice.to_str().unwrap();
    let base = lab.commit("a.txt", Some(("ssh", a)), "alice@example.com", &[]);
    git(&lab.repo, &["checkout", "-q", "-b", "side"]);
    let side = lab.commit("side.txt", None, "alice@example.com", &[]);
    git(&lab.repo, &["checkout", "-q", "main"]);
    lab.commit("main.txt", Some(("ssh", a)), "alice@example.com", &[]);
    let out = Command::new("git")
        .current_dir(&lab.repo)
        .args([
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("user.signingkey={a}"),
            "merge",
            "-q",
            "-S",
            "--no-ff",
            "-m",
            "merge",
            "side",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merge = git(&lab.repo, &["rev-parse", "HEAD"]);
    let (code, reason, v) = lab.sigil(
        &p,
        &[
            "commits",
            &format!("{base}..{merge}"),
            "--ref",
            "refs/heads/main",
        ],
    );
    assert_eq!(
        (code, reason.as_deref()),
        (1, Some("unsigned")),
        "a signed merge must not vouch for its unsigned side branch: {v}"
    );
    assert!(
        v["commits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == side.as_str() && c["reason"] == "unsigned")
    );
    let vouch = lab.write(
        "vouch.yaml",
        &std::fs::read_to_string(&p).unwrap().replace(
            "  commits:\n",
            "  commits:\n    signedMergesVouchForSideBranches: true\n",
        ),
    );
    let (code, _, v) = lab.sigil(
        &vouch,
        &[
            "commits",
            &format!("{base}..{merge}"),
            "--ref",
            "refs/heads/main",
        ],
    );
    assert_eq!(code, 0, "with the explicit option the merge vouches: {v}");
    // A SHA-256 repository.
    let lab = Lab::new("sha256");
    let (alice, _, p) = lab.alice_ssh();
    let c = lab.commit(
        "a.txt",
        Some(("ssh", alice.to_str().unwrap())),
        "alice@example.com",
        &[],
    );
    assert_eq!(c.len(), 64);
    let (code, reason, v) = lab.sigil(&p, &["commits", &c, "--ref", "refs/heads/main"]);
    assert_eq!((code, reason.as_deref()), (0, None), "{v}");
}

#[test]
fn policy_errors_are_reported_at_once() {
    let lab = Lab::new("sha1");
    let c = lab.commit("a.txt", None, "alice@example.com", &[]);
    let p = lab.write(
        "bad.yaml",
        "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  signers:\n    - name: a\n      openpgp: [missing.asc]\n  commits:\n    maxClockSkew: soon\n    rules:\n      - refs: [\"refs/heads/*\"]\n        signers: [nobody]\n",
    );
    let mut cmd = sigil();
    cmd.args([
        "verify",
        "commits",
        &c,
        "--ref",
        "refs/heads/main",
        "--policy",
    ])
    .arg(&p)
    .arg("--repo")
    .arg(&lab.repo);
    let out = run(cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    for needle in ["missing.asc", "soon", "nobody"] {
        assert!(err.contains(needle), "{needle} not reported: {err}");
    }
    // A typo in a field name is an error, never silently ignored.
    let typo = lab.write(
        "typo.yaml",
        "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  signer: []\n",
    );
    let mut cmd = sigil();
    cmd.args([
        "verify",
        "commits",
        &c,
        "--ref",
        "refs/heads/main",
        "--policy",
    ])
    .arg(&typo)
    .arg("--repo")
    .arg(&lab.repo);
    assert_eq!(run(cmd).status.code(), Some(2));
    // A policy inside the repository being verified is refused (self-authorizing policy).
    let inside = lab.repo.join("policy.yaml");
    std::fs::copy(&typo, &inside).unwrap();
    let mut cmd = sigil();
    cmd.args([
        "verify",
        "commits",
        &c,
        "--ref",
        "refs/heads/main",
        "--policy",
    ])
    .arg(&inside)
    .arg("--repo")
    .arg(&lab.repo);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inside the repository"));
}

mod openpgp_edge {
    //! OpenPGP cases that need a controlled clock: signatures made with sequoia at chosen times
    //! and placed into commits written with `git hash-object`.

    use super::*;
    use openpgp::cert::{CertBuilder, CipherSuite};
    use openpgp::packet::signature::SignatureBuilder;
    use openpgp::serialize::SerializeInto;
    use openpgp::serialize::stream::{Armorer, Message, Signer};
    use openpgp::types::{HashAlgorithm, KeyFlags, ReasonForRevocation, SignatureType};
    use sequoia_openpgp as openpgp;
    use std::io::Write;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    const DAY: u64 = 86400;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    /// A commit at `time`, signed by `key` (a fingerprint of a secret (sub)key in `cert`).
    fn signed_commit(
        lab: &Lab,
        cert: &openpgp::Cert,
        key: &openpgp::Fingerprint,
        time: u64,
        hash: HashAlgorithm,
        name: &str,
    ) -> String {
        let date = format!("@{time} +0000");
        let id = lab.commit(
            name,
            None,
            "alice@example.com",
            &[("GIT_COMMITTER_DATE", &date), ("GIT_AUTHOR_DATE", &date)],
        );
        let raw = git(&lab.repo, &["cat-file", "commit", &id]) + "\n";
        let keypair = cert
            .keys()
            .unencrypted_secret()
            .find(|k| &k.key().fingerprint() == key)
            .unwrap()
            .key()
            .clone()
            .into_keypair()
            .unwrap();
        let mut sink = Vec::new();
        {
            let m = Message::new(&mut sink);
            let m = Armorer::new(m)
                .kind(openpgp::armor::Kind::Signature)
                .build()
                .unwrap();
            let mut s =
                Signer::with_template(m, keypair, SignatureBuilder::new(SignatureType::Binary))
                    .unwrap()
                    .creation_time(at(time))
                    .hash_algo(hash)
                    .unwrap()
                    .detached()
                    .build()
                    .unwrap();
            s.write_all(raw.as_bytes()).unwrap();
            s.finalize().unwrap();
        }
        let sig = String::from_utf8(sink).unwrap();
        let header: String = sig
            .trim_end()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 0 {
                    format!("gpgsig {l}\n")
                } else {
                    format!(" {l}\n")
                }
            })
            .collect();
        let end = raw.find("\n\n").unwrap() + 1;
        let signed = format!("{}{}{}", &raw[..end], header, &raw[end..]);
        super::write_object(&lab.repo, "commit", signed.as_bytes())
    }

    fn setup(lab: &Lab, cert: &openpgp::Cert, extra: &str) -> (PathBuf, PathBuf) {
        let file = lab.s.write("alice.asc", &cert.armored().to_vec().unwrap());
        let p = lab.write(
            "policy.yaml",
            &format!(
                "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  signers:\n    - name: alice\n      openpgp: [{}]\n  commits:\n{extra}    rules:\n      - refs: [\"refs/heads/*\"]\n        signers: [alice]\n",
                file.display()
            ),
        );
        (p, file)
    }

    fn check(lab: &Lab, p: &Path, id: &str) -> (i32, Option<String>) {
        run2(lab.sigil(p, &["commits", id, "--ref", "refs/heads/main"]))
    }

    #[test]
    fn expiry_revocation_subkeys_and_weak_hashes() {
        let t0 = now() - 3 * 365 * DAY;
        let lab = Lab::new("sha1");
        // A primary key that signs, valid for one year from t0.
        let (cert, _) = CertBuilder::new()
            .add_userid("Alice <alice@example.com>")
            .set_cipher_suite(CipherSuite::Cv25519)
            .set_creation_time(at(t0))
            .set_validity_period(Duration::from_secs(365 * DAY))
            .set_primary_key_flags(KeyFlags::empty().set_certification().set_signing())
            .generate()
            .unwrap();
        let primary = cert.fingerprint();
        let (p, file) = setup(&lab, &cert, "");
        let before = signed_commit(
            &lab,
            &cert,
            &primary,
            t0 + 30 * DAY,
            HashAlgorithm::SHA512,
            "a.txt",
        );
        expect(
            "key expired since signing",
            check(&lab, &p, &before),
            (0, None),
            lab.git_verify("verify-commit", &before, None, &[&file]),
            1,
            "sigil judges keys at the signature time (as the issue specifies); git refuses keys expired now",
        );
        let now_s = time_now();
        assert_eq!(
            run2(lab.sigil(
                &p,
                &[
                    "commits",
                    &before,
                    "--ref",
                    "refs/heads/main",
                    "--first-seen",
                    &now_s
                ]
            )),
            (1, Some("expired-key".into())),
            "with a first-seen time (the gate's ledger) the key must also be valid when the commit was first seen"
        );
        let after = signed_commit(
            &lab,
            &cert,
            &primary,
            t0 + 400 * DAY,
            HashAlgorithm::SHA512,
            "b.txt",
        );
        expect(
            "key expired at signing",
            check(&lab, &p, &after),
            (1, Some("expired-key")),
            lab.git_verify("verify-commit", &after, None, &[&file]),
            1,
            "git refuses it too (gpg reports EXPKEYSIG)",
        );
        let sha1 = signed_commit(
            &lab,
            &cert,
            &primary,
            t0 + 31 * DAY,
            HashAlgorithm::SHA1,
            "c.txt",
        );
        expect(
            "SHA-1 signature",
            check(&lab, &p, &sha1),
            (1, Some("weak-hash")),
            lab.git_verify("verify-commit", &sha1, None, &[&file]),
            1,
            "pitfall 5: SHA-1 signatures are collision-prone (git refuses here only because the key has expired since)",
        );
        let (p_sha1, _) = setup(&lab, &cert, "    allowSha1Signatures: true\n");
        assert_eq!(
            check(&lab, &p_sha1, &sha1),
            (0, None),
            "explicitly allowed SHA-1 history"
        );

        // A certify-only primary with a signing subkey that expired after one day.
        let lab = Lab::new("sha1");
        let (cert, _) = CertBuilder::new()
            .add_userid("Alice <alice@example.com>")
            .set_cipher_suite(CipherSuite::Cv25519)
            .set_creation_time(at(t0))
            .set_primary_key_flags(KeyFlags::empty().set_certification())
            .add_subkey(
                KeyFlags::empty().set_signing(),
                Duration::from_secs(DAY),
                None,
            )
            .generate()
            .unwrap();
        let sub = cert.keys().subkeys().next().unwrap().key().fingerprint();
        let (p, file) = setup(&lab, &cert, "");
        let ok = signed_commit(&lab, &cert, &sub, t0 + 3600, HashAlgorithm::SHA256, "a.txt");
        expect(
            "signing subkey, valid at signing",
            check(&lab, &p, &ok),
            (0, None),
            lab.git_verify("verify-commit", &ok, None, &[&file]),
            1,
            "git refuses because the subkey has expired since; sigil judges at the signature time",
        );
        let late = signed_commit(
            &lab,
            &cert,
            &sub,
            t0 + 10 * DAY,
            HashAlgorithm::SHA256,
            "b.txt",
        );
        expect(
            "expired signing subkey, valid primary",
            check(&lab, &p, &late),
            (1, Some("expired-key")),
            lab.git_verify("verify-commit", &late, None, &[&file]),
            1,
            "both refuse a subkey expired at signing",
        );

        // A revoked (compromised) key: refused, also for signatures made before the revocation.
        let lab = Lab::new("sha1");
        let (cert, _) = CertBuilder::new()
            .add_userid("Alice <alice@example.com>")
            .set_cipher_suite(CipherSuite::Cv25519)
            .set_creation_time(at(t0))
            .set_primary_key_flags(KeyFlags::empty().set_certification().set_signing())
            .generate()
            .unwrap();
        let primary = cert.fingerprint();
        let c = signed_commit(
            &lab,
            &cert,
            &primary,
            t0 + 30 * DAY,
            HashAlgorithm::SHA512,
            "a.txt",
        );
        let mut signer = cert
            .primary_key()
            .key()
            .clone()
            .parts_into_secret()
            .unwrap()
            .into_keypair()
            .unwrap();
        let rev = openpgp::cert::CertRevocationBuilder::new()
            .set_reason_for_revocation(ReasonForRevocation::KeyCompromised, b"stolen")
            .unwrap()
            .build(&mut signer, &cert, None)
            .unwrap();
        let revoked = cert.clone().insert_packets(rev).unwrap().0;
        let (p, file) = setup(&lab, &revoked, "");
        expect(
            "revoked key",
            check(&lab, &p, &c),
            (1, Some("revoked-key")),
            lab.git_verify("verify-commit", &c, None, &[&file]),
            1,
            "",
        );
    }
}

#[test]
fn cache_state_file_and_rollback() {
    let lab = Lab::new("sha1");
    let (alice, _, p) = lab.alice_ssh();
    let a = alice.to_str().unwrap();
    let first = lab.commit("a.txt", Some(("ssh", a)), "alice@example.com", &[]);
    let second = lab.commit("b.txt", Some(("ssh", a)), "alice@example.com", &[]);
    let cache = lab.s.path("cache.jsonl");
    let state = lab.s.path("state");
    let c = cache.to_str().unwrap();
    let st = state.to_str().unwrap();
    // First run records the head and caches both commits.
    let (code, _, v) = lab.sigil(
        &p,
        &["commits", "main", "--since-last-verified", st, "--cache", c],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(std::fs::read_to_string(&state).unwrap().trim(), second);
    assert_eq!(std::fs::read_to_string(&cache).unwrap().lines().count(), 2);
    // A new unsigned commit: only it is checked, and refused; the state stays.
    let third = lab.commit("c.txt", None, "alice@example.com", &[]);
    let (code, reason, v) = lab.sigil(
        &p,
        &["commits", "main", "--since-last-verified", st, "--cache", c],
    );
    assert_eq!((code, reason.as_deref()), (1, Some("unsigned")), "{v}");
    assert_eq!(v["commits"].as_array().unwrap().len(), 1);
    assert_eq!(std::fs::read_to_string(&state).unwrap().trim(), second);
    // Cached verdicts are reused for a full range, and invalidated when the policy changes.
    let (code, _, v) = lab.sigil(
        &p,
        &[
            "commits",
            &format!("{first}..{second}"),
            "--ref",
            "refs/heads/main",
            "--cache",
            c,
        ],
    );
    assert_eq!(code, 0, "{v}");
    let other = lab.ssh_key("other", "ed25519");
    let stricter = lab.write(
        "p2.yaml",
        &std::fs::read_to_string(&p)
            .unwrap()
            .replace("signers: [alice, bob]", "signers: [bob]")
            .replace(
                "    - name: bob\n      allowedSigners: allowed_signers\n",
                &format!(
                    "    - name: bob\n      ssh: [\"{}\"]\n",
                    lab.pub_line(&other)
                ),
            ),
    );
    let (code, reason, _) = lab.sigil(
        &stricter,
        &[
            "commits",
            &format!("{first}..{second}"),
            "--ref",
            "refs/heads/main",
            "--cache",
            c,
        ],
    );
    assert_eq!(
        (code, reason.as_deref()),
        (1, Some("signer-not-allowed")),
        "a cached verdict must not survive a policy change"
    );
    // Moving the branch back to an older commit than the recorded one is a rollback.
    git(&lab.repo, &["reset", "-q", "--hard", &first]);
    let _ = third;
    let (code, reason, _) = lab.sigil(&p, &["commits", "main", "--since-last-verified", st]);
    assert_eq!((code, reason.as_deref()), (1, Some("not-descendant")));
}

/// `--since-last-verified` with a range: the range is verified and its tip must descend from
/// the recorded commit (neither is ignored); the tip is recorded only when both hold.
#[test]
fn since_last_verified_with_a_range_checks_both() {
    let lab = Lab::new("sha1");
    let (alice, _, p) = lab.alice_ssh();
    let a = alice.to_str().unwrap();
    let signed = Some(("ssh", a));
    let first = lab.commit("a.txt", signed, "alice@example.com", &[]);
    let second = lab.commit("b.txt", signed, "alice@example.com", &[]);
    let state = lab.s.path("state");
    let st = state.to_str().unwrap();
    let recorded = || std::fs::read_to_string(&state).unwrap().trim().to_string();
    let range = |a: &str, b: &str| {
        lab.sigil(
            &p,
            &[
                "commits",
                &format!("{a}..{b}"),
                "--ref",
                "refs/heads/main",
                "--since-last-verified",
                st,
            ],
        )
    };
    let (code, _, v) = range(&first, &second);
    assert_eq!(code, 0, "{v}");
    assert_eq!(recorded(), second);
    // A rewritten branch: the signed range first..third is fine, but third does not descend
    // from the recorded second.
    git(&lab.repo, &["reset", "-q", "--hard", &first]);
    let third = lab.commit("c.txt", signed, "alice@example.com", &[]);
    let (code, reason, v) = range(&first, &third);
    assert_eq!(
        (code, reason.as_deref()),
        (1, Some("not-descendant")),
        "{v}"
    );
    assert_eq!(recorded(), second);
    // Descending from the recorded commit, but the range holds an unsigned commit.
    git(&lab.repo, &["reset", "-q", "--hard", &second]);
    let unsigned = lab.commit("d.txt", None, "alice@example.com", &[]);
    let fourth = lab.commit("e.txt", signed, "alice@example.com", &[]);
    let (code, reason, v) = range(&second, &fourth);
    assert_eq!((code, reason.as_deref()), (1, Some("unsigned")), "{v}");
    assert_eq!(v["commits"][0]["id"], unsigned.as_str());
    assert_eq!(recorded(), second);
    // Both hold: the tip is recorded.
    git(&lab.repo, &["reset", "-q", "--hard", &second]);
    let fifth = lab.commit("f.txt", signed, "alice@example.com", &[]);
    let (code, _, v) = range(&second, &fifth);
    assert_eq!(code, 0, "{v}");
    assert_eq!(recorded(), fifth);
}

/// The cache key of a commit verdict, computed as `git::verify::Cache` does (no first-seen
/// time, no tag signers): what anyone who can write the cache file can compute too.
fn commit_cache_key(id: &str, refname: &str, policy_digest: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [
        id,
        refname,
        policy_digest,
        "None",
        env!("CARGO_PKG_VERSION"),
        "None",
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Verdict cache entries and range tips must authenticate under the local cache key: forged
/// ones (valid JSON, no MAC or a wrong one) are misses, so unsigned commits are still refused
/// and signed ones verified from scratch.
#[test]
fn forged_commit_cache_entries_and_tips_are_ignored() {
    let lab = Lab::new("sha1");
    let (alice, _, p) = lab.alice_ssh();
    let a = alice.to_str().unwrap();
    let base = lab.commit("a.txt", Some(("ssh", a)), "alice@example.com", &[]);
    let signed = lab.commit("b.txt", Some(("ssh", a)), "alice@example.com", &[]);
    // More than 64 commits: only then is the cache consulted commit by commit.
    let unsigned: Vec<String> = (0..65)
        .map(|i| lab.commit(&format!("u{i}.txt"), None, "alice@example.com", &[]))
        .collect();
    let head = unsigned.last().unwrap().clone();
    let cache = lab.s.path("cache.jsonl");
    let range = format!("{base}..{head}");
    let args = [
        "commits",
        &range,
        "--ref",
        "refs/heads/main",
        "--cache",
        cache.to_str().unwrap(),
    ];
    let (code, reason, v) = lab.sigil(&p, &args);
    assert_eq!((code, reason.as_deref()), (1, Some("unsigned")), "{v}");
    let digest = v["policyDigest"].as_str().unwrap().to_string();
    let genuine = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(genuine.lines().count(), 1, "the signed commit is cached");
    // Every commit marked verified by a forger, unauthenticated and with a wrong MAC.
    let mut forged = genuine.clone();
    for id in std::iter::once(&signed).chain(&unsigned) {
        let line = serde_json::json!([
            commit_cache_key(id, "refs/heads/main", &digest),
            {"signature_type": "ssh", "signer": "forged", "fingerprint": "forged",
             "principal": null, "rule": null, "committer": null}
        ])
        .to_string();
        forged.push_str(&format!("{line}\n{}\t{line}\n", "0".repeat(64)));
    }
    std::fs::write(&cache, forged).unwrap();
    let (code, reason, v) = lab.sigil(&p, &args);
    assert_eq!((code, reason.as_deref()), (1, Some("unsigned")), "{v}");
    let commits = v["commits"].as_array().unwrap();
    assert_eq!(commits.len(), 66);
    assert_eq!(commits[0]["id"], signed.as_str());
    assert_eq!(
        commits[0]["signer"], "alice",
        "verified, not read from a forgery"
    );
    assert!(
        commits[1..].iter().all(|c| c["reason"] == "unsigned"),
        "{v}"
    );
    // A forged tip saying the whole range was verified.
    let tip_key = commit_cache_key(&format!("range-from:{base}"), "refs/heads/main", &digest);
    let tips = serde_json::json!({ tip_key: head }).to_string();
    for text in [tips.clone(), format!("{}\t{tips}", "0".repeat(64))] {
        std::fs::write(lab.s.path("cache.jsonl.tips"), text).unwrap();
        let (code, reason, v) = lab.sigil(&p, &args);
        assert_eq!((code, reason.as_deref()), (1, Some("unsigned")), "{v}");
    }
    // The key was made on first use, 0600; a key file others can read is not used: same
    // verdicts, and no cache written.
    let key_file = lab.s.path("state-home/sigil/cache.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::remove_file(&cache).unwrap();
    let (code, reason, _) = lab.sigil(&p, &args);
    assert_eq!((code, reason.as_deref()), (1, Some("unsigned")));
    assert!(!cache.exists(), "no cache without a usable key");
}

/// Path rules cannot be bypassed by a file named after another commit of the range: the
/// changed paths come from the tree objects, not from parsing interleaved `git diff-tree`
/// output where such a name looked like the start of that commit's record.
#[test]
fn path_rules_hold_when_a_file_is_named_after_a_commit_id() {
    let lab = Lab::new("sha1");
    let alice = lab.ssh_key("alice", "ed25519");
    let mallory = lab.ssh_key("mallory", "ed25519");
    lab.write(
        "alice_signers",
        &format!("alice@example.com {}\n", lab.pub_line(&alice)),
    );
    lab.write(
        "mallory_signers",
        &format!("mallory@example.com {}\n", lab.pub_line(&mallory)),
    );
    let policy = lab.write(
        "policy.yaml",
        "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  signers:\n    - name: alice\n      allowedSigners: alice_signers\n      emails: [alice@example.com]\n    - name: mallory\n      allowedSigners: mallory_signers\n      emails: [mallory@example.com]\n  commits:\n    rules:\n      - refs: [\"refs/heads/*\"]\n        signers: [alice, mallory]\n      - refs: [\"refs/heads/*\"]\n        paths: [\"clusters/prod/**\"]\n        signers: [alice]\n",
    );
    let a = alice.to_str().unwrap();
    let m = mallory.to_str().unwrap();
    let base = lab.commit(
        "apps/readme.yaml",
        Some(("ssh", a)),
        "alice@example.com",
        &[],
    );
    // Alice's commit (allowed anywhere), then Mallory's: it adds a file named after Alice's
    // commit id *and* changes clusters/prod, which only Alice may touch.
    let first = lab.commit("apps/one.yaml", Some(("ssh", a)), "alice@example.com", &[]);
    std::fs::create_dir_all(lab.repo.join("notes")).unwrap();
    std::fs::write(lab.repo.join("notes").join(&first), "x").unwrap();
    std::fs::create_dir_all(lab.repo.join("clusters/prod")).unwrap();
    std::fs::write(lab.repo.join("clusters/prod/app.yaml"), "image: evil").unwrap();
    git(&lab.repo, &["add", "-A"]);
    let out = Command::new("git")
        .current_dir(&lab.repo)
        .args([
            "-c",
            "user.email=mallory@example.com",
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("user.signingkey={m}"),
            "commit",
            "-q",
            "-S",
            "-m",
            "innocent",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let bad = git(&lab.repo, &["rev-parse", "HEAD"]);
    let (code, reason, v) = lab.sigil(
        &policy,
        &[
            "commits",
            &format!("{base}..{bad}"),
            "--ref",
            "refs/heads/main",
        ],
    );
    assert_eq!(
        (code, reason.as_deref()),
        (1, Some("signer-not-allowed")),
        "{v}"
    );
    let verdicts = v["commits"].as_array().unwrap();
    let mallorys = verdicts.iter().find(|c| c["id"] == bad.as_str()).unwrap();
    assert_eq!(mallorys["result"], "refused", "{v}");
    assert!(
        mallorys["rule"]
            .as_str()
            .unwrap()
            .contains("clusters/prod/**"),
        "{v}"
    );
    assert!(
        mallorys["detail"]
            .as_str()
            .unwrap()
            .ends_with("allows only alice"),
        "{v}"
    );
    let alices = verdicts.iter().find(|c| c["id"] == first.as_str()).unwrap();
    assert_eq!(alices["result"], "verified", "{v}");
}

/// GitHub's web-flow signatures come from Go's OpenPGP encoder, which writes the RSA signature
/// MPI with a bit count of 8 × its length (and sometimes a leading zero byte). gpg accepts them;
/// sigil re-encodes the MPI minimally (the integer unchanged) and verifies. Encodings that
/// change the integer, bytes after the MPI and unknown algorithms stay refused.
#[test]
fn go_style_openpgp_signatures_verify_like_gpg() {
    let b64 = base64::engine::general_purpose::STANDARD;
    for algo in ["rsa2048", "rsa4096"] {
        let lab = Lab::new("sha1");
        let (fpr, cert) = lab.pgp_key("alice@example.com", algo);
        let p = policy(
            &lab,
            &format!(
                "    - name: alice\n      openpgp: [{}]\n    - name: bob\n      openpgp: [{}]\n",
                cert.display(),
                cert.display()
            ),
            "",
        );
        // A commit whose signature MPI has a top byte below 0x80 (about half of them).
        let (raw, sig_at, body, mpi_at) = (0..40)
            .find_map(|i| {
                let id = lab.commit(
                    &format!("f{i}.txt"),
                    Some(("openpgp", &fpr)),
                    "alice@example.com",
                    &[],
                );
                let raw = git(&lab.repo, &["cat-file", "commit", &id]) + "\n";
                let (sig_at, body) = signature_packet(&raw, &b64);
                let mpi_at = mpi_offset(&body);
                (body[mpi_at + 2] < 0x80).then_some((raw, sig_at, body, mpi_at))
            })
            .expect("a signature with a small top byte");
        let bits = u16::from_be_bytes([body[mpi_at], body[mpi_at + 1]]) as usize;
        let value = body[mpi_at + 2..].to_vec();
        assert_eq!(value.len(), bits.div_ceil(8));
        let variant = |mpi_bits: usize, mpi: &[u8], trailing: &[u8], algo_byte: Option<u8>| {
            let mut b = body[..mpi_at].to_vec();
            if let Some(a) = algo_byte {
                b[2] = a;
            }
            b.extend_from_slice(&(mpi_bits as u16).to_be_bytes());
            b.extend_from_slice(mpi);
            b.extend_from_slice(trailing);
            let mut packet = vec![0xc2, 0xff];
            packet.extend_from_slice(&(b.len() as u32).to_be_bytes());
            packet.extend(b);
            let id = write_object(
                &lab.repo,
                "commit",
                with_signature(&raw, sig_at, &packet, &b64).as_bytes(),
            );
            (
                id.clone(),
                run2(lab.sigil(&p, &["commits", &id, "--ref", "refs/heads/main"])),
                lab.git_verify("verify-commit", &id, None, &[&cert]),
            )
        };
        // Go: 8 × length bits.
        let (_, sigil, git_rc) = variant(value.len() * 8, &value, &[], None);
        assert_eq!((sigil, git_rc), ((0, None), 0), "{algo}: Go's bit count");
        // Go: a leading zero byte.
        let mut zero = vec![0u8];
        zero.extend_from_slice(&value);
        let (_, sigil, git_rc) = variant(zero.len() * 8, &zero, &[], None);
        assert_eq!((sigil, git_rc), ((0, None), 0), "{algo}: leading zero byte");
        // The integer changed: truncated, or padded at the end.
        let (_, sigil, _) = variant((value.len() - 1) * 8, &value[..value.len() - 1], &[], None);
        assert_eq!(
            sigil,
            (1, Some("bad-signature".into())),
            "{algo}: truncated"
        );
        let mut padded = value.clone();
        padded.push(0);
        let (_, sigil, _) = variant(padded.len() * 8, &padded, &[], None);
        assert_eq!(sigil, (1, Some("bad-signature".into())), "{algo}: padded");
        // A byte after the MPI, and an unknown algorithm: refused with the parser's error.
        let (id, sigil, _) = variant(value.len() * 8, &value, &[0], None);
        assert_eq!(
            sigil,
            (1, Some("bad-signature".into())),
            "{algo}: trailing byte"
        );
        let (_, _, v) = lab.sigil(&p, &["commits", &id, "--ref", "refs/heads/main"]);
        assert!(
            v["commits"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("unreadable"),
            "{v}"
        );
        let (_, sigil, _) = variant(value.len() * 8, &value, &[], Some(99));
        assert_eq!(sigil.0, 1, "{algo}: unknown algorithm");
    }
}

/// The gpgsig header's position in a raw commit and its signature packet's body.
fn signature_packet(raw: &str, b64: &base64::engine::GeneralPurpose) -> (usize, Vec<u8>) {
    use base64::Engine;
    let at = raw.find("\ngpgsig ").unwrap() + 1;
    let block: String = raw[at..]
        .lines()
        .take_while(|l| !l.contains("-----END PGP SIGNATURE-----"))
        .map(|l| l.trim_start_matches("gpgsig ").trim())
        .skip_while(|l| !l.is_empty())
        .filter(|l| !l.is_empty() && !l.starts_with('='))
        .collect();
    let bin = b64.decode(block).unwrap();
    // One signature packet: old (gpg) or new format header.
    let (hdr, len) = if bin[0] & 0x40 != 0 {
        match bin[1] {
            0..=191 => (2, bin[1] as usize),
            192..=223 => (3, ((bin[1] as usize - 192) << 8) + bin[2] as usize + 192),
            _ => (
                6,
                u32::from_be_bytes(bin[2..6].try_into().unwrap()) as usize,
            ),
        }
    } else {
        match bin[0] & 3 {
            0 => (2, bin[1] as usize),
            1 => (3, u16::from_be_bytes([bin[1], bin[2]]) as usize),
            _ => (
                5,
                u32::from_be_bytes(bin[1..5].try_into().unwrap()) as usize,
            ),
        }
    };
    assert_eq!(hdr + len, bin.len(), "one packet");
    (at, bin[hdr..].to_vec())
}

/// Where the first MPI of a v4 signature body starts.
fn mpi_offset(body: &[u8]) -> usize {
    assert_eq!(body[0], 4);
    let hashed = u16::from_be_bytes([body[4], body[5]]) as usize;
    let unhashed = u16::from_be_bytes([body[6 + hashed], body[7 + hashed]]) as usize;
    6 + hashed + 2 + unhashed + 2
}

/// The raw commit with its gpgsig header replaced by `packet`, armored as git writes it.
fn with_signature(
    raw: &str,
    at: usize,
    packet: &[u8],
    b64: &base64::engine::GeneralPurpose,
) -> String {
    use base64::Engine;
    let end = raw[at..].find("-----END PGP SIGNATURE-----").unwrap() + at;
    let end = end + raw[end..].find('\n').unwrap() + 1;
    let crc = crc24(packet);
    let text = b64.encode(packet);
    let mut armor = String::from("gpgsig -----BEGIN PGP SIGNATURE-----\n \n");
    for chunk in text.as_bytes().chunks(64) {
        armor.push(' ');
        armor.push_str(std::str::from_utf8(chunk).unwrap());
        armor.push('\n');
    }
    armor.push_str(&format!(
        " ={}\n -----END PGP SIGNATURE-----\n",
        b64.encode(&crc.to_be_bytes()[1..])
    ));
    format!("{}{armor}{}", &raw[..at], &raw[end..])
}

fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xB704CE;
    for &b in data {
        crc ^= (b as u32) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x1000000 != 0 {
                crc ^= 0x1864CFB;
            }
        }
    }
    crc & 0xFFFFFF
}

/// GitHub's previous web-flow key expired on 2024-01-16. A history it signed while valid
/// verifies by signature time; judged again at today's first look it is `expired-key`, which is
/// what defeats backdating. A trust anchor (history already accepted) exempts what it reaches
/// from the first-seen judgement, and only that.
#[test]
fn keys_that_expired_after_signing_and_trust_anchors() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new("sha1");
    // gpg at a faked time, for key creation and for signing (git calls it as gpg.program).
    let at = lab.write(
        "gpg-at",
        "#!/bin/sh\nexec gpg --faked-system-time \"$FAKE_TIME!\" \"$@\"\n",
    );
    std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o755)).unwrap();
    let gen_key = |name: &str, created: &str, expires: &str| -> (String, PathBuf) {
        lab.gpg(&[
            "--faked-system-time",
            &format!("{created}!"),
            "--quick-gen-key",
            &format!("{name} <noreply@github.com>"),
            "rsa2048",
            "sign,cert",
            expires,
        ]);
        let listing = String::from_utf8(lab.gpg(&["--with-colons", "--list-keys", name])).unwrap();
        let fpr = listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:::::::::"))
            .unwrap()
            .trim_end_matches(':')
            .to_string();
        let cert = lab.s.write(
            &format!("{name}.asc"),
            &lab.gpg(&["--armor", "--export", &fpr]),
        );
        (fpr, cert)
    };
    let (old, old_cert) = gen_key("web-flow-2017", "20230101T000000", "2024-01-16");
    let (new, new_cert) = gen_key("web-flow-2024", "20240110T000000", "never");
    let p = lab.write(
        "policy.yaml",
        &format!(
            "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  signers:\n    - name: github\n      bot: true\n      openpgp: [{}, {}]\n  commits:\n    rules:\n      - refs: [\"refs/heads/*\"]\n        signers: [github]\n",
            old_cert.display(),
            new_cert.display()
        ),
    );
    // Signed as GitHub does for merges, with the key and the date of the day.
    let signed = |file: &str, fpr: &str, date: &str| -> String {
        let iso = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &date[..4],
            &date[4..6],
            &date[6..8],
            &date[9..11],
            &date[11..13],
            &date[13..15]
        );
        lab.commit(
            file,
            Some(("openpgp", fpr)),
            "noreply@github.com",
            &[
                ("FAKE_TIME", date),
                ("GIT_COMMITTER_DATE", &iso),
                ("GIT_AUTHOR_DATE", &iso),
                ("GIT_CONFIG_COUNT", "1"),
                ("GIT_CONFIG_KEY_0", "gpg.program"),
                ("GIT_CONFIG_VALUE_0", at.to_str().unwrap()),
            ],
        )
    };
    let first = signed("f0.txt", &old, "20230201T100000");
    for (i, d) in [
        "20230401T100000",
        "20230701T100000",
        "20231001T100000",
        "20231215T100000",
    ]
    .iter()
    .enumerate()
    {
        signed(&format!("old{i}.txt"), &old, d);
    }
    let last_old = git(&lab.repo, &["rev-parse", "HEAD"]);
    for (i, d) in ["20240201T100000", "20240601T100000"].iter().enumerate() {
        signed(&format!("new{i}.txt"), &new, d);
    }
    let range = format!("{first}..HEAD");
    let verify = |extra: &[&str]| {
        let mut args = vec!["commits", range.as_str(), "--ref", "refs/heads/main"];
        args.extend_from_slice(extra);
        run2(lab.sigil(&p, &args))
    };
    // By signature time: the whole history verifies. (`git verify-commit` refuses every
    // commit of an expired key, whenever it was signed: exit 1.)
    assert_eq!(verify(&[]), (0, None));
    assert_eq!(
        lab.git_verify("verify-commit", &last_old, None, &[&old_cert]),
        1
    );
    // First seen today: the old key's commits are refused...
    let today = time_now();
    assert_eq!(
        verify(&["--first-seen", &today]),
        (1, Some("expired-key".into()))
    );
    // ...unless they are history already accepted (a trust anchor), and then only those.
    assert_eq!(
        verify(&["--first-seen", &today, "--trust-anchor", &last_old]),
        (0, None)
    );
    // The old key's commits first seen before its expiry: fine.
    let (code, _, v) = lab.sigil(
        &p,
        &[
            "commits",
            &format!("{first}..{last_old}"),
            "--ref",
            "refs/heads/main",
            "--first-seen",
            "2023-12-31T00:00:00Z",
        ],
    );
    assert_eq!(code, 0, "{v}");
    // A commit backdated into the old key's validity after it expired, on top of the anchor:
    // not anchored, so first-seen today refuses it.
    let backdated = signed("backdated.txt", &old, "20231220T100000");
    let (code, reason, _) = lab.sigil(
        &p,
        &[
            "commits",
            &format!("{last_old}..{backdated}"),
            "--ref",
            "refs/heads/main",
            "--first-seen",
            &today,
            "--trust-anchor",
            &last_old,
        ],
    );
    assert_eq!((code, reason.as_deref()), (1, Some("expired-key")));
}

/// An X.509 user certificate for `email` whose key gpgsm makes in `gnupg`, issued by the
/// openssl CA `ca` (`<ca>.pem`/`<ca>.key` in `dir`); the CA is imported and trusted there.
fn gpgsm_user(gnupg: &Path, dir: &Path, ca: &str, email: &str) {
    std::fs::create_dir_all(gnupg).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(gnupg.join("gpgsm.conf"), "disable-crl-checks\n").unwrap();
    let gpgsm = |args: &[&str], _: Option<&Path>| -> Vec<u8> {
        let out = Command::new("gpgsm")
            .env("GNUPGHOME", gnupg)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpgsm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let params = dir.join(format!("{email}.params"));
    std::fs::write(
        &params,
        format!("Key-Type: RSA\nKey-Length: 2048\nKey-Usage: sign\nName-DN: CN={email}\nName-Email: {email}\n"),
    )
    .unwrap();
    let csr = gpgsm(&["--armor", "--gen-key", params.to_str().unwrap()], None);
    let name = email.replace('@', "-");
    std::fs::write(dir.join(format!("{name}.csr")), csr).unwrap();
    common::openssl::sign(
        dir,
        &name,
        ca,
        &format!(
            "subjectAltName=email:{email}\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection\n"
        ),
        &name,
        None,
    );
    let ca_pem = dir.join(format!("{ca}.pem"));
    gpgsm(
        &[
            "--import",
            ca_pem.to_str().unwrap(),
            dir.join(format!("{name}.pem")).to_str().unwrap(),
        ],
        None,
    );
    let fpr = common::openssl::openssl(
        dir,
        &[
            "x509",
            "-in",
            &format!("{ca}.pem"),
            "-noout",
            "-fingerprint",
            "-sha1",
        ],
    );
    let fpr = String::from_utf8(fpr).unwrap();
    let fpr = fpr.trim().split('=').nth(1).unwrap().to_string();
    let trust = gnupg.join("trustlist.txt");
    let old = std::fs::read_to_string(&trust).unwrap_or_default();
    std::fs::write(&trust, format!("{old}{fpr} S relax\n")).unwrap();
}

/// gpgsm (`gpg.format=x509`) commit signatures with a private CA made by openssl, compared
/// with `git verify-commit` (which runs gpgsm with the same trust list).
#[test]
fn x509_gpgsm_signatures() {
    let lab = Lab::new("sha1");
    let dir = lab.s.path("pki");
    std::fs::create_dir_all(&dir).unwrap();
    common::openssl::ca(&dir, "ca", "Test Root");
    common::openssl::ca(&dir, "other", "Other Root");
    gpgsm_user(&lab.s.path("gnupg"), &dir, "ca", "alice@example.com");
    let x509_policy = |name: &str, bundle: &str, emails: &str| {
        lab.write(
            name,
            &format!(
                "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nmetadata: {{name: t}}\nspec:\n  signers:\n    - name: alice\n      emails: [alice@example.com]\n      x509: {{caBundle: {}, emails: [{emails}]}}\n  commits:\n    rules:\n      - refs: [\"refs/heads/*\"]\n        signers: [alice]\n        requireCommitterMatch: true\n  tags:\n    - pattern: \"v*\"\n      signers: [alice]\n",
                dir.join(bundle).display()
            ),
        )
    };
    let p = x509_policy("x509.yaml", "ca.pem", "\"*@example.com\"");
    let good = lab.commit(
        "a.txt",
        Some(("x509", "alice@example.com")),
        "alice@example.com",
        &[],
    );
    // git's verdict with the gpgsm home that signed (`verify-commit` or `verify-tag`).
    let git_verify = |what: &str, id: &str| {
        Command::new("git")
            .current_dir(&lab.repo)
            .env("GNUPGHOME", lab.s.path("gnupg"))
            .args([what, id])
            .output()
            .unwrap()
            .status
            .code()
            .unwrap_or(-1)
    };
    expect(
        "gpgsm signature under the CA",
        run2(lab.sigil(&p, &["commits", &good, "--ref", "refs/heads/main"])),
        (0, None),
        git_verify("verify-commit", &good),
        0,
        "",
    );
    let (_, _, json) = lab.sigil(&p, &["commits", &good, "--ref", "refs/heads/main"]);
    assert_eq!(json["commits"][0]["signatureType"], "x509");
    assert_eq!(json["commits"][0]["principal"], "alice@example.com");
    // Content altered after signing.
    let raw = git(&lab.repo, &["cat-file", "commit", &good]) + "\n";
    let altered = write_object(
        &lab.repo,
        "commit",
        raw.replace("a.txt", "b.txt").as_bytes(),
    );
    expect(
        "altered after signing",
        run2(lab.sigil(&p, &["commits", &altered, "--ref", "refs/heads/main"])),
        (1, Some("bad-signature")),
        git_verify("verify-commit", &altered),
        1,
        "",
    );
    // Another CA in the policy.
    let p_other = x509_policy("x509-other.yaml", "other.pem", "\"*@example.com\"");
    expect(
        "a CA the policy does not name",
        run2(lab.sigil(&p_other, &["commits", &good, "--ref", "refs/heads/main"])),
        (1, Some("untrusted-ca")),
        git_verify("verify-commit", &good),
        0,
        "git trusts every root of gpgsm's trust list, not the policy's",
    );
    // An email the signer may not use.
    let p_bob = x509_policy("x509-bob.yaml", "ca.pem", "bob@example.com");
    expect(
        "certificate email outside the signer's",
        run2(lab.sigil(&p_bob, &["commits", &good, "--ref", "refs/heads/main"])),
        (1, Some("cert-principal-mismatch")),
        git_verify("verify-commit", &good),
        0,
        "",
    );
    // First seen after the certificate expired (it is valid 10 days).
    let later = "2099-01-01T00:00:00Z";
    expect(
        "first seen after the certificate expired",
        run2(lab.sigil(
            &p,
            &[
                "commits",
                &good,
                "--ref",
                "refs/heads/main",
                "--first-seen",
                later,
            ],
        )),
        (1, Some("cert-expired")),
        git_verify("verify-commit", &good),
        0,
        "gpgsm judges the certificate at the signer-controlled signing time",
    );
    // A signed tag goes through the same verifier.
    lab.signed_tag(
        &[
            "gpg.format=x509",
            "user.signingkey=alice@example.com",
            "user.email=alice@example.com",
        ],
        "rel",
        "v1",
        &good,
    );

    expect(
        "gpgsm-signed tag",
        run2(lab.sigil(&p, &["tag", "v1"])),
        (0, None),
        git_verify("verify-tag", "v1"),
        0,
        "",
    );
    // requireCommitterMatch: the certificate email must be the committer.
    let other = lab.commit(
        "c.txt",
        Some(("x509", "alice@example.com")),
        "carol@example.com",
        &[],
    );
    expect(
        "certificate email is not the committer",
        run2(lab.sigil(&p, &["commits", &other, "--ref", "refs/heads/main"])),
        (1, Some("committer-mismatch")),
        git_verify("verify-commit", &other),
        0,
        "",
    );
}
