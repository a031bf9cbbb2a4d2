#!/usr/bin/env bash
# Runs one cargo-fuzz target (stable toolchain, no sanitizer) for SECONDS, seeded from the
# shared vectors. Crashes land in fuzz/artifacts/TARGET; copy fixed ones to fuzz/regressions/TARGET.
# Usage: scripts/fuzz.sh TARGET [SECONDS]    (targets: see fuzz/Cargo.toml)
set -euo pipefail
cd "$(dirname "$0")/.."
target=$1; secs=${2:-600}
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
esac
[ -d "fuzz/regressions/$target" ] && cp fuzz/regressions/"$target"/* "$corpus"/ 2>/dev/null || true
cd fuzz
cargo fuzz run --sanitizer none -O "$target" "corpus/$target" -- -max_total_time="$secs" -rss_limit_mb=4096 -max_len=65536
