#!/usr/bin/env python3
"""Times `sigil verify images` on 50 signed images (legacy .sig, one key) named by a set of
Kubernetes manifests, against Debian's docker-registry on 127.0.0.1, and counts the registry
requests per image from the registry's access log.

  cold: a new process, no verdict cache (every image resolved, discovered, verified; payload
        blobs whose descriptor matches cosign's payload for the image are not fetched)
  warm: a new process, verdict cache populated (tags still resolved; nothing else fetched)

Usage: scripts/bench_images.py [--images 50] [--runs 9]   (expects target/release/sigil)
"""
import argparse
import os
import sys
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from registry_lab import free_port, push_image, request  # noqa: E402
SIGIL = os.path.join(ROOT, "target/release/sigil")


def timed(args, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(args, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if p.returncode != 0:
            raise SystemExit(f"{args} failed ({p.returncode}): {p.stdout[-2000:]} {p.stderr[-2000:]}")
    return statistics.median(times), min(times)


def registry_floor(reg, repos, runs):
    """The registry's own floor for the warm tag case: the same tag lookups (manifest GETs)
    from a bare client, pipelined on 4 keep-alive connections. No verifier can go below it."""
    import socket
    host, port = reg.split(":")
    times = []
    for _ in range(runs):
        socks = [socket.create_connection((host, int(port))) for _ in range(4)]
        t = time.perf_counter()
        chunks = [repos[i::4] for i in range(4)]
        for sock, chunk in zip(socks, chunks):
            sock.sendall(b"".join(
                f"GET /v2/{r}/manifests/v1 HTTP/1.1\r\nHost: {reg}\r\n"
                f"Accept: application/vnd.oci.image.manifest.v1+json\r\n\r\n".encode() for r in chunk))
        for sock, chunk in zip(socks, chunks):
            buf = b""
            while buf.count(b"HTTP/1.1 200") < len(chunk):
                data = sock.recv(65536)
                if not data:
                    break
                buf += data
        times.append(time.perf_counter() - t)
        for sock in socks:
            sock.close()
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--jobs", type=int, default=None, help="pass --jobs N to sigil")
    ap.add_argument("--keep", action="store_true", help="leave the registry running and print the command")
    a = ap.parse_args()
    if not os.path.exists(SIGIL):
        raise SystemExit("build first: cargo build --release")
    work = tempfile.mkdtemp(prefix="sigil-bench-images-")
    port = free_port()
    reg = f"127.0.0.1:{port}"
    log = os.path.join(work, "registry.log")
    with open(os.path.join(work, "config.yml"), "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {work}/data\nhttp:\n  addr: {reg}\n")
    proc = subprocess.Popen(["docker-registry", "serve", os.path.join(work, "config.yml")],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                request("GET", f"http://{reg}/v2/")
                break
            except Exception:
                time.sleep(0.1)
        env = dict(os.environ, COSIGN_PASSWORD="bench", HOME=work)
        subprocess.run([SIGIL, "keygen", "--cosign", "--output-key-prefix", f"{work}/cosign"], env=env, check=True,
                       capture_output=True)
        os.makedirs(f"{work}/manifests")
        os.makedirs(f"{work}/pinned")
        for i in range(a.images):
            repo = f"bench/app{i:02d}"
            digest = push_image(reg, repo, "v1", f"app {i}")
            subprocess.run([SIGIL, "sign", "image", f"{reg}/{repo}:v1", "--key", f"{work}/cosign.key",
                            "--allow-http-registry"], env=env, check=True, capture_output=True)
            with open(f"{work}/manifests/app{i:02d}.yaml", "w") as f:
                f.write(f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app{i}}}\nspec:\n  template:\n"
                        f"    spec:\n      containers: [{{name: app, image: \"{reg}/{repo}:v1\"}}]\n")
            with open(f"{work}/pinned/app{i:02d}.yaml", "w") as f:
                f.write(f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app{i}}}\nspec:\n  template:\n"
                        f"    spec:\n      containers: [{{name: app, image: \"{reg}/{repo}:v1@{digest}\"}}]\n")
        with open(f"{work}/policy.yaml", "w") as f:
            f.write("apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  images:\n"
                    "    insecureRegistries: [\"127.0.0.1:*\"]\n    rules:\n      - match: \"127.0.0.1:*/**\"\n"
                    f"        authorities: [{{key: {work}/cosign.pub}}]\n")
        cmd = [SIGIL, "verify", "images", "--policy", f"{work}/policy.yaml", f"{work}/manifests"]
        if a.jobs:
            cmd += ["--jobs", str(a.jobs)]
        n = a.images
        print(f"{n} signed images, docker-registry on {reg}, {a.runs} runs each (new process per run)")
        for label, target in [("tags", f"{work}/manifests"), ("digest-pinned", f"{work}/pinned")]:
            cmd = [SIGIL, "verify", "images", "--policy", f"{work}/policy.yaml", target]
            if a.jobs:
                cmd += ["--jobs", str(a.jobs)]
            # Requests per image, from the access log of one cold run.
            before = sum(1 for _ in open(log))
            subprocess.run(cmd, check=True, capture_output=True)
            lines = open(log).read().splitlines()[before:]
            reqs = [l for l in lines if '"GET /v2/' in l or '"HEAD /v2/' in l]
            kinds = {}
            for l in reqs:
                path = l.split('"')[1].split()[1]
                kind = ("referrers" if "/referrers/" in path else ".sig manifest" if path.endswith(".sig")
                        else "fallback index" if "/manifests/sha256-" in path else "blob" if "/blobs/" in path
                        else "manifest")
                kinds[kind] = kinds.get(kind, 0) + 1
            cold_med, cold_min = timed(cmd, a.runs)
            cache = f"{work}/cache-{label}"
            before = sum(1 for _ in open(log))
            subprocess.run(cmd + ["--cache-dir", cache], check=True, capture_output=True)
            subprocess.run(cmd + ["--cache-dir", cache], check=True, capture_output=True)
            warm_reqs = sum(1 for l in open(log).read().splitlines()[before:] if '"GET /v2/' in l or '"HEAD /v2/' in l)
            warm_reqs -= len(reqs)
            warm_med, warm_min = timed(cmd + ["--cache-dir", cache], a.runs)
            print(f"[{label}] requests per image: cold {len(reqs) / n:.2f} (" +
                  ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(kinds.items())) + f"), warm {warm_reqs / n:.2f}")
            print(f"[{label}] cold verify: median {cold_med * 1000:.1f} ms (min {cold_min * 1000:.1f})   target < 200 ms")
            print(f"[{label}] warm verify: median {warm_med * 1000:.1f} ms (min {warm_min * 1000:.1f})   target < 20 ms")
        floor_med, floor_min = registry_floor(reg, [f"bench/app{i:02d}" for i in range(n)], a.runs)
        print(f"[registry floor] {n} tag lookups from a bare pipelined client: median {floor_med * 1000:.1f} ms "
              f"(min {floor_min * 1000:.1f})")
        if a.keep:
            print("registry kept:", " ".join(cmd), f"(pid {proc.pid}, kill it when done)")
            return
    finally:
        if a.keep:
            return
        proc.kill()
        proc.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
