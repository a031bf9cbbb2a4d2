#!/usr/bin/env bash
# Quickstart: sigil's main job on a bundled example. The gate follows an example git repository
# whose commits are signed with the public keys-example SSH key: the first revision is verified,
# rendered with kustomize as Flux would build it, checked, and that render published (its SOPS
# Secret decrypted into the published volume), then an unsigned commit and a plaintext Secret
# are refused and the last good revision stays published. Finally the gate runs as a server and
# answers /readyz and /status.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/peers.sh
install_peers
if [ -z "${SIGIL:-}" ]; then cargo build --release --quiet; SIGIL=$PWD/target/release/sigil; fi
keys=$PWD/keys-example
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
shm=/dev/shm; [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
work=$(mktemp -d); out=$(mktemp -d "$shm/sigil-demo-XXXXXX")
cleanup() { [ -n "${gate_pid:-}" ] && kill "$gate_pid" 2>/dev/null; rm -rf "$work" "$out"; }
trap cleanup EXIT
chmod 600 "$keys/ssh_ed25519"
age_recipient=$(awk '/^# public key:/{print $4}' "$keys/age.txt")

echo "== 1. an example GitOps repository, commits signed with keys-example/ssh_ed25519"
repo=$work/gitops
git init -q -b main "$repo"
git -C "$repo" config user.name "Demo Deployer"; git -C "$repo" config user.email demo@example.com
git -C "$repo" config gpg.format ssh; git -C "$repo" config user.signingkey "$keys/ssh_ed25519"
mkdir -p "$repo/apps/web"
cat > "$repo/apps/web/configmap.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: web}
data: {greeting: hello}
YAML
"$SIGIL" encrypt --age "$age_recipient" --encrypted-regex '^(data|stringData)$' \
  examples/secret.yaml > "$repo/apps/web/secret.yaml"
printf 'resources: [configmap.yaml, secret.yaml]\nnamespace: web\n' > "$repo/apps/web/kustomization.yaml"
git -C "$repo" add -A; git -C "$repo" commit -q -S -m "web: first release"
git -C "$repo" log --show-signature -1 --format='   %h %s' 2>/dev/null | grep -v '^$' || true

echo "== 2. the policy (outside the repository) and the gate configuration"
cat > "$work/policy.yaml" <<YAML
apiVersion: sigil.dev/v1alpha1
kind: Policy
spec:
  signers:
    - name: demo
      emails: [demo@example.com]
      ssh: [$keys/ssh_ed25519.pub]
  commits:
    mode: range
    rules:
      - {refs: ["refs/heads/main"], paths: ["**"], signers: [demo]}
YAML
cat > "$work/gate.yaml" <<YAML
apiVersion: sigil.dev/v1alpha1
kind: Gate
spec:
  http: {bind: "127.0.0.1:$port"}
  stateDir: $work/state
  sources:
    - name: demo
      url: file://$repo
      ref: refs/heads/main
      interval: 1h
      policy: $work/policy.yaml
      secrets: {ageKeyFile: $keys/age.txt}
      render: {kustomize: {paths: [apps/web]}}   # as the Flux Kustomization (spec.path) builds it
      publish:
        rendered: true                            # publish the verified render, not the repository
        volume: {root: $out, link: current, decryptSecrets: true}   # $out is a tmpfs
        artifact: {baseUrl: "http://127.0.0.1:$port", statusFile: $work/state/demo-externalartifact.json}
YAML
sed -n '1,40p' "$work/gate.yaml" | sed 's/^/   /'

echo "== 3. sigil gate --once: the signed revision is verified, rendered, checked and published"
"$SIGIL" gate --config "$work/gate.yaml" --once
echo "   $out/current -> $(readlink "$out/current"): $(ls "$out/current" | tr '\n' ' ')"
echo "   rendered by: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["render"]["tool"])' "$out/.sigil-verdict.json")"
echo "   the published Secret, decrypted by the gate (file mode $(stat -c %a "$out/current/apps-web.secrets.yaml")):"
sed 's/^/     /' "$out/current/apps-web.secrets.yaml"
echo "   the Flux artifact: $(python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["artifact"]; print(a["url"], a["digest"][:19])' "$work/state/demo-externalartifact.json")"

echo "== 4. an unsigned commit is refused; the last good revision stays published"
good=$(readlink "$out/current")
echo "data: {greeting: pwned}" >> "$repo/apps/web/configmap.yaml"
git -C "$repo" -c commit.gpgsign=false commit -q -am "unsigned change"
set +e; "$SIGIL" gate --config "$work/gate.yaml" --once; code=$?; set -e
echo "   exit code $code (1 = refused); current -> $(readlink "$out/current") (unchanged: $([ "$(readlink "$out/current")" = "$good" ] && echo yes || echo NO))"
git -C "$repo" reset -q --hard HEAD~1

echo "== 4b. a signed commit whose kustomization generates a plaintext Secret is refused too"
printf 'secretGenerator:\n  - {name: leaked, literals: [password=hunter2]}\n' >> "$repo/apps/web/kustomization.yaml"
git -C "$repo" commit -q -S -am "web: a generated secret"
set +e; "$SIGIL" gate --config "$work/gate.yaml" --once; code=$?; set -e
echo "   exit code $code (1 = refused: the render holds a plaintext Secret); current -> $(readlink "$out/current") (unchanged: $([ "$(readlink "$out/current")" = "$good" ] && echo yes || echo NO))"
git -C "$repo" reset -q --hard HEAD~1

echo "== 5. the gate as a server: /readyz, /status, /metrics"
"$SIGIL" gate --config "$work/gate.yaml" 2> "$work/gate.log" & gate_pid=$!
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:$port/readyz >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 1 100); do curl -s http://127.0.0.1:$port/status | grep -q '"lastAttempt":{' && break; sleep 0.1; done
echo "   /readyz: $(curl -s http://127.0.0.1:$port/readyz)"
curl -s http://127.0.0.1:$port/status | python3 -c '
import json,sys
for s in json.load(sys.stdin)["sources"]:
    p, a = s["published"], s["lastAttempt"] or {}
    print("   /status: published", p["commit"][:12], "signed by", p["signer"], "| last attempt:", a.get("result"), a.get("reason"), "-", a.get("message"))'
curl -s http://127.0.0.1:$port/metrics | grep -E '^sigil_(refusals_total|published_revision_info)' | sed 's/^/   /'
kill -TERM "$gate_pid"; wait "$gate_pid"; echo "   SIGTERM: gate exited $?"; gate_pid=
