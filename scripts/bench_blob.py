#!/usr/bin/env python3
"""`sigil verify blob` against sigstore-python's `verify identity --offline`, on the same bundle
(the conformance suite's happy-path-v0.3: Rekor v1 SET and inclusion proof, Fulcio
certificate with SCT) and the same pinned public-good trust root, one process per bundle as a CI
loop runs them. sigstore-python is installed from PyPI into a private venv (here only).

Usage: scripts/bench_blob.py [--bundles 1000] [--python-bundles 100]
(expects target/release/sigil; the Python loop is timed on fewer bundles and scaled, since one
call takes about half a second)
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGIL = os.path.join(ROOT, "target/release/sigil")
CASES = os.path.join(ROOT, "../shared/vectors/sigstore-conformance/test/assets/bundle-verify")
VENV = os.environ.get("SIGSTORE_VENV", "/tmp/sigil-bench-sigstore-venv")
IDENTITY = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
            ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main")
ISSUER = "https://token.actions.githubusercontent.com"


def python_sigstore():
    py = os.path.join(VENV, "bin/python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([os.path.join(VENV, "bin/pip"), "install", "-q", "sigstore==4.5.1"], check=True)
    return py


def loop(argv, n):
    t = time.perf_counter()
    for _ in range(n):
        p = subprocess.run(argv, capture_output=True)
        if p.returncode != 0:
            raise SystemExit(f"{argv[0]} failed ({p.returncode}): {p.stdout[-500:]} {p.stderr[-500:]}")
    return (time.perf_counter() - t) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundles", type=int, default=1000)
    ap.add_argument("--python-bundles", type=int, default=100)
    a = ap.parse_args()
    bundle = os.path.join(CASES, "happy-path-v0.3/bundle.sigstore.json")
    artifact = os.path.join(CASES, "a.txt")
    sigil = [SIGIL, "verify", "blob", "--bundle", bundle, "--certificate-identity", IDENTITY,
             "--certificate-oidc-issuer", ISSUER, artifact]
    py = [python_sigstore(), "-m", "sigstore", "verify", "identity", "--offline", "--bundle", bundle,
          "--cert-identity", IDENTITY, "--cert-oidc-issuer", ISSUER, artifact]
    loop(sigil, 5), loop(py, 2)  # warm the page cache
    s = loop(sigil, a.bundles)
    p = loop(py, a.python_bundles)
    print(f"sigil verify blob:               {s * 1e3:8.2f} ms/bundle  ({a.bundles} bundles: {s * a.bundles:7.2f} s)")
    print(f"sigstore-python 4.5.1 --offline: {p * 1e3:8.2f} ms/bundle  ({a.python_bundles} timed; "
          f"{a.bundles} bundles: {p * a.bundles:7.2f} s)")
    print(f"ratio: {p / s:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
