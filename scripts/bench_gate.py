#!/usr/bin/env python3
"""Benchmarks `sigil gate` (the release binary) on a realistic GitOps repository served over
git:// (`git daemon` on 127.0.0.1; file:// with --transport file): 1,000 manifests
(Deployments and ConfigMaps), 100 of them SOPS-encrypted Secrets (sigil encrypt, age), the
Deployments naming 50 distinct cosign-signed images on Debian's docker-registry by digest
(repo:tag@sha256:...), every commit SSH-signed. The gate renders the repository as its consumer
would, checks the render, and publishes it: a decrypted volume on tmpfs (/dev/shm) and a Flux
artifact; it serves HTTP with a webhook secret and polls only every hour (webhooks drive it).

Layouts (--layout):
  kustomize  (default) one base and three overlays (prod, staging, dev) that each add their
             own manifests, a namespace, a name prefix, an images: override and a patch; the
             gate renders the three overlays with the real kustomize (render: kustomize).
             --edit overlay changes a manifest of one overlay (one path is rebuilt, the others
             come from the render cache); --edit base changes the shared base (all three).
  directory  40 directories of plain manifests, rendered as their files (render: directory).

  webhook-to-published: a signed commit changing one manifest, the webhook sent, until the
                        volume link names the new commit (images cached)
                        target < 1.5 s (kustomize), < 1 s (directory)
  no-change sync:       `duration_s` the gate logs for an `unchanged` attempt, webhook-triggered
                        (nothing is rendered: the commit did not change)     target < 20 ms
  idle RSS:             VmRSS of the daemon after the publishes settle        target < 30 MB

plus, for context: the first (cold) publish, `sigil gate --once` in a new process, and a
phase breakdown (git fetch alone, git rev-parse, sigil verify images with a warm cache).

Usage: scripts/bench_gate.py [--runs 10] [--polls 20] [--transport git|file] [--keep]
       (expects target/release/sigil)
"""
import argparse
import hashlib
import hmac
import json
import os
import sys
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from registry_lab import free_port, push_image, request  # noqa: E402
SIGIL = os.path.join(ROOT, "target/release/sigil")
SECRET = b"bench-webhook-secret"
HOOK_BODY = b'{"ref":"refs/heads/main"}'




def wait_http(url, tries=200):
    for _ in range(tries):
        try:
            request("GET", url)
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"{url} never answered")




def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"{args} failed ({p.returncode}): {p.stdout[-2000:]} {p.stderr[-2000:]}")
    return p.stdout


def git(repo, *args):
    return run(["git", "-C", repo, *args]).strip()


def commit(repo, key, msg):
    git(repo, "add", "-A")
    git(repo, "-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-q", "-S", "-m", msg)
    return git(repo, "rev-parse", "HEAD")


def hook(port):
    sig = hmac.new(SECRET, HOOK_BODY, hashlib.sha256).hexdigest()
    status, _, _ = request("POST", f"http://127.0.0.1:{port}/hooks/app", HOOK_BODY,
                           {"X-Signature": f"sha256={sig}", "Content-Type": "application/json"})
    if status not in (200, 202):
        raise SystemExit(f"webhook answered {status}")


def attempts(log):
    """The gate's attempt log lines (JSON), in order."""
    out = []
    with open(log) as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if "result" in d and d.get("source") == "app":
                out.append(d)
    return out


