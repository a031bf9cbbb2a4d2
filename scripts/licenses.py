#!/usr/bin/env python3
"""Checks the licence of every crate sigil's binary links (normal dependencies, all platforms
this machine builds for) against an allow list. Exit 1 on anything not allowed or unknown.

LGPL is allowed only for the sequoia-openpgp family, knowingly: sigil ships as a statically
linked binary, so distributors must offer the object files for relinking (LGPL-2.0 §6); see
README.md.
"""
import json
import re
import subprocess
import sys

ALLOWED = {
    "MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-2-Clause", "BSD-3-Clause",
    "ISC", "Unicode-3.0", "Unicode-DFS-2016", "Zlib", "CC0-1.0", "0BSD", "BSL-1.0", "MPL-2.0",
    "Unlicense", "CDLA-Permissive-2.0", "bzip2-1.0.6",
}
LGPL_OK = re.compile(r"^(sequoia-openpgp|buffered-reader|sequoia-.*)$")


def ok_expr(expr, name):
    # SPDX: an OR of alternatives is fine if any alternative is fully allowed (AND of parts).
    expr = expr.replace("/", " OR ")
    for alt in re.split(r"\s+OR\s+", expr.strip("() ")):
        parts = [p.strip("() ") for p in re.split(r"\s+AND\s+", alt)]
        if all(p in ALLOWED or (p.startswith("LGPL") and LGPL_OK.match(name)) for p in parts):
            return True
    return False


def main():
    meta = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--filter-platform", "x86_64-unknown-linux-gnu"],
        text=True))
    pkgs = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = meta["resolve"]["root"]
    seen, stack = set(), [root]
    while stack:  # normal (non-dev, non-build) dependencies reachable from sigil
        nid = stack.pop()
        if nid in seen:
            continue
        seen.add(nid)
        for d in nodes[nid]["deps"]:
            if any(k["kind"] is None for k in d["dep_kinds"]):
                stack.append(d["pkg"])
    bad = []
    lgpl = []
    for nid in sorted(seen - {root}, key=lambda i: pkgs[i]["name"]):
        p = pkgs[nid]
        lic = p.get("license") or ""
        if not lic or not ok_expr(lic, p["name"]):
            bad.append(f"{p['name']} {p['version']}: {lic or 'no licence field'}")
        elif "LGPL" in lic:
            lgpl.append(f"{p['name']} {p['version']}: {lic}")
    print(f"licences: {len(seen) - 1} crates checked; LGPL (allowed, documented): {', '.join(lgpl) or 'none'}")
    if bad:
        print("not allowed:\n  " + "\n  ".join(bad))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
