#!/usr/bin/env python3
"""Runs sigil and the real sops 3.11 side by side on the issue's inputs and prints ratios.

Inputs (made here): a YAML file with 10,000 leaf values and a YAML file with one 5 MiB value,
encrypted to a fresh age key. Each command runs N times; the median wall time and the
largest peak RSS (wait4 rusage of that very child) are reported.
Usage: scripts/bench.py [--runs N]   (expects target/release/sigil and $SOPS_BIN or sops)
"""
import argparse
import os
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(cmd, env, runs):
    """Median wall time and peak RSS (KiB). The peak comes from GNU time (/usr/bin/time), which
    forks the command from a small process: a child forked from this Python process would
    report Python's own RSS as its peak."""
    times, rss = [], 0
    gnu_time = os.path.exists("/usr/bin/time")
    for _ in range(runs):
        full = ["/usr/bin/time", "-f", "%M", *cmd] if gnu_time else cmd
        t = time.perf_counter()
        p = subprocess.run(full, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - t
        if p.returncode != 0:
            raise SystemExit(f"{cmd} failed: {p.stderr}")
        times.append(elapsed)
        if gnu_time:
            rss = max(rss, int(p.stderr.strip().splitlines()[-1]))
    times.sort()
    return times[len(times) // 2], rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sigil = os.path.join(ROOT, "target/release/sigil")
    sops = os.environ.get("SOPS_BIN", "sops")
    work = tempfile.mkdtemp()
    key = os.path.join(work, "key.txt")
    subprocess.run(["age-keygen", "-o", key], check=True, capture_output=True)
    recipient = next(l.split(": ")[1] for l in open(key) if l.startswith("# public key:")).strip()
    env = dict(os.environ, SOPS_AGE_KEY_FILE=key, SOPS_DISABLE_VERSION_CHECK="1", HOME=work)
    inputs = {
        "10k leaves": "".join(f"key{i}: value-{i}-secret\n" for i in range(10_000)),
        "5 MiB value": "big: " + "".join(chr(97 + i % 26) for i in range(5 * 1024 * 1024)) + "\n",
    }
    print(f"{'case':<26}{'sigil s':>9}{'sops s':>9}{'speed':>8}{'sigil MB':>10}{'sops MB':>9}{'RSS':>7}")
    for name, text in inputs.items():
        plain = os.path.join(work, "in.yaml")
        with open(plain, "w") as f:
            f.write(text)
        enc = os.path.join(work, "in.enc.yaml")
        with open(enc, "wb") as f:
            f.write(subprocess.run([sigil, "encrypt", "--age", recipient, plain], env=env, check=True, capture_output=True).stdout)
        for op, a in (("decrypt", [enc]), ("encrypt", ["--age", recipient, plain])):
            st, sr = measure([sigil, op, *a], env, args.runs)
            ot, orss = measure([sops, op, *a], env, args.runs)
            print(f"{name + ' ' + op:<26}{st:>9.3f}{ot:>9.3f}{ot / st:>7.1f}x{sr / 1024:>10.1f}{orss / 1024:>9.1f}{sr / orss:>7.2f}")
    t, _ = measure([sigil, "--version"], env, 20)
    print(f"sigil --version: {t * 1000:.1f} ms (median of 20, process start included)")


if __name__ == "__main__":
    main()
