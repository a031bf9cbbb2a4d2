#!/usr/bin/env python3
"""Judges commits of a repository with sigil's in-repo mode and with sequoia-git's `sq-git log`
from the same trust root, and prints where they disagree. For trying real repositories that
carry an openpgp-policy.toml; nothing is written into the repository.

    scripts/compare_in_repo.py REPO ROOT [TARGET ...]    (default targets: every branch tip)
    scripts/compare_in_repo.py REPO ROOT --all-from REF  (every commit of ROOT..REF)

Environment: SIGIL (default target/release/sigil), SQ_GIT_BIN (default ~/.cargo/bin/sq-git).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sigil = os.environ.get("SIGIL", os.path.join(here, "..", "target", "release", "sigil"))
sq_git = os.environ.get("SQ_GIT_BIN", os.path.expanduser("~/.cargo/bin/sq-git"))


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, text=True).stdout


def main():
    repo, root = sys.argv[1], sys.argv[2]
    root = git(repo, "rev-parse", root + "^{commit}").strip()
    rest = sys.argv[3:]
    if rest[:1] == ["--all-from"]:
        targets = git(repo, "rev-list", "--reverse", f"^{root}", rest[1]).split()
    elif rest:
        targets = [git(repo, "rev-parse", t + "^{commit}").strip() for t in rest]
    else:
        targets = sorted(set(git(repo, "for-each-ref", "--format=%(objectname)", "refs/heads", "refs/remotes").split()))
    tmp = tempfile.mkdtemp()
    policy = os.path.join(tmp, "policy.yaml")
    with open(policy, "w") as f:
        f.write("apiVersion: sigil.dev/v1alpha1\nkind: Policy\nmetadata: {name: compare}\n"
                f"spec:\n  commits:\n    mode: in-repo\n    inRepo: {{trustRoot: {root}}}\n")
    env = dict(os.environ, HOME=tmp, XDG_CACHE_HOME=os.path.join(tmp, "cache"), XDG_STATE_HOME=os.path.join(tmp, "state"))
    agree = disagree = 0
    t_sigil = t_sq = 0.0
    for t in targets:
        start = time.monotonic()
        s = subprocess.run([sigil, "verify", "commits", "--repo", repo, "--policy", policy,
                            "--ref", "refs/heads/main", "--format", "json", t],
                           capture_output=True, text=True, env=env)
        t_sigil += time.monotonic() - start
        start = time.monotonic()
        q = subprocess.run([sq_git, "log", "--trust-root", root, t], cwd=repo, capture_output=True, text=True, env=env)
        t_sq += time.monotonic() - start
        try:
            reason = json.loads(s.stdout).get("reason")
        except ValueError:
            reason = f"exit {s.returncode}: {s.stderr.strip()[:200]}"
        same = (s.returncode == 0) == (q.returncode == 0)
        agree += same
        disagree += not same
        subject = git(repo, "log", "-1", "--format=%s", t).strip()[:60]
        mark = "same" if same else "DIFFERENT"
        print(f"{mark:9} {t[:12]} sigil={'verified' if s.returncode == 0 else reason} "
              f"sq-git={'verified' if q.returncode == 0 else 'refused'}  {subject}")
        if not same:
            print("   sq-git:", (q.stdout + q.stderr).strip().splitlines()[-3:])
    print(f"{agree} agree, {disagree} differ; sigil {t_sigil:.2f}s, sq-git {t_sq:.2f}s in total")


if __name__ == "__main__":
    main()