def wait_attempts(log, n, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        a = attempts(log)
        if len(a) >= n:
            return a
        time.sleep(0.002)
    raise SystemExit(f"timed out waiting for attempt #{n}; log:\n" + open(log).read()[-3000:])


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def ms(v):
    return f"{v * 1000:.1f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10, help="webhook-to-published repetitions")
    ap.add_argument("--polls", type=int, default=20, help="no-change syncs measured")
    ap.add_argument("--manifests", type=int, default=1000)
    ap.add_argument("--secrets", type=int, default=100)
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--transport", choices=["git", "file"], default="git",
                    help="git: git:// from `git daemon` (default); file: file:// on the same disk")
    ap.add_argument("--layout", choices=["kustomize", "directory"], default="kustomize")
    ap.add_argument("--edit", choices=["overlay", "base"], default="overlay",
                    help="kustomize layout: which manifest the measured commits change")
    ap.add_argument("--keep", action="store_true", help="leave the work directories in place")
    a = ap.parse_args()
    if not os.path.exists(SIGIL):
        raise SystemExit("build first: cargo build --release")
    if not os.path.isdir("/dev/shm"):
        raise SystemExit("/dev/shm (tmpfs) is needed for the decrypted volume")
    work = tempfile.mkdtemp(prefix="sigil-bench-gate-")
    shm = tempfile.mkdtemp(prefix="sigil-bench-gate-", dir="/dev/shm")
    procs = []
    try:
        env = dict(os.environ, COSIGN_PASSWORD="bench", HOME=work, GNUPGHOME=f"{work}/gnupg")
        for v in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_RECIPIENTS", "XDG_CONFIG_HOME"):
            env.pop(v, None)
        t_setup = time.perf_counter()

        # The registry and the signed images.
        rport = free_port()
        reg = f"127.0.0.1:{rport}"
        with open(f"{work}/registry.yml", "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {work}/registry\nhttp:\n  addr: {reg}\n")
        reg_log = f"{work}/registry.log"
        procs.append(subprocess.Popen(["docker-registry", "serve", f"{work}/registry.yml"],
                                      stdout=open(reg_log, "w"), stderr=subprocess.STDOUT))
        wait_http(f"http://{reg}/v2/")
        run([SIGIL, "keygen", "--cosign", "--output-key-prefix", f"{work}/cosign"], env=env)
        images = []
        for i in range(a.images):
            repo = f"bench/app{i:02d}"
            digest = push_image(reg, repo, "v1", f"app {i}")
            run([SIGIL, "sign", "image", f"{reg}/{repo}:v1", "--key", f"{work}/cosign.key",
                 "--allow-http-registry"], env=env)
            images.append(f"{reg}/{repo}:v1@{digest}")

        # Keys: the committer's SSH key, the age key of the SOPS files.
        key = f"{work}/alice"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", key])
        run(["age-keygen", "-o", f"{work}/age.txt"])
        recipient = next(l.split(": ", 1)[1].strip() for l in open(f"{work}/age.txt")
                         if l.startswith("# public key: "))

        # The repository: 1,000 manifests, laid out for the consumer.
        served = f"{work}/served"
        repo = f"{served}/gitops"
        os.makedirs(served)
        run(["git", "init", "-q", "-b", "main", repo])
        for k, v in [("user.name", "Alice"), ("user.email", "alice@example.com"), ("commit.gpgsign", "false")]:
            git(repo, "config", k, v)
        overlays = ["prod", "staging", "dev"]
        if a.layout == "directory":
            dirs = [f"apps/team{t}/svc{s}" for t in range(8) for s in range(5)]
        else:
            # 40 % of the manifests in the shared base, 20 % in each overlay.
            dirs = [f"base/team{t}" for t in range(8)] * 2 + [f"overlays/{o}/apps/team{t}" for o in overlays for t in range(4)]
        plain = f"{work}/plain.yaml"
        others = a.manifests - a.secrets
        deployments = 0
        files = {}
        for i in range(a.manifests):
            rel = dirs[i % len(dirs)]
            d = f"{repo}/{rel}"
            os.makedirs(d, exist_ok=True)
            if i < a.secrets:
                name = f"secret{i}.yaml"
                with open(plain, "w") as f:
                    f.write(f"apiVersion: v1\nkind: Secret\nmetadata: {{name: secret{i}}}\n"
                            f"stringData:\n    password: hunter-{i}\n    token: t0ken-{i}\n")
                out = run([SIGIL, "encrypt", "--age", recipient, "--encrypted-regex", "^(data|stringData)$", plain],
                          env=env)
                with open(f"{d}/{name}", "w") as f:
                    f.write(out)
            elif (i - a.secrets) % 2 == 0:
                name = f"deploy{i}.yaml"
                img = images[deployments % len(images)]
                deployments += 1
                with open(f"{d}/{name}", "w") as f:
                    f.write(f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i}\n  labels: {{app: app{i}}}\n"
                            f"spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: app{i}}}\n  template:\n"
                            f"    metadata:\n      labels: {{app: app{i}}}\n    spec:\n      containers:\n"
                            f"        - name: app\n          image: \"{img}\"\n          ports: [{{containerPort: 8080}}]\n"
                            f"          env: [{{name: MODE, value: production}}]\n")
            else:
                name = f"config{i}.yaml"
                with open(f"{d}/{name}", "w") as f:
                    f.write(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: config{i}}}\n"
                            f"data:\n  greeting: hello {i}\n  level: info\n  revision: \"0\"\n")
            files.setdefault(rel, []).append(name)
        if a.layout == "kustomize":
            base_dirs = sorted({r for r in files if r.startswith("base/")})
            with open(f"{repo}/base/kustomization.yaml", "w") as f:
                f.write("resources:\n" + "".join(f"  - {r[len('base/'):]}/{n}\n" for r in base_dirs for n in sorted(files[r])))
            first_image = images[0].split("@")[0].rsplit(":", 1)[0]
            for o in overlays:
                own = sorted(r for r in files if r.startswith(f"overlays/{o}/"))
                with open(f"{repo}/overlays/{o}/kustomization.yaml", "w") as f:
                    f.write(f"namespace: {o}\nnamePrefix: {o}-\nresources:\n  - ../../base\n"
                            + "".join(f"  - {r[len(f'overlays/{o}/'):]}/{n}\n" for r in own for n in sorted(files[r]))
                            + f"images:\n  - name: {first_image}\n    newName: {first_image}\n"
                            + "patches:\n  - target: {kind: Deployment}\n    patch: |-\n"
                            + "      - {op: replace, path: /spec/replicas, value: 3}\n")
            render = "{kustomize: {paths: [" + ", ".join(f"overlays/{o}" for o in overlays) + "]}}"
            edit_dirs = [r for r in files if r.startswith("base/" if a.edit == "base" else "overlays/prod/")]
        else:
            render = "{directory: {paths: [apps], recurse: true}}"
            edit_dirs = list(files)
        os.remove(plain)
        c1 = commit(repo, key, "initial")
        edit = next(f"{repo}/{d}/{n}" for d in edit_dirs for n in sorted(files[d]) if n.startswith("config"))

        # git daemon (git://) or file://, the policy and the gate configuration.
        if a.transport == "git":
            gport = free_port()
            procs.append(subprocess.Popen(["git", "daemon", "--export-all", f"--base-path={served}", "--reuseaddr",
                                           "--listen=127.0.0.1", f"--port={gport}", "--enable=receive-pack"],
                                          stdout=subprocess.DEVNULL, stderr=open(f"{work}/git-daemon.log", "w")))
            url = f"git://127.0.0.1:{gport}/gitops"
            for _ in range(100):
                if subprocess.run(["git", "ls-remote", url], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                raise SystemExit("git daemon did not come up")
        else:
            url = f"file://{repo}"
        with open(f"{work}/policy.yaml", "w") as f:
            f.write("apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  signers:\n    - name: alice\n"
                    f"      emails: [alice@example.com]\n      ssh: [{key}.pub]\n  commits:\n    mode: range\n"
                    "    rules:\n      - {refs: [\"refs/heads/main\"], paths: [\"**\"], signers: [alice]}\n"
                    "  images:\n    insecureRegistries: [\"127.0.0.1:*\"]\n    rules:\n"
                    f"      - match: \"127.0.0.1:*/**\"\n        authorities: [{{key: {work}/cosign.pub}}]\n")
        with open(f"{work}/hook.secret", "wb") as f:
            f.write(SECRET)
        hport = free_port()
        volume = f"{shm}/published"
        with open(f"{work}/gate.yaml", "w") as f:
            f.write("apiVersion: sigil.dev/v1alpha1\nkind: Gate\nspec:\n"
                    f"  http: {{bind: \"127.0.0.1:{hport}\", webhookSecretFile: {work}/hook.secret}}\n"
                    f"  stateDir: {work}/state\n  sources:\n    - name: app\n      url: {url}\n"
                    f"      ref: refs/heads/main\n      interval: 1h\n      policy: {work}/policy.yaml\n"
                    f"      secrets: {{ageKeyFile: {work}/age.txt}}\n      render: {render}\n      publish:\n"
                    "        rendered: true\n"
                    f"        volume: {{root: {volume}, link: current, decryptSecrets: true}}\n"
                    f"        artifact: {{baseUrl: \"http://127.0.0.1:{hport}\", statusFile: {work}/state/ea.json}}\n")
        setup = time.perf_counter() - t_setup
        print(f"repository ({a.layout} layout, render {render}, edits in {a.edit if a.layout == 'kustomize' else 'apps'}): "
              f"{a.manifests} manifests in {len(set(dirs))} directories ({a.secrets} SOPS Secrets, "
              f"{deployments} Deployments naming {a.images} signed images by digest, "
              f"{others - deployments} ConfigMaps), served over {url.split(':')[0]}://; volume on {shm}; "
              f"setup {setup:.1f} s")

        # The daemon; the first publish fills the image verdict cache.
        log = f"{work}/gate.log"
        gate_env = dict(env, HOME=f"{work}/home")
        os.makedirs(gate_env["HOME"])
        reg_before = sum(1 for _ in open(reg_log))
        t0 = time.perf_counter()
        gate = subprocess.Popen([SIGIL, "gate", "--config", f"{work}/gate.yaml"], env=gate_env,
                                stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        procs.insert(0, gate)
        first = wait_attempts(log, 1, timeout=120)[0]
        cold_wall = time.perf_counter() - t0
        if first["result"] != "published" or first.get("commit") != c1:
            raise SystemExit(f"first sync did not publish {c1}: {first}")
        cold_reqs = sum(1 for l in open(reg_log).read().splitlines()[reg_before:] if '"GET /v2/' in l or '"HEAD /v2/' in l)
        print(f"first publish (cold image cache, {cold_reqs} registry requests): gate duration_s "
              f"{float(first['duration_s']):.3f} s, process start to logged {cold_wall:.3f} s")
        wait_http(f"http://127.0.0.1:{hport}/readyz")

        # Webhook-to-published, images cached.
        link = f"{volume}/current"
        lat, logged = [], []
        reg_before = sum(1 for _ in open(reg_log))
        for i in range(a.runs):
            with open(edit) as f:
                text = f.read()
            with open(edit, "w") as f:
                f.write(text.replace(f'revision: "{i}"', f'revision: "{i + 1}"'))
            c = commit(repo, key, f"change {i + 1}")
            n = len(attempts(log))
            t = time.perf_counter()
            hook(hport)
            while os.path.basename(os.readlink(link)) != c:
                if time.perf_counter() - t > 60:
                    raise SystemExit(f"commit {c} not published after 60 s; log:\n" + open(log).read()[-3000:])
                time.sleep(0.001)
            lat.append(time.perf_counter() - t)
            att = wait_attempts(log, n + 1)[n]
            if att["result"] != "published" or att.get("commit") != c:
                raise SystemExit(f"unexpected attempt: {att}")
            logged.append(float(att["duration_s"]))
        warm_reqs = sum(1 for l in open(reg_log).read().splitlines()[reg_before:] if '"GET /v2/' in l or '"HEAD /v2/' in l)
        st = json.loads(request("GET", f"http://127.0.0.1:{hport}/status")[2])
        pub = st["sources"][0]["published"]
        assert pub["commit"] == c, pub
        print(f"last publication: {pub['commitsChecked'] if 'commitsChecked' in pub else '?'} commit(s) checked, "
              f"{pub.get('sopsFiles', '?')} SOPS files, {len(pub.get('images', []))} images; "
              f"registry requests during the {a.runs} warm publishes: {warm_reqs}")

        # No-change syncs.
        unchanged = []
        for _ in range(a.polls):
            n = len(attempts(log))
            hook(hport)
            att = wait_attempts(log, n + 1)[n]
            if att["result"] != "unchanged":
                raise SystemExit(f"expected unchanged: {att}")
            unchanged.append(float(att["duration_s"]))
            time.sleep(0.02)

        # Idle RSS after the publishes settle.
        time.sleep(2)
        rss, hwm = rss_kb(gate.pid), rss_kb(gate.pid, "VmHWM")

        # Phase breakdown (new processes, same machine), nothing new upstream.
        qdir = f"{work}/state/quarantine/app.git"
        genv = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": gate_env["HOME"], "GIT_DIR": qdir,
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0"}
        fetch_cmd = ["git", "-c", "protocol.file.allow=always", "-c", "fetch.fsckObjects=true", "-c",
                     "transfer.fsckObjects=true", "fetch", "--no-write-fetch-head", "--prune", "--quiet", "--", url,
                     "+refs/heads/main:refs/heads/main"]
        rp_cmd = ["git", "rev-parse", "--verify", "--quiet", "--end-of-options", "refs/heads/main^{commit}"]

        def timed(cmd, runs=10, env=None):
            ts = []
            for _ in range(runs):
                t = time.perf_counter()
                p = subprocess.run(cmd, capture_output=True, env=env, cwd=qdir)
                ts.append(time.perf_counter() - t)
                if p.returncode != 0:
                    raise SystemExit(f"{cmd}: {p.stderr[-1000:]}")
            return statistics.median(ts), min(ts)

        fetch_med, fetch_min = timed(fetch_cmd, env=genv)
        # The same fetch with the v0 protocol (git:// with v2 writes its command in small
        # packets without TCP_NODELAY: Nagle and delayed ACK can hold it for ~40 ms).
        v0_med, v0_min = timed(fetch_cmd[:1] + ["-c", "protocol.version=0"] + fetch_cmd[1:], env=genv)
        rp_med, rp_min = timed(rp_cmd, env=genv)
        cache_dir = f"{work}/state/image-verdicts"
        verify_cmd = [SIGIL, "verify", "images", "--policy", f"{work}/policy.yaml", "--cache-dir", cache_dir, repo]
        vi_med, vi_min = timed(verify_cmd, runs=5, env=env)
        # The floor a kustomize render puts under webhook-to-published: the real kustomize
        # alone on the work tree, one overlay, and the three in parallel (as the gate runs them).
        kz = None
        if a.layout == "kustomize":
            kbin = shutil.which("kustomize")
            kcmd = [kbin, "build"] if kbin else ["kubectl", "kustomize"]
            kcmd += ["--load-restrictor", "LoadRestrictionsNone"]
            one = []
            for _ in range(3):
                t = time.perf_counter()
                run(kcmd + [f"{repo}/overlays/prod"])
                one.append(time.perf_counter() - t)
            par = []
            for _ in range(3):
                t = time.perf_counter()
                ps = [subprocess.Popen(kcmd + [f"{repo}/overlays/{o}"], stdout=subprocess.DEVNULL) for o in overlays]
                for p_ in ps:
                    p_.wait()
                par.append(time.perf_counter() - t)
            kz = (statistics.median(one), statistics.median(par))

        # SIGTERM, then `sigil gate --once` in new processes against the same state.
        gate.send_signal(signal.SIGTERM)
        gate.wait(timeout=30)
        once = []
        once_results = []
        for _ in range(5):
            t = time.perf_counter()
            p = subprocess.run([SIGIL, "gate", "--once", "--config", f"{work}/gate.yaml"], env=gate_env,
                               capture_output=True, text=True)
            once.append(time.perf_counter() - t)
            if p.returncode != 0:
                raise SystemExit(f"--once failed ({p.returncode}): {p.stdout} {p.stderr[-2000:]}")
            ra = [json.loads(l) for l in p.stderr.splitlines() if l.startswith("{") and '"result"' in l]
            once_results.append((ra[-1]["result"], float(ra[-1]["duration_s"])) if ra else ("?", 0.0))

        # A fetch that brings one new commit (one manifest changed), into copies of the
        # quarantine as it stands: the fetch share of a webhook-to-published sync.
        with open(edit) as f:
            text = f.read()
        with open(edit, "w") as f:
            f.write(text + "  extra: \"1\"\n")
        commit(repo, key, "phase breakdown")
        new_fetch = []
        for k in range(5):
            copy = f"{work}/qcopy{k}.git"
            shutil.copytree(qdir, copy, symlinks=True)
            t = time.perf_counter()
            p = subprocess.run(fetch_cmd, capture_output=True, env=dict(genv, GIT_DIR=copy), cwd=copy)
            new_fetch.append(time.perf_counter() - t)
            if p.returncode != 0:
                raise SystemExit(f"fetch of a new commit: {p.stderr[-1000:]}")
            shutil.rmtree(copy)

        def verdict(v, target):
            return "ok" if v < target else "MISSED"

        print()
        target = 1.5 if a.layout == "kustomize" else 1.0
        print(f"webhook-to-published ({a.runs} runs, images cached): median {ms(statistics.median(lat))}, "
              f"max {ms(max(lat))}   target < {target} s: {verdict(max(lat), target)}")
        print(f"  gate-logged sync duration of those publishes: median {ms(statistics.median(logged))}, "
              f"max {ms(max(logged))}")
        print(f"no-change sync (gate duration_s of {a.polls} unchanged attempts): median "
              f"{ms(statistics.median(unchanged))}, max {ms(max(unchanged))}   target < 20 ms: "
              f"{verdict(statistics.median(unchanged), 0.020)}")
        print(f"idle RSS: {rss / 1024:.1f} MB (peak VmHWM {hwm / 1024:.1f} MB)   target < 30 MB: "
              f"{verdict(rss / 1024, 30)}")
        print(f"sigil gate --once, new process, nothing new: wall median {ms(statistics.median(once))} "
              f"(min {ms(min(once))}); its attempts: "
              + ", ".join(sorted({f'{r}' for r, _ in once_results}))
              + f", logged duration median {ms(statistics.median(d for _, d in once_results))}")
        print("phase breakdown (new processes, nothing new upstream):")
        print(f"  git fetch alone ({a.transport}://, protocol v2, git's default; the gate uses v0 for git://): median {ms(fetch_med)} "
              f"(min {ms(fetch_min)})")
        print(f"  git fetch alone, protocol v0:    median {ms(v0_med)} (min {ms(v0_min)})")
        print(f"  git fetch of one new commit ({a.transport}://, protocol v2): median "
              f"{ms(statistics.median(new_fetch))} (min {ms(min(new_fetch))})")
        print(f"  git rev-parse alone:             median {ms(rp_med)} (min {ms(rp_min)})")
        print(f"  sigil verify images (warm cache, the work tree): median {ms(vi_med)} (min {ms(vi_min)})")
        if kz:
            print(f"  kustomize alone ({' '.join(kcmd[:2])}), one overlay: median {ms(kz[0])}; "
                  f"the three overlays in parallel: median {ms(kz[1])}")
        if a.keep:
            print(f"kept: {work} {shm}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(shm, ignore_errors=True)


if __name__ == "__main__":
    main()
