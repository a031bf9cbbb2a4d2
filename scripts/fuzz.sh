#!/usr/bin/env bash
# Runs one cargo-fuzz target (stable toolchain, no sanitizer) for SECONDS, seeded from the
# shared vectors. Crashes land in fuzz/artifacts/TARGET; copy fixed ones to fuzz/regressions/TARGET.
# Usage: scripts/fuzz.sh TARGET [SECONDS]    (targets: see fuzz/Cargo.toml; `all` runs each in turn)
# Seeding the image targets uses jq for a few derived inputs (skipped without it).
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1; secs=${2:-600}
if [ "$target" = all ]; then # every target in turn; a line per target: runs, result, log
  mkdir -p fuzz/logs; failed=0
  for t in $(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^sigil-fuzz$'); do
    if "$0" "$t" "$secs" > "fuzz/logs/$t.log" 2>&1; then r=ok; else r=FAILED; failed=1; fi
    printf '%-20s %12s runs  %s  fuzz/logs/%s.log\n' "$t" "$(grep -o 'Done [0-9]* runs' "fuzz/logs/$t.log" | tail -1 | cut -d' ' -f2)" "$r" "$t"
  done
  exit $failed
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
corpus=fuzz/corpus/$target; mkdir -p "$corpus"
v=../shared/vectors
case $target in
  yaml) cp $v/sops/*.yaml $v/sops/functional-tests/res/*.yaml tests/fixtures/*.yaml "$corpus"/ 2>/dev/null || true ;;
  json|metadata) cp $v/sops/*.json $v/sops/examples/*/*/*.json $v/sops/functional-tests/res/*.json "$corpus"/ 2>/dev/null || true ;;
  dotenv) cp $v/sops/functional-tests/res/*.env "$corpus"/ 2>/dev/null || true ;;
  ini) cp $v/sops/*.ini $v/sops/functional-tests/res/*.ini "$corpus"/ 2>/dev/null || true ;;
  age_file) for f in $v/age-cctv/testdata/*; do sed '1,/^$/d' "$f" > "$corpus/$(basename "$f")"; done ;;
  git_object) git -C "$(pwd)" cat-file commit HEAD > "$corpus/head" 2>/dev/null || true; printf 'object 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ntype commit\ntag v1\ntagger T <t@x> 1 +0000\n\nmsg\n-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n' > "$corpus/tag" ;;
  sshsig) git log --format=%GG -1 >/dev/null 2>&1; printf -- '-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n' > "$corpus/armor" ;;
  allowed_signers) printf 'a@b.c,!x@b.c namespaces="git",valid-after="20200101",valid-before="20300101Z" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEQmNkXsHhCgdAs0bDW7sXoGcBX0QXmW6yoiBgTOgJgF c\n*@b.c cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEQmNkXsHhCgdAs0bDW7sXoGcBX0QXmW6yoiBgTOgJgF\n' > "$corpus/seed" ;;
  enc_value) grep -ho 'ENC\[[^]]*\]' $v/sops/*.yaml | head -50 | split -l 1 - "$corpus/enc-" ;;
  image_reference) i=0; for r in nginx nginx:1.27 bitnami/redis index.docker.io/library/nginx ghcr.io/org/app:v1 localhost/app 127.0.0.1:5000/a/b:t "ghcr.io/org/app:v1@sha256:$(printf '0%.0s' $(seq 64))" "r.io/a__b/c-d.e@sha512:$(printf 'f%.0s' $(seq 128))" "[::1]:5000/x"; do printf '%s' "$r" > "$corpus/ref-$i"; i=$((i+1)); done ;;
  signature_layer)
    for f in $v/cosign/containers-image/signature/fixtures/dir-img-*/* $v/cosign/containers-image/signature/fixtures/*.json $v/cosign/containers-image/signature/fixtures/*.signature; do
      n=$(echo "${f#$v/cosign/containers-image/signature/fixtures/}" | tr / _); cp "$f" "$corpus/$n"
      # The same signature as {payload, annotations} JSON, and as a one-layer .sig manifest.
      if command -v jq >/dev/null && head -c 15 "$f" | grep -q sigstore-json; then
        tail -c +16 "$f" > "$corpus/$n.json"
        tail -c +16 "$f" | jq -c '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", layers: [{mediaType, digest: "sha256:00", size: 1, annotations}]}' > "$corpus/$n.manifest" || true
      fi
    done ;;
  bundle)
    cp $v/cosign/sigstore-rs/tests/data/bundle_v03.json $v/cosign/cosign/pkg/cosign/testdata/oci-attestation.sigstore.json "$corpus"/
    for d in $v/sigstore-conformance/test/assets/bundle-verify/*/; do cp "$d/bundle.sigstore.json" "$corpus/conformance-$(basename "$d").json"; done
    command -v jq >/dev/null && tail -c +16 $v/cosign/containers-image/signature/fixtures/dir-img-cosign-key-rekor-valid/signature-1 | jq -r '.annotations["dev.sigstore.cosign/bundle"]' > "$corpus/legacy-annotation" || true ;;
  in_repo_policy) k=$(cat keys-example/pgp.pub.asc); p="version = 0
