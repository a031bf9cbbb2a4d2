#!/bin/sh
# sops's classic spelling, as READMEs, Flux guides and CI scripts write it. Run by
# tests/sops_interop.rs (classic_spelling_script_like_sops) in an empty directory, once with
# SOPS=the real sops and once with SOPS=sigil: the transcripts (plaintext and exit codes, never
# ciphertext, which is random) must be identical.
# Needs: SOPS, AGE1 and AGE2 (recipients), KEY1 and KEY2 (their identity files).
set -u
step() { printf '== %s\n' "$*"; }
code() { printf 'exit %s\n' "$?"; }
export SOPS_AGE_KEY_FILE="$KEY1"

cat > secret.yaml <<'YAML'
apiVersion: v1
kind: Secret
stringData:
    user: admin
    password: hunter2
    ca.crt: |
        -----BEGIN CERTIFICATE-----
        MIIB
        -----END CERTIFICATE-----
YAML

step 'encrypt in place'
"$SOPS" -e -i --age "$AGE1" --encrypted-regex '^(data|stringData)$' secret.yaml; code
grep -c 'ENC\[' secret.yaml
grep '^kind' secret.yaml

step 'decrypt'
"$SOPS" -d secret.yaml; code
"$SOPS" --decrypt --output-type json secret.yaml; code

step 'extract'
"$SOPS" --extract '["stringData"]["password"]' -d secret.yaml; code
"$SOPS" -d --extract '["stringData"]["ca.crt"]' secret.yaml; code
"$SOPS" -d --extract '["stringData"]' secret.yaml; code
"$SOPS" -d --extract '["nope"]' secret.yaml; code

step 'set'
"$SOPS" --set '["stringData"]["password"] "s3cr3t"' secret.yaml; code
"$SOPS" --set '["stringData"]["port"] 5432' -i secret.yaml; code
"$SOPS" -d secret.yaml; code

step 'rotate'
"$SOPS" -r -i --add-age "$AGE2" secret.yaml; code
SOPS_AGE_KEY_FILE="$KEY2" "$SOPS" -d --extract '["stringData"]["password"]' secret.yaml; code
"$SOPS" -r secret.yaml > rotated.yaml; code
SOPS_AGE_KEY_FILE="$KEY2" "$SOPS" -d rotated.yaml; code
"$SOPS" --rotate --in-place --rm-age "$AGE2" secret.yaml; code
SOPS_AGE_KEY_FILE="$KEY2" "$SOPS" -d secret.yaml > /dev/null 2>&1; code

step 'encrypt to stdout and to --output'
printf '{"token": "abc", "n": 1}' > plain.json
"$SOPS" --encrypt --age "$AGE1" plain.json > plain.enc.json; code
"$SOPS" -d plain.enc.json; code
"$SOPS" -e --age "$AGE1" --output out.enc.json plain.json; code
"$SOPS" -d --output out.json out.enc.json; code
cat out.json

step 'edit'
EDITOR=true "$SOPS" secret.yaml; code

step 'decrypt in place'
"$SOPS" -d -i secret.yaml; code
cat secret.yaml

step 'refusals'
"$SOPS" -d 2>/dev/null; code
"$SOPS" -d missing.yaml 2>/dev/null; code
"$SOPS" -e -i --age "$AGE1" plain.enc.json 2>/dev/null; code
"$SOPS" -d -i --output x.yaml plain.enc.json 2>/dev/null; code
"$SOPS" --set 'no-value' plain.enc.json 2>/dev/null; code
"$SOPS" --set '["a"] not-json' plain.enc.json 2>/dev/null; code
"$SOPS" -r -i --add-age "$AGE2" missing.yaml 2>/dev/null; code
"$SOPS" -d plain.json 2>/dev/null; code
"$SOPS" -d plain.enc.json; code
