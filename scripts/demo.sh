#!/usr/bin/env bash
# Quickstart: sigil's secrets job on the bundled example, with the public keys-example keys.
# (The gate — verified revisions published, unsigned ones refused — is not built yet; this
# demo shows what exists today: encrypt, decrypt, interop with the real sops, check secrets.)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/peers.sh
install_peers
cargo build --release --quiet
sigil=target/release/sigil
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
age_recipient=$(awk '/^# public key:/{print $4}' keys-example/age.txt)
pgp_fp=$(cat keys-example/pgp.fingerprint)

echo "== 1. encrypt examples/secret.yaml to the example age and OpenPGP keys"
$sigil encrypt --age "$age_recipient" --pgp "$pgp_fp" --pgp-key-file keys-example/pgp.pub.asc \
  --encrypted-regex '^(data|stringData)$' examples/secret.yaml > "$work/secret.enc.yaml"
sed -n '1,14p' "$work/secret.enc.yaml"; echo "   ..."

echo "== 2. decrypt it with sigil (age key), MAC verified first"
SOPS_AGE_KEY_FILE=keys-example/age.txt $sigil decrypt "$work/secret.enc.yaml"

echo "== 3. decrypt it with the OpenPGP key, in process (no gpg)"
$sigil decrypt --pgp-key-file keys-example/pgp.sec.asc --extract '["stringData"]["password"]' "$work/secret.enc.yaml"; echo

echo "== 4. the real sops $("$SOPS_BIN" --version | head -1 | awk '{print $2}') decrypts sigil's file identically"
SOPS_AGE_KEY_FILE=keys-example/age.txt "$SOPS_BIN" decrypt "$work/secret.enc.yaml" > "$work/by-sops.yaml"
SOPS_AGE_KEY_FILE=keys-example/age.txt $sigil decrypt "$work/secret.enc.yaml" | cmp - "$work/by-sops.yaml" && echo "   identical"

echo "== 5. a tampered file is refused (exit code 51 = MAC mismatch, like sops)"
sed 's/^    name: db-credentials/    name: db-credentialz/' "$work/secret.enc.yaml" > "$work/tampered.yaml"
set +e; SOPS_AGE_KEY_FILE=keys-example/age.txt $sigil decrypt "$work/tampered.yaml" >/dev/null; echo "   exit $?"; set -e

echo "== 6. sigil check secrets flags a plaintext Secret and passes the encrypted one"
cp examples/secret.yaml "$work/plain-secret.yaml"; cp "$work/secret.enc.yaml" "$work/ok.yaml"
set +e; $sigil check secrets "$work/plain-secret.yaml" "$work/ok.yaml"; echo "   exit $?"; set -e