commit_goodlist = [\"$(printf '0%.0s' $(seq 40))\"]
[authorization.alice]
sign_commit = true
add_user = true
keyring = \"\"\"
$k
\"\"\""
      printf '%s' "$p" > "$corpus/one"; { printf '%s\0' "$p"; printf '%s' "$p" | sed 's/alice/bob/;s/add_user/audit/'; } > "$corpus/pair"
      { printf '%s\0' "$p"; printf '%s' "$p" | grep -v '^[A-Za-z0-9+/]\{60,\}$' | head -c 2000; } > "$corpus/stripped" ;;
  checkpoint) i=0; for f in $v/sigstore-conformance/test/assets/bundle-verify/*/bundle.sigstore.json; do
      command -v jq >/dev/null && jq -r '.verificationMaterial.tlogEntries[0].inclusionProof.checkpoint.envelope // empty' "$f" > "$corpus/cp-$i" 2>/dev/null || true; i=$((i+1)); done ;;
  trust_root) cp $v/cosign/sigstore-rs/trust_root/prod/trusted_root.json "$corpus/prod.json"; cp $v/cosign/cosign/pkg/cosign/testdata/trusted_root_pgi.json "$corpus/pgi.json"
    cp $v/cosign/containers-image/signature/fixtures/*.pub $v/cosign/containers-image/signature/fixtures/fulcio_v1.crt.pem $v/cosign/containers-image/signature/fixtures/pki_*.pem $v/cosign/containers-image/signature/internal/testdata/rekor.pub "$corpus"/ ;;
  x509) f=$v/cosign/containers-image/signature/fixtures
    cp $f/fulcio-cert $f/fulcio-chain $f/fulcio_v1.crt.pem $f/pki-cert $f/pki-chain $f/pki_*.pem $v/cosign/containers-image/signature/internal/testdata/rekor-cert "$corpus"/
    i=0; for raw in $(grep -ho '"rawBytes": *"MII[^"]*"' $v/cosign/sigstore-rs/tests/data/bundle_v03.json $v/cosign/cosign/pkg/cosign/testdata/oci-attestation.sigstore.json $v/cosign/sigstore-rs/trust_root/prod/trusted_root.json | sed 's/.*"\(MII[^"]*\)"/\1/'); do
      echo "$raw" | base64 -d > "$corpus/der-$i" 2>/dev/null || true; i=$((i+1)); done ;;
  cosign_key) cp $v/cosign/sigstore-rs/tests/data/keys/* "$corpus"/ ;;
  tsa) # The public-good timestamp of the sigstore-rs bundle, and openssl TSA answers (with and
    # without certificates, ESS v1 and v2, a bare token, a rejection) over the harness's bytes.
    command -v jq >/dev/null && jq -r '.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0].signedTimestamp' $v/cosign/sigstore-rs/tests/data/bundle_v03.json | base64 -d > "$corpus/public-good.tsr" || true
    t=$(mktemp -d); (cd "$t"
      printf 'sigil-fuzz-signature' > data; echo 01 > serial
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=root -keyout root.key -out root.pem 2>/dev/null
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=tsa -keyout tsa.key -out tsa.csr 2>/dev/null
      printf 'extendedKeyUsage = critical,timeStamping\n' > ext
      openssl x509 -req -in tsa.csr -CA root.pem -CAkey root.key -CAcreateserial -days 10 -extfile ext -out tsa.pem 2>/dev/null
      for alg in sha1 sha256; do
        printf '[tsa]\ndefault_tsa = t\n[t]\nserial = ./serial\nsigner_cert = ./tsa.pem\ncerts = ./root.pem\nsigner_key = ./tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3\ndigests = sha256, sha512\ness_cert_id_alg = %s\n' $alg > c.cnf
        openssl ts -query -data data -sha256 -cert -out q1 && openssl ts -reply -config c.cnf -queryfile q1 -out "r-$alg-certs.tsr"
        openssl ts -query -data data -sha512 -out q2 && openssl ts -reply -config c.cnf -queryfile q2 -out "r-$alg.tsr"
        openssl ts -reply -config c.cnf -queryfile q1 -token_out -out "t-$alg.tok"
      done
      openssl ts -query -data data -sha1 -out q3 && openssl ts -reply -config c.cnf -queryfile q3 -out rejected.tsr) >/dev/null 2>&1 || true
    cp "$t"/*.tsr "$t"/*.tok "$corpus"/ 2>/dev/null || true; rm -rf "$t" ;;
  manifest_documents) # Multi-document YAML (anchors, merge keys, Lists), JSON streams, fixtures.
    cp tests/fixtures/*.yaml "$corpus"/ 2>/dev/null || true
    printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: &m {name: web, labels: {app: web}}\nspec:\n  template:\n    metadata: *m\n    spec:\n      containers:\n        - &c {name: app, image: "ghcr.io/org/app:v1", env: [{name: A, value: "yes"}]}\n        - <<: *c\n          name: sidecar\n        - <<: [*c, {args: ["--x"]}]\n          image: busybox\n---\n---\napiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {"1": "0777", k: "~", t: "true"}}\n  - kind: ConfigMapList\n    items: [{kind: Pod, spec: {containers: [{image: alpine}]}}]\n...\n' > "$corpus/anchors-merge-lists.yaml"
    printf 'x-defaults: &base {imagePullPolicy: Always, resources: {limits: {cpu: 1}}}\nx-app: &app\n  <<: *base\n  image: ghcr.io/org/app:v1\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - <<: *app\n      name: web\n' > "$corpus/chained-merge.yaml"
    printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"a":"aGk="}}\n{"kind":"List","items":[{"apiVersion":"argoproj.io/v1alpha1","kind":"Application"}]} null [1,2.5e3,"x"]' > "$corpus/stream.json"
    printf 'apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: r}\nspec:\n  values: |\n    multi\n    line: text\n  n: 1.5\n  big: 18446744073709551615\n  keys: {null: a, true: b, 2: c, "": d}\n' > "$corpus/release.yaml" ;;
  kustomization) # A root kustomization (first record) and path\0content files, separated by =====.
    s=$'\n=====\n'
    printf 'resources: [base, app.yaml]\ncomponents: [components/sidecar]\npatches:\n  - path: patch.yaml\n  - target: {kind: Deployment}\n    patch: "- {op: add, path: /x, value: 1}"\nsecretGenerator:\n  - {name: creds, envs: [creds.env]}\n  - {name: conf, files: [config.yaml=conf/app.yaml, conf]}\nconfigMapGenerator: [{name: c, env: c.env, literals: [a=b]}]\npatchesStrategicMerge: [sm.yaml]\nopenapi: {path: schema.json}\ngenerators: [gen.yaml]\ntransformers: ["apiVersion: builtin\\nkind: PatchTransformer\\nmetadata: {name: p}\\npath: patch.yaml\\n"]\n%sbase/kustomization.yaml\0resources: [deploy.yaml, ../shared]\n%sbase/deploy.yaml\0apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n%sshared/kustomization.yml\0crds: [crd.yaml]\nconfigurations: [conf.yaml]\n%scomponents/sidecar/kustomization.yaml\0apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatchesJson6902: [{target: {kind: Deployment}, path: p.json}]\n%sgen.yaml\0apiVersion: builtin\nkind: SecretGenerator\nmetadata: {name: g}\nfiles: [conf/app.yaml]\n%sconf/app.yaml\0a: 1\n%s@link\0base\n%screds.env\0A=b\n' "$s" "$s" "$s" "$s" "$s" "$s" "$s" "$s" > "$corpus/overlay"
    printf 'resources: [apps/nested]\n%sapps/a.yaml\0apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n%sapps/sub/b.yml\0kind: List\nitems: []\n%sapps/nested/Kustomization\0resources: [c.yaml, ../../link/x.yaml]\n%sapps/.sops.yaml\0creation_rules: []\n%s@apps/l.yaml\0a.yaml\n%s@link\0apps/nested' "$s" "$s" "$s" "$s" "$s" "$s" > "$corpus/generated"
    printf 'resources: [https://example.com/x.yaml, ../x, /etc/passwd, git@github.com:o/r.git]\nhelmCharts: [{name: x}]\n' > "$corpus/refused" ;;
  substitute) printf 'image: app:${TAG}\nreplicas: ${R:=1}\nname: ${NAME:-x}-${MISSING:-${TAG}}\nliteral: $$HOME $${TAG} $TAG\nmulti: ${MULTI}\nsub: ${TAG:1:2}\n' > "$corpus/forms.yaml"
    printf '{"kind":"ConfigMap","metadata":{"name":"x","annotations":{"kustomize.toolkit.fluxcd.io/substitute":"disabled"}},"data":{"a":"${TAG}"}}' > "$corpus/disabled.json"
    printf '${_x1} ${\xc3\x89T\xc3\x89} ${EMPTY:+set}${EMPTY?} ${TAG/a/b} ${' > "$corpus/edges" ;;
  directory_glob) i=0; for g in '*.yaml' '{config.json,env-usw2/*}' '[!s]*.yaml' 'a.b+c(d).yaml' 'sub/\*.y?ml' '[a-c]{x,y}' '{a,{b,c}}'; do printf '%s\0sub/a.yaml' "$g" > "$corpus/glob-$i"; i=$((i+1)); done ;;
  rendered_secret) # A Secret (first record) against SOPS files of the tree, encrypted at seed time.
    s=$'\n=====\n'; t=$(mktemp -d)
    if [ -x target/debug/sigil ] && command -v age-keygen >/dev/null; then
      age-keygen -o "$t/key" 2>/dev/null; r=$(age-keygen -y "$t/key")
      printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ntype: Opaque\nstringData:\n  password: hunter2\n  user: ""\ndata:\n  token: aGk=\n' > "$t/secret.yaml"
      printf 'USER=app\nPASSWORD=hunter2\n' > "$t/creds.env"
      printf 'a: 1\nb: [x, y]\n' > "$t/conf.yaml"
      (cd "$t" && for f in secret.yaml creds.env conf.yaml; do "$OLDPWD"/target/debug/sigil encrypt --age "$r" "$f" > "enc-$f" 2>/dev/null || true; done
       [ -s enc-secret.yaml ] && { cat enc-secret.yaml; printf '%ssecrets/db.yaml\0' "$s"; cat enc-secret.yaml; } > manifest
       [ -s enc-conf.yaml ] && { printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: conf}\ndata:\n  config.yaml: %s\n%sconf.yaml\0' "$(base64 -w0 enc-conf.yaml)" "$s"; cat enc-conf.yaml; } > files
       if [ -s enc-creds.env ]; then
         { printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\ndata:\n'
           while IFS='=' read -r k v; do printf '  %s: %s\n' "$k" "$(printf '%s' "$v" | base64 -w0)"; done < enc-creds.env
           printf '%screds.env\0' "$s"; cat enc-creds.env; } > env
       fi)
      cp "$t"/manifest "$t"/files "$t"/env "$corpus"/ 2>/dev/null || true
    fi
    rm -rf "$t"
    cp $v/sops/example.yaml "$corpus"/sops-example.yaml 2>/dev/null || true
    printf '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"e"},"data":{"a":"","b":"\\n"},"stringData":{"c":null}}' > "$corpus/empty.json"
    printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: plain}\nstringData: {password: hunter2}\ndata: {token: aGk=}\n' > "$corpus/plaintext.yaml"
    printf 'kind: Secret\nsops: {mac: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"}\ndata: {a: "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"}\n' > "$corpus/foreign" ;;
  openpgp_mpi) # gpg signatures (old-format headers), binary, one RSA and one EdDSA.
    t=$(mktemp -d); chmod 700 "$t"; (export GNUPGHOME=$t
      gpg --batch --passphrase '' --quick-gen-key 'F <f@example.com>' rsa2048 sign never
      gpg --batch --passphrase '' --quick-gen-key 'E <e@example.com>' ed25519 sign never
      printf 'payload' > "$t/data"
      gpg --batch -u f@example.com --detach-sign -o "$corpus/rsa.sig" "$t/data"
      gpg --batch -u e@example.com --detach-sign -o "$corpus/ed25519.sig" "$t/data") >/dev/null 2>&1 || true
    rm -rf "$t" ;;
  git_tree) # real tree objects of this repository, and entry lists.
    for t in $(git ls-tree -r -t HEAD | awk '$2 == "tree" {print $3}' | head -20) $(git rev-parse HEAD^{tree}); do
      git cat-file tree "$t" > "$corpus/tree-$t"; done
    printf 'a.yaml\0x\n@link\0a.yaml\n@up\0../../etc\nsub/b.yaml\0y\n' > "$corpus/entries" ;;
  docker_config) printf '{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"ghcr.io":{"username":"u","password":"p"},"quay.io":{"identitytoken":"rt"}},"credHelpers":{"gcr.io":"gcloud"},"credsStore":"pass"}' > "$corpus/config.json" ;;
  http_request) # a signed GitHub webhook, chunked with extensions and trailers, probes.
    printf 'POST /hooks/prod HTTP/1.1\r\nHost: gate:8080\r\nUser-Agent: GitHub-Hookshot/1\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=%s\r\nContent-Length: 2\r\n\r\n{}' "$(printf '0%.0s' $(seq 64))" > "$corpus/github"
    printf 'POST /hooks/prod HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n3;e=1\r\nabc\r\n0\r\nT: v\r\n\r\n' > "$corpus/chunked"
    printf 'GET /readyz HTTP/1.1\r\nHost: 10.0.0.1:8081\r\nUser-Agent: kube-probe/1.31\r\nAccept: */*\r\nConnection: close\r\n\r\n' > "$corpus/probe"
    printf '\r\nHEAD /artifacts/a/b.tar.gz HTTP/1.0\r\n\r\n' > "$corpus/http10" ;;
  www_authenticate) # Challenges registries send (Docker Hub, ghcr.io, distribution, Basic),
    # and key<TAB>value lines for the round trip.
    printf 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"' > "$corpus/docker-hub"
    printf 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/app:pull,push"' > "$corpus/ghcr"
    printf 'Bearer realm="http://127.0.0.1:5001/auth",service=registry,scope="repository:a/b:pull", error="insufficient_scope"' > "$corpus/unquoted"
    printf 'Basic realm="Registry Realm"' > "$corpus/basic"
    printf 'realm\thttps://auth.example/token?x=1\nService\tregistry.example\nscope\trepository:a/b:pull,push\nempty\t\n' > "$corpus/round-trip" ;;
  pgp_legacy) # Header (mode, cipher, framing, compression), then: mode 0 the binary messages of
    # sops's example files (Go's library wrote them), mode 1 inner packets, mode 2 a payload.
    i=0; for f in $v/sops/example.yaml $v/sops/example.json; do
      awk '/BEGIN PGP MESSAGE/{m=1; s=""} m{sub(/^.*-----BEGIN/, "-----BEGIN"); sub(/^[ \t]+/, ""); sub(/(\\n)?",?[ \t]*$/, ""); gsub(/\\n/, "\n"); s=s $0 "\n"} /END PGP MESSAGE/{m=0; print s > ("'"$corpus"'/armored-" n++)}' n=$i "$f"; i=$((i+10)); done
    for a in "$corpus"/armored-*; do { printf '\0\0\0\0'; gpg --dearmor < "$a" 2>/dev/null; } > "${a/armored/message}"; rm -f "$a"; done
    printf '\1\0\3\0\313\10b\0\0\0\0\0hi' > "$corpus/inner-literal"
    printf '\2\0\0\0a 32-byte data key of sops!!!!!' > "$corpus/payload"
    printf '\2\1\13\1deflate, short partial chunks' > "$corpus/payload-deflate"
    printf '\2\2\43\2zlib, short partial chunks' > "$corpus/payload-zlib" ;;
  git_repo_read) # git cat-file --batch output of this repository (SHA-1), and object lists.
    { printf '\0'; { git rev-parse HEAD HEAD^{tree} HEAD:Cargo.toml; git ls-tree -d HEAD | awk '{print $3}'; } | git cat-file --batch; } > "$corpus/batch" 2>/dev/null || true
    printf '\1\200\2tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\n\nm\n\0\1\0hello\n' > "$corpus/objects"
    printf '\3\7\0\0\1' > "$corpus/empty-sha256" ;;
  tlog_protobuf) # logIndex, logId, kindVersion, integratedTime, inclusionPromise, inclusionProof
    printf '\x08\x07\x12\x22\x0a\x20%s\x1a\x15\x0a\x0chashedrekord\x12\x050.0.1\x20\x80\x80\x80\x80\x06\x2a\x06\x0a\x04sig!\x32\x0e\x08\x00\x12\x02rh\x18\x01\x2a\x04\x0a\x02cp' "$(printf 'k%.0s' $(seq 32))" > "$corpus/entry" ;;
  x509_commit) # nested indefinite-length BER, and a CMS ContentInfo head as gpgsm writes it.
    printf '\x30\x80\x02\x01\x05\x30\x80\x05\x00\x00\x00\x00\x00' > "$corpus/ber"
    printf '%s' 'MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0BBwEAAKCAMAAAAAAAAAAAAA==' > "$corpus/armored-body" ;;
esac
[ -d "fuzz/regressions/$target" ] && cp fuzz/regressions/"$target"/* "$corpus"/ 2>/dev/null || true
cd fuzz
cargo fuzz run --sanitizer none -O "$target" "corpus/$target" -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -max_len=65536
