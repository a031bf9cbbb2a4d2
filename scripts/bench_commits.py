#!/usr/bin/env python3
"""Verifies signed histories with sigil and with git side by side and prints ratios.

Builds (once, in a temp dir) 2,000-commit histories signed with an SSH key, with an SSH user
certificate (its CA trusted as cert-authority) and with OpenPGP, using real git, ssh-keygen and
gpg, then times:
  git log --show-signature A..B    (git's own verification, with an allowed_signers file or a
                                    keyring holding only the signer's key)
  sigil verify commits A..B        (policy pinning the same key, no cache)
and, for the cache, a 10,000-commit SSH history re-verified after one new commit.
Usage: scripts/bench_commits.py [--commits N] [--big N]   (expects target/release/sigil)
"""
import argparse
import os
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGIL = os.path.join(ROOT, "target/release/sigil")


def sh(args, cwd=None, env=None, check=True):
    return subprocess.run(args, cwd=cwd, env=env, check=check, capture_output=True, text=True)


def timed(args, cwd=None, env=None, runs=3):
    best = None
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
        el = time.perf_counter() - t
        best = el if best is None else min(best, el)
    return best, p


def make_repo(work, name, n, sign_cfg, env):
    repo = os.path.join(work, name)
    sh(["git", "init", "-q", "-b", "main", repo])
    # gc.auto=0: an automatic gc started in the background after ~6,700 loose objects holds
    # locks that make a later commit fail.
    for k, v in [("user.name", "Alice"), ("user.email", "alice@example.com"), ("gc.auto", "0")] + sign_cfg:
        sh(["git", "config", k, v], cwd=repo)
    # One signed commit per step (git runs the signer each time, as in real use).
    for i in range(n):
        sh(["git", "commit", "-q", "--allow-empty", "-S", "-m", f"c{i}"], cwd=repo, env=env)
    return repo


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--big", type=int, default=10000)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sigil-bench-")
    env = dict(os.environ, GNUPGHOME=os.path.join(work, "gnupg"))
    os.makedirs(env["GNUPGHOME"], mode=0o700)
    key = os.path.join(work, "alice")
    sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", key])
    pub = open(key + ".pub").read().strip()
    # A user certificate for a second key, issued by a CA that allowed_signers trusts.
    ca = os.path.join(work, "ca")
    sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ca", "-f", ca])
    bob = os.path.join(work, "bob")
    sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bob", "-f", bob])
    sh(["ssh-keygen", "-q", "-s", ca, "-I", "bob", "-n", "alice@example.com", "-V", "-1d:+30d", bob + ".pub"])
    ca_pub = open(ca + ".pub").read().strip()
    allowed = os.path.join(work, "allowed_signers")
    open(allowed, "w").write(f"alice@example.com {pub}\n*@example.com cert-authority {ca_pub}\n")
    sh(["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
        "Alice <alice@example.com>", "ed25519", "sign,cert", "never"], env=env)
    fpr = [l.split(":")[9] for l in sh(["gpg", "--with-colons", "--list-keys"], env=env).stdout.splitlines() if l.startswith("fpr")][0]
    cert = os.path.join(work, "alice.asc")
    open(cert, "w").write(sh(["gpg", "--armor", "--export", fpr], env=env).stdout)
    policy = os.path.join(work, "policy.yaml")
    open(policy, "w").write(
        "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  signers:\n"
        f"    - name: alice\n      allowedSigners: {allowed}\n      openpgp: [{cert}]\n"
        "  commits:\n    rules:\n      - refs: [\"refs/heads/*\"]\n        signers: [alice]\n")
    print(f"building histories of {a.commits} commits in {work} ...", flush=True)
    ssh_repo = make_repo(work, "ssh", a.commits, [("gpg.format", "ssh"), ("user.signingkey", key)], env)
    cert_repo = make_repo(work, "sshcert", a.commits, [("gpg.format", "ssh"), ("user.signingkey", bob + "-cert.pub")], env)
    pgp_repo = make_repo(work, "pgp", a.commits, [("gpg.format", "openpgp"), ("user.signingkey", fpr)], env)
    print(f"{'history':<28}{'git s':>9}{'sigil s':>9}{'ratio':>9}")
    for name, repo, gitcfg in [
        ("SSH", ssh_repo, ["-c", f"gpg.ssh.allowedSignersFile={allowed}"]),
        ("SSH certificate", cert_repo, ["-c", f"gpg.ssh.allowedSignersFile={allowed}"]),
        ("OpenPGP", pgp_repo, []),
    ]:
        root = sh(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=repo).stdout.strip()
        git_t, _ = timed(["git", *gitcfg, "log", "--show-signature", "--format=%H", f"{root}..HEAD"], cwd=repo, env=env, runs=1)
        sigil_t, p = timed([SIGIL, "verify", "commits", f"{root}..HEAD", "--ref", "refs/heads/main", "--policy", policy, "--repo", repo], env=env)
        if p.returncode != 0:
            raise SystemExit(f"sigil refused the {name} history: {p.stdout}{p.stderr}")
        print(f"{name + ' ' + str(a.commits) + ' commits':<28}{git_t:>9.3f}{sigil_t:>9.3f}{git_t / sigil_t:>8.0f}x", flush=True)
    # In-repo policy (openpgp-policy.toml in the first commit): sigil against sequoia-git.
    sq_git = os.environ.get("SQ_GIT_BIN", os.path.expanduser("~/.cargo/bin/sq-git"))
    if os.path.exists(sq_git):
        inrepo = os.path.join(work, "inrepo")
        sh(["git", "init", "-q", "-b", "main", inrepo])
        for k, v in [("user.name", "Alice"), ("user.email", "alice@example.com"), ("gc.auto", "0"),
                     ("gpg.format", "openpgp"), ("user.signingkey", fpr)]:
            sh(["git", "config", k, v], cwd=inrepo)
        rights = "".join(f"{r} = true\n" for r in ["sign_commit", "sign_tag", "add_user", "retire_user", "audit"])
        open(os.path.join(inrepo, "openpgp-policy.toml"), "w").write(
            f"version = 0\n[authorization.alice]\n{rights}keyring = \"\"\"\n{open(cert).read()}\"\"\"\n")
        sh(["git", "add", "openpgp-policy.toml"], cwd=inrepo)
        sh(["git", "commit", "-q", "-S", "-m", "policy"], cwd=inrepo, env=env)
        root = sh(["git", "rev-parse", "HEAD"], cwd=inrepo).stdout.strip()
        for i in range(a.commits):
            sh(["git", "commit", "-q", "--allow-empty", "-S", "-m", f"c{i}"], cwd=inrepo, env=env)
        in_policy = os.path.join(work, "inrepo.yaml")
        open(in_policy, "w").write("apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  commits:\n"
                                   f"    mode: in-repo\n    inRepo: {{trustRoot: {root}}}\n")
        sq_env = dict(env, HOME=work, XDG_CACHE_HOME=os.path.join(work, "sq-cache"))
        sq_t, q = timed([sq_git, "log", "--trust-root", root, "HEAD"], cwd=inrepo, env=sq_env, runs=1)
        sigil_t, p = timed([SIGIL, "verify", "commits", "HEAD", "--ref", "refs/heads/main", "--policy", in_policy, "--repo", inrepo], env=env)
        if p.returncode != 0 or q.returncode != 0:
            raise SystemExit(f"in-repo history refused: sigil {p.stdout}{p.stderr} sq-git {q.stderr}")
        print(f"{'in-repo ' + str(a.commits) + ' commits':<28}{sq_t:>9.3f}{sigil_t:>9.3f}{sq_t / sigil_t:>8.0f}x  (against sq-git log)", flush=True)
    # Cache: a long history verified once, then again after one new commit.
    big = make_repo(work, "big", a.big, [("gpg.format", "ssh"), ("user.signingkey", key)], env)
    root = sh(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=big).stdout.strip()
    cache = os.path.join(work, "cache.jsonl")
    cold, _ = timed([SIGIL, "verify", "commits", f"{root}..HEAD", "--ref", "refs/heads/main", "--policy", policy, "--repo", big, "--cache", cache], env=env, runs=1)
    sh(["git", "commit", "-q", "--allow-empty", "-S", "-m", "new"], cwd=big, env=env)
    warm, p = timed([SIGIL, "verify", "commits", f"{root}..HEAD", "--ref", "refs/heads/main", "--policy", policy, "--repo", big, "--cache", cache], env=env)
    print(f"{a.big}-commit history: first verification {cold:.3f} s; after one new commit, with the cache {warm * 1000:.1f} ms (rc {p.returncode})")


if __name__ == "__main__":
    main()
