//! `commits.mode: in-repo` (the repository's own `openpgp-policy.toml`, sequoia-git's model)
//! against the reference implementation: every case is a real repository made here with gpg
//! keys and `git commit -S`, judged by `sigil verify commits|tag` and by `sq-git log` /
//! `sq-git verify-tag` (crates.io sequoia-git 0.6.0, installed by the test command) with the
//! same trust root. Where sigil decides otherwise, the case says so and why.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The sequoia-git CLI (`$SQ_GIT_BIN`, else `sq-git` on PATH or in ~/.cargo/bin).
fn sq_git_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SQ_GIT_BIN") {
        return PathBuf::from(p);
    }
    let cargo_bin = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo/bin/sq-git"))
        .filter(|p| p.exists());
    cargo_bin.unwrap_or_else(|| PathBuf::from("sq-git"))
}

struct Lab {
    s: Scratch,
    repo: PathBuf,
    /// Entity name → (fingerprint, armored certificate).
    keys: std::collections::BTreeMap<String, (String, String)>,
}

/// Rights written into an authorization entry.
const ALL: &[&str] = &[
    "sign_commit",
    "sign_tag",
    "sign_archive",
    "add_user",
    "retire_user",
    "audit",
];

impl Lab {
    fn new(people: &[&str]) -> Lab {
        Lab::with_format(people, "sha1")
    }

    fn with_format(people: &[&str], object_format: &str) -> Lab {
        let s = Scratch::new();
        let repo = s.path("repo");
        assert!(
            Command::new("git")
                .args(["init", "-q", "-b", "main"])
                .arg(format!("--object-format={object_format}"))
                .arg(&repo)
                .status()
                .unwrap()
                .success()
        );
        let mut lab = Lab {
            s,
            repo,
            keys: Default::default(),
        };
        for (k, v) in [
            ("user.name", "Test"),
            ("user.email", "test@example.com"),
            ("commit.gpgsign", "false"),
            ("tag.gpgsign", "false"),
            ("gpg.format", "openpgp"),
        ] {
            lab.git(&["config", k, v]);
        }
        for p in people {
            let (fpr, _, public) = lab.s.pgp_key(&format!("{p}@example.com"), "ed25519");
            let armored = std::fs::read_to_string(public).unwrap();
            lab.keys.insert(p.to_string(), (fpr, armored));
        }
        lab
    }

    fn git(&self, args: &[&str]) -> String {
        common::gate::git_with(&self.repo, &[("GNUPGHOME", &self.s.path("gnupg"))], args)
    }

    /// An `openpgp-policy.toml` with the given (entity, rights) entries.
    fn policy(&self, entries: &[(&str, &[&str])]) -> String {
        let mut out = String::from("version = 0\ncommit_goodlist = []\n");
        for (name, rights) in entries {
            out.push_str(&format!("\n[authorization.{name}]\n"));
            for r in *rights {
                out.push_str(&format!("{r} = true\n"));
            }
            out.push_str(&format!("keyring = \"\"\"\n{}\"\"\"\n", self.keys[*name].1));
        }
        out
    }

    /// Commits `files` (path, content) on the current branch, signed by `signer` (an entity
    /// name) or unsigned; returns the commit id.
    fn commit(&self, files: &[(&str, &str)], signer: Option<&str>, msg: &str) -> String {
        for (path, content) in files {
            std::fs::write(self.repo.join(path), content).unwrap();
            self.git(&["add", path]);
        }
        match signer {
            Some(who) => {
                let key = format!("user.signingkey={}", self.keys[who].0);
                self.git(&["-c", &key, "commit", "-q", "--allow-empty", "-S", "-m", msg]);
            }
            None => {
                self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
            }
        }
        self.git(&["rev-parse", "HEAD"])
    }

    fn sigil_policy(&self, trust: &str) -> PathBuf {
        self.s.write(
            "sigil-policy.yaml",
            format!(
                "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nmetadata: {{name: in-repo}}\nspec:\n  commits:\n    mode: in-repo\n    inRepo: {{{trust}}}\n"
            )
            .as_bytes(),
        )
    }

