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
        let s = Scratch::new();
        let repo = s.path("repo");
        assert!(
            Command::new("git")
                .args(["init", "-q", "-b", "main"])
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
        let out = Command::new("git")
            .current_dir(&self.repo)
            .env("GNUPGHOME", self.s.path("gnupg"))
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

    /// sigil's verdict: (exit code, reason).
    fn sigil(&self, policy: &Path, args: &[&str]) -> (i32, Option<String>, serde_json::Value) {
        let mut c = sigil();
        c.env("XDG_STATE_HOME", self.s.path("state-home"));
        c.arg("verify")
            .args(args)
            .arg("--policy")
            .arg(policy)
            .arg("--repo")
            .arg(&self.repo)
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