    /// `sigil verify ARGS` on this repository: (exit code, reason, the JSON report).
    fn sigil(&self, policy: &Path, args: &[&str]) -> (i32, Option<String>, serde_json::Value) {
        verify_json(&self.s.path("state-home"), policy, &self.repo, args)
    }

    /// sq-git's verdict (exit code) on `sq-git log --trust-root T target` or `verify-tag`.
    fn sq_git(&self, args: &[&str]) -> i32 {
        let mut c = Command::new(sq_git_bin());
        c.current_dir(&self.repo)
            .env("HOME", self.s.path("home"))
            .env("XDG_CACHE_HOME", self.s.path("sq-cache"))
            .args(args);
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("{} cannot run: {e}", sq_git_bin().display()));
        if std::env::var("SIGIL_TEST_DEBUG").is_ok() {
            eprintln!(
                "sq-git {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out.status.code().unwrap_or(-1)
    }

    /// Judges `target` with both and asserts both verdicts are `expect` (true: verified);
    /// sigil's reason must be `reason` when refused.
    fn both(&self, policy: &Path, root: &str, target: &str, expect: bool, reason: Option<&str>) {
        let (code, why, json) =
            self.sigil(policy, &["commits", "--ref", "refs/heads/main", target]);
        let sq = self.sq_git(&["log", "--trust-root", root, target]);
        let what = self.git(&["log", "-1", "--format=%s", target]);
        assert_eq!(
            (code == 0, sq == 0),
            (expect, expect),
            "'{what}': sigil {code} {why:?}, sq-git {sq}; sigil said {json:#}"
        );
        if !expect {
            assert_eq!(code, 1, "'{what}': {json:#}");
            assert_eq!(why.as_deref(), reason, "'{what}': {json:#}");
        }
    }
}

#[test]
fn authorised_unauthorised_policy_changes_and_merges_agree_with_sq_git() {
    let lab = Lab::new(&["alice", "bob", "carol", "mallory"]);
    let p0 = lab.policy(&[("alice", ALL), ("bob", &["sign_commit"])]);
    let root = lab.commit(&[("openpgp-policy.toml", &p0)], Some("alice"), "root");
    let policy = lab.sigil_policy(&format!("trustRoot: {root}"));

    // Authorised commits by both entities.
    let a1 = lab.commit(&[("app.yaml", "a: 1\n")], Some("alice"), "alice edits");
    lab.both(&policy, &root, &a1, true, None);
    let b1 = lab.commit(&[("app.yaml", "a: 2\n")], Some("bob"), "bob edits");
    lab.both(&policy, &root, &b1, true, None);
    // The trust root itself, and the whole range through a middle commit.
    lab.both(&policy, &root, &root, true, None);
    let (code, _, json) = lab.sigil(
        &policy,
        &[
            "commits",
            "--ref",
            "refs/heads/main",
            &format!("{a1}..{b1}"),
        ],
    );
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(
        lab.sq_git(&["log", "--trust-root", &root, &format!("{a1}..{b1}")]),
        0
    );
    assert_eq!(json["commits"].as_array().unwrap().len(), 2, "{json:#}");

    // Unsigned, and signed by a key no entity holds.
    lab.git(&["checkout", "-q", "-b", "unsigned", &b1]);
    let u = lab.commit(&[("app.yaml", "a: 3\n")], None, "unsigned edit");
    lab.both(&policy, &root, &u, false, Some("unsigned"));
    lab.git(&["checkout", "-q", "-b", "mallory", &b1]);
    let m = lab.commit(&[("app.yaml", "a: 4\n")], Some("mallory"), "mallory edits");
    lab.both(&policy, &root, &m, false, Some("untrusted-key"));
    // A commit on top of an unauthorised one: no path, whoever signs the top.
    let on_top = lab.commit(
        &[("app.yaml", "a: 5\n")],
        Some("alice"),
        "alice on mallory's",
    );
    lab.both(&policy, &root, &on_top, false, Some("untrusted-key"));

    // A policy change by an entity without add_user: refused; by alice: accepted, and the
    // new entity's commits then are too.
    let p1 = lab.policy(&[
        ("alice", ALL),
        ("bob", &["sign_commit"]),
        ("carol", &["sign_commit"]),
    ]);
    lab.git(&["checkout", "-q", "-b", "bob-adds", &b1]);
    let bob_adds = lab.commit(
        &[("openpgp-policy.toml", &p1)],
        Some("bob"),
        "bob adds carol",
    );
    lab.both(
        &policy,
        &root,
        &bob_adds,
        false,
        Some("policy-change-not-allowed"),
    );
    lab.git(&["checkout", "-q", "-b", "alice-adds", &b1]);
    let alice_adds = lab.commit(
        &[("openpgp-policy.toml", &p1)],
        Some("alice"),
        "alice adds carol",
    );
    lab.both(&policy, &root, &alice_adds, true, None);
    let c1 = lab.commit(&[("app.yaml", "a: 6\n")], Some("carol"), "carol edits");
    lab.both(&policy, &root, &c1, true, None);
    // Carol's first commit cannot add herself: the policy in force is her parent's.
    lab.git(&["checkout", "-q", "-b", "carol-self", &b1]);
    let carol_self = lab.commit(
        &[("openpgp-policy.toml", &p1)],
        Some("carol"),
        "carol adds herself",
    );
    lab.both(&policy, &root, &carol_self, false, Some("untrusted-key"));

    // Granting a right the granter holds needs add_user; bob cannot give himself add_user.
    lab.git(&["checkout", "-q", "-b", "bob-escalates", &b1]);
    let p_esc = lab.policy(&[("alice", ALL), ("bob", &["sign_commit", "add_user"])]);
    let esc = lab.commit(
        &[("openpgp-policy.toml", &p_esc)],
        Some("bob"),
        "bob escalates",
    );
    lab.both(
        &policy,
        &root,
        &esc,
        false,
        Some("policy-change-not-allowed"),
    );

    // Retiring: bob (no retire_user) cannot remove alice; alice can remove bob, after which
    // bob's commits are refused.
    lab.git(&["checkout", "-q", "-b", "bob-retires", &b1]);
    let p_no_alice = lab.policy(&[("bob", &["sign_commit"])]);
    let bob_retires = lab.commit(
        &[("openpgp-policy.toml", &p_no_alice)],
        Some("bob"),
        "bob removes alice",
    );
    lab.both(
        &policy,
        &root,
        &bob_retires,
        false,
        Some("policy-change-not-allowed"),
    );
    lab.git(&["checkout", "-q", "-b", "alice-retires", &b1]);
    let p_no_bob = lab.policy(&[("alice", ALL)]);
    let alice_retires = lab.commit(
        &[("openpgp-policy.toml", &p_no_bob)],
        Some("alice"),
        "alice removes bob",
    );
    lab.both(&policy, &root, &alice_retires, true, None);
    let bob_after = lab.commit(
        &[("app.yaml", "a: 7\n")],
        Some("bob"),
        "bob after retirement",
    );
    lab.both(&policy, &root, &bob_after, false, Some("untrusted-key"));
    // Deleting the policy file needs the rights to remove everyone (alice has them); after
    // that the void policy authorises nothing.
    lab.git(&["checkout", "-q", "-b", "void", &b1]);
    lab.git(&["rm", "-q", "openpgp-policy.toml"]);
    let voided = lab.commit(&[], Some("alice"), "alice deletes the policy");
    lab.both(&policy, &root, &voided, true, None);
    let after_void = lab.commit(
        &[("app.yaml", "a: 8\n")],
        Some("alice"),
        "alice after the void",
    );
    lab.both(&policy, &root, &after_void, false, Some("untrusted-key"));
    lab.git(&["checkout", "-q", "-b", "bob-voids", &b1]);
    lab.git(&["rm", "-q", "openpgp-policy.toml"]);
    let bob_voids = lab.commit(&[], Some("bob"), "bob deletes the policy");
    lab.both(
        &policy,
        &root,
        &bob_voids,
        false,
        Some("policy-change-not-allowed"),
    );

    // Merges: one authorised parent is enough (sequoia-git's rule: a maintainer may merge a
    // third party's commits as they are); the merge's own signer must be authorised.
    lab.git(&["checkout", "-q", "-b", "merged", &a1]);
    lab.git(&[
        "-c",
        &format!("user.signingkey={}", lab.keys["alice"].0),
        "merge",
        "-q",
        "--no-ff",
        "-S",
        "-m",
        "alice merges mallory's branch",
        &m,
    ]);
    let merge_ok = lab.git(&["rev-parse", "HEAD"]);
    lab.both(&policy, &root, &merge_ok, true, None);
    let (_, _, json) = lab.sigil(&policy, &["commits", "--ref", "refs/heads/main", &merge_ok]);
    let listed: Vec<&str> = json["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        !listed.contains(&m.as_str()),
        "mallory's commit is not claimed verified: {json:#}"
    );
    lab.git(&["checkout", "-q", "-b", "mallory-merges", &a1]);
    lab.git(&[
        "-c",
        &format!("user.signingkey={}", lab.keys["mallory"].0),
        "merge",
        "-q",
        "--no-ff",
        "-S",
        "-m",
        "mallory merges",
        &b1,
    ]);
    let merge_bad = lab.git(&["rev-parse", "HEAD"]);
    lab.both(&policy, &root, &merge_bad, false, Some("untrusted-key"));
    lab.git(&["checkout", "-q", "-b", "unsigned-merge", &a1]);
    lab.git(&[
        "merge",
        "-q",
        "--no-ff",
        "--no-gpg-sign",
        "-m",
        "unsigned merge",
        &m,
    ]);
    let merge_unsigned = lab.git(&["rev-parse", "HEAD"]);
    lab.both(&policy, &root, &merge_unsigned, false, Some("unsigned"));

    // A target that does not descend from the trust root.
    lab.git(&["checkout", "-q", "--orphan", "elsewhere"]);
    let orphan = lab.commit(
        &[("openpgp-policy.toml", &p0)],
        Some("alice"),
        "another history",
    );
    lab.both(
        &policy,
        &root,
        &orphan,
        false,
        Some("trust-root-not-ancestor"),
    );

    // Tags: sign_tag in the tagged commit's policy. Bob lacks it; alice has it.
    lab.git(&["checkout", "-q", "main"]);
    let tag = |name: &str, who: &str| {
        let key = format!("user.signingkey={}", lab.keys[who].0);
        lab.git(&["-c", &key, "tag", "-s", "-m", name, name, &b1]);
    };
    tag("v1-bob", "bob");
    tag("v1-alice", "alice");
    for (name, expect, reason) in [
        ("v1-bob", false, Some("signer-not-allowed")),
        ("v1-alice", true, None),
    ] {
        let (code, why, json) = lab.sigil(&policy, &["tag", name]);
        let sq = lab.sq_git(&["verify-tag", "--trust-root", &root, name]);
        assert_eq!(
            (code == 0, sq == 0),
            (expect, expect),
            "{name}: sigil {code} {why:?}, sq-git {sq}: {json:#}"
        );
        assert_eq!(why.as_deref(), reason, "{name}: {json:#}");
    }
    // A tag on a commit with no path from the trust root is refused by both.
    let key = format!("user.signingkey={}", lab.keys["alice"].0);
    lab.git(&["-c", &key, "tag", "-s", "-m", "v2", "v2-unauthorised", &m]);
    let (code, why, _) = lab.sigil(&policy, &["tag", "v2-unauthorised"]);
    assert_eq!((code, why.as_deref()), (1, Some("untrusted-key")));
    assert_ne!(
        lab.sq_git(&["verify-tag", "--trust-root", &root, "v2-unauthorised"]),
        0
    );
}

impl Lab {
    /// The entity's certificate as gpg exports it now (with what was added or revoked since).
    fn refresh(&mut self, name: &str) {
        let fpr = self.keys[name].0.clone();
        let armored = String::from_utf8(self.s.gpg(&["--armor", "--export", &fpr])).unwrap();
        self.keys.insert(name.to_string(), (fpr, armored));
    }
}

#[test]
fn keyring_updates_revocations_goodlists_and_policy_files_agree_with_sq_git() {
    let mut lab = Lab::new(&["alice", "bob"]);
    let p0 = lab.policy(&[("alice", ALL), ("bob", &["sign_commit"])]);
    let root = lab.commit(&[("openpgp-policy.toml", &p0)], Some("alice"), "root");
    let policy = lab.sigil_policy(&format!("trustRoot: {root}"));
    let branch = |lab: &Lab, name: &str| lab.git(&["checkout", "-q", "-b", name, &root]);

    // Unknown keys are ignored (the specification's forward compatibility): no change.
    branch(&lab, "unknown-key");
    let unknown = lab.commit(
        &[("openpgp-policy.toml", &format!("frobnicate = 1\n{p0}"))],
        Some("bob"),
        "unknown key",
    );
    lab.both(&policy, &root, &unknown, true, None);
    // A policy file that is not TOML stops both.
    branch(&lab, "broken");
    let broken = lab.commit(
        &[("openpgp-policy.toml", "[[[ not toml")],
        Some("alice"),
        "broken policy",
    );
    lab.both(
        &policy,
        &root,
        &broken,
        false,
        Some("in-repo-policy-invalid"),
    );

    // The goodlist needs audit.
    let goodlisted = p0.replace(
        "commit_goodlist = []",
        &format!("commit_goodlist = [\"{root}\"]"),
    );
    branch(&lab, "bob-goodlists");
    let bob_gl = lab.commit(
        &[("openpgp-policy.toml", &goodlisted)],
        Some("bob"),
        "bob goodlists",
    );
    lab.both(
        &policy,
        &root,
        &bob_gl,
        false,
        Some("policy-change-not-allowed"),
    );
    branch(&lab, "alice-goodlists");
    let alice_gl = lab.commit(
        &[("openpgp-policy.toml", &goodlisted)],
        Some("alice"),
        "alice goodlists",
    );
    lab.both(&policy, &root, &alice_gl, true, None);

    // Stripping a first-party signature (bob's encryption subkey and its binding) needs
    // retire_user, even from one's own certificate.
    let bob_fpr = lab.keys["bob"].0.clone();
    let stripped_bob =
        String::from_utf8(lab.s.gpg(&["--armor", "--export", &format!("{bob_fpr}!")])).unwrap();
    assert_ne!(
        stripped_bob, lab.keys["bob"].1,
        "the export without subkeys differs"
    );
    let p_stripped = p0.replace(&lab.keys["bob"].1, &stripped_bob);
    assert_ne!(p_stripped, p0);
    branch(&lab, "bob-strips");
    let bob_strips = lab.commit(
        &[("openpgp-policy.toml", &p_stripped)],
        Some("bob"),
        "bob strips his subkey",
    );
    lab.both(
        &policy,
        &root,
        &bob_strips,
        false,
        Some("policy-change-not-allowed"),
    );
    branch(&lab, "alice-strips");
    let alice_strips = lab.commit(
        &[("openpgp-policy.toml", &p_stripped)],
        Some("alice"),
        "alice strips bob's subkey",
    );
    lab.both(&policy, &root, &alice_strips, true, None);

    // A new signing subkey, announced in the commit it signs: the child's updates to a
    // certificate the parent holds count (no right needed); without the update it is unknown.
    lab.s
        .gpg(&["--quick-add-key", &bob_fpr, "ed25519", "sign", "never"]);
    lab.refresh("bob");
    branch(&lab, "subkey-unannounced");
    let unannounced = lab.commit(
        &[("app.yaml", "a: 1\n")],
        Some("bob"),
        "bob's new subkey, unannounced",
    );
    lab.both(&policy, &root, &unannounced, false, Some("untrusted-key"));
    lab.git(&["checkout", "-q", "main"]);
    let p_sub = lab.policy(&[("alice", ALL), ("bob", &["sign_commit"])]);
    let announced = lab.commit(
        &[("openpgp-policy.toml", &p_sub)],
        Some("bob"),
        "bob announces his subkey",
    );
    lab.both(&policy, &root, &announced, true, None);
    let b2 = lab.commit(
        &[("app.yaml", "a: 2\n")],
        Some("bob"),
        "bob with the subkey",
    );
    lab.both(&policy, &root, &b2, true, None);

    // A hard revocation of bob's certificate, added later, reaches back: his earlier commits
    // are refused until a later authenticated commit goodlists them (audit).
    let rev = std::fs::read_to_string(lab.s.path(&format!("gnupg/openpgp-revocs.d/{bob_fpr}.rev")))
        .unwrap();
    let rev = rev.replace(":-----BEGIN", "-----BEGIN");
    let rev_file = lab.s.write("bob.rev", rev.as_bytes());
    lab.s.gpg(&["--import", rev_file.to_str().unwrap()]);
    lab.refresh("bob");
    let p_rev = lab.policy(&[("alice", ALL), ("bob", &["sign_commit"])]);
    let revoked = lab.commit(
        &[("openpgp-policy.toml", &p_rev)],
        Some("alice"),
        "alice adds bob's revocation",
    );
    lab.both(&policy, &root, &revoked, false, Some("revoked-key"));
    let p_good = p_rev.replace(
        "commit_goodlist = []",
        &format!("commit_goodlist = [\"{announced}\", \"{b2}\"]"),
    );
    let audited = lab.commit(
        &[("openpgp-policy.toml", &p_good)],
        Some("alice"),
        "alice goodlists bob's commits",
    );
    lab.both(&policy, &root, &audited, true, None);
    // Goodlisting only one of them is not enough.
    lab.git(&["checkout", "-q", "-b", "half-audited", &revoked]);
    let p_half = p_rev.replace(
        "commit_goodlist = []",
        &format!("commit_goodlist = [\"{b2}\"]"),
    );
    let half = lab.commit(
        &[("openpgp-policy.toml", &p_half)],
        Some("alice"),
        "alice goodlists one",
    );
    lab.both(&policy, &root, &half, false, Some("revoked-key"));

    // A commit signed long after its committer time (re-signed on rebase, as sequoia's own
    // history has them): the signature time alone decides, as in sq-git.
    branch(&lab, "re-signed");
    std::fs::write(lab.repo.join("app.yaml"), "a: late\n").unwrap();
    lab.git(&["add", "app.yaml"]);
    let key = format!("user.signingkey={}", lab.keys["alice"].0);
    let out = Command::new("git")
        .current_dir(&lab.repo)
        .env("GNUPGHOME", lab.s.path("gnupg"))
        .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
        .args(["-c", &key, "commit", "-q", "-S", "-m", "re-signed"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let late = lab.git(&["rev-parse", "HEAD"]);
    lab.both(&policy, &root, &late, true, None);

    // Where sigil decides otherwise: a policy of another version. The specification says an
    // implementation SHOULD error out; sq-git 0.6.0 reads it as version 0. sigil refuses it
    // (a format it does not know could mean rules it would not enforce).
    branch(&lab, "version");
    let v1 = lab.commit(
        &[(
            "openpgp-policy.toml",
            &p0.replace("version = 0", "version = 1"),
        )],
        Some("alice"),
        "version 1",
    );
    let (code, why, _) = lab.sigil(&policy, &["commits", "--ref", "refs/heads/main", &v1]);
    assert_eq!((code, why.as_deref()), (1, Some("in-repo-policy-invalid")));
    assert_eq!(
        lab.sq_git(&["log", "--trust-root", &root, &v1]),
        0,
        "sq-git accepts version 1"
    );
}

#[test]
fn a_policy_digest_trust_root_needs_the_policy_to_authorise_its_own_commit() {
    let lab = Lab::new(&["alice", "mallory"]);
    let p0 = lab.policy(&[("alice", ALL)]);
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(p0.as_bytes()))
    };
    lab.commit(&[("app.yaml", "a: 0\n")], None, "before the policy");
    let root = lab.commit(&[("openpgp-policy.toml", &p0)], Some("alice"), "policy");
    let a1 = lab.commit(&[("app.yaml", "a: 1\n")], Some("alice"), "alice edits");
    let policy = lab.sigil_policy(&format!("policyDigest: \"sha256:{digest}\""));
    let (code, _, json) = lab.sigil(&policy, &["commits", "--ref", "refs/heads/main", &a1]);
    assert_eq!(code, 0, "{json:#}");
    // Same verdict as sq-git given that commit as the trust root.
    assert_eq!(lab.sq_git(&["log", "--trust-root", &root, &a1]), 0);
    // A history whose first policy commit is signed by someone the policy does not name has
    // no trust root.
    lab.git(&["checkout", "-q", "--orphan", "forged"]);
    let forged = lab.commit(
        &[("openpgp-policy.toml", &p0)],
        Some("mallory"),
        "mallory copies the policy",
    );
    let (code, why, json) = lab.sigil(&policy, &["commits", "--ref", "refs/heads/main", &forged]);
    assert_eq!(
        (code, why.as_deref()),
        (1, Some("trust-root-not-ancestor")),
        "{json:#}"
    );
    // What a digest root means: any commit carrying the pinned policy and signed as it allows
    // starts a trusted history, here alice's commit on mallory's copy. A commit root pins one
    // history; the gate's ancestry ratchet refuses a jump to another one either way.
    let f1 = lab.commit(
        &[("app.yaml", "a: 2\n")],
        Some("alice"),
        "alice on the copy",
    );
    let (code, _, json) = lab.sigil(&policy, &["commits", "--ref", "refs/heads/main", &f1]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["commits"][0]["rule"], "in-repo trust root", "{json:#}");
    // Another digest: nothing carries it.
    let other = lab.sigil_policy(&format!("policyDigest: \"sha256:{}\"", "0".repeat(64)));
    let (code, why, _) = lab.sigil(&other, &["commits", "--ref", "refs/heads/main", &a1]);
    assert_eq!((code, why.as_deref()), (1, Some("trust-root-not-ancestor")));
}

#[test]
fn rollbacks_and_sha256_repositories() {
    // --since-last-verified: the target must descend from the recorded commit.
    let lab = Lab::new(&["alice"]);
    let p0 = lab.policy(&[("alice", ALL)]);
    let root = lab.commit(&[("openpgp-policy.toml", &p0)], Some("alice"), "root");
    let policy = lab.sigil_policy(&format!("trustRoot: {root}"));
    let a1 = lab.commit(&[("app.yaml", "a: 1\n")], Some("alice"), "one");
    let a2 = lab.commit(&[("app.yaml", "a: 2\n")], Some("alice"), "two");
    let state = lab.s.path("last-verified");
    let state_arg = state.to_str().unwrap();
    let args = |rev: &str| {
        [
            "commits",
            "--ref",
            "refs/heads/main",
            "--since-last-verified",
            state_arg,
            rev,
        ]
        .map(String::from)
    };
    let run = |rev: &str| {
        let a = args(rev);
        lab.sigil(&policy, &a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_eq!(run(&a2).0, 0);
    assert_eq!(std::fs::read_to_string(&state).unwrap().trim(), a2);
    let (code, why, _) = run(&a1);
    assert_eq!((code, why.as_deref()), (1, Some("not-descendant")));
    assert_eq!(
        std::fs::read_to_string(&state).unwrap().trim(),
        a2,
        "not moved back"
    );

    // A SHA-256 repository (sq-git's libgit2 reads only SHA-1 ones: sigil alone).
    let lab = Lab::with_format(&["alice", "mallory"], "sha256");
    let p0 = lab.policy(&[("alice", ALL)]);
    let root = lab.commit(&[("openpgp-policy.toml", &p0)], Some("alice"), "root");
    assert_eq!(root.len(), 64);
    let policy = lab.sigil_policy(&format!("trustRoot: {root}"));
    let good = lab.commit(&[("app.yaml", "a: 1\n")], Some("alice"), "alice");
    let (code, _, json) = lab.sigil(&policy, &["commits", "--ref", "refs/heads/main", &good]);
    assert_eq!(code, 0, "{json:#}");
    let bad = lab.commit(&[("app.yaml", "a: 2\n")], Some("mallory"), "mallory");
    let (code, why, _) = lab.sigil(&policy, &["commits", "--ref", "refs/heads/main", &bad]);
    assert_eq!((code, why.as_deref()), (1, Some("untrusted-key")));
}
