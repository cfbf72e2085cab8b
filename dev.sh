#!/usr/bin/env bash
# card-agent developer entry point: the two quick-start commands.
#   ./dev.sh demo   build card-agent and run its main job on the embedded demo token
#   ./dev.sh test   install the test stack (pcscd + vpcd, SoftHSM2, openssl, chromium) and run every test
# Both install the Debian packages they need (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")"

BUILD_PACKAGES=(pkg-config libpcsclite-dev openssl python3)
TEST_PACKAGES=(pcscd pcsc-tools vsmartcard-vpcd softhsm2 opensc chromium iproute2)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

need_cargo() {
  command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs (Debian 12's rustc is too old)" >&2; exit 1; }
}

demo() {
  need_cargo
  install_packages "${BUILD_PACKAGES[@]}"
  say "building card-agent"
  cargo build -q -p card-agent
  local agent=target/debug/card-agent
  work=$(mktemp -d)   # global: the EXIT trap runs after this function returns
  trap 'rm -rf "$work"' EXIT
  say "card-agent list --demo   (the demo token: a software card, never a real one)"
  "$agent" list --demo
  printf '申請書 application form\nname: DEMO 示範用戶\n' > "$work/form.txt"
  say "card-agent sign --demo --format cms   (demo PIN 123456 on standard input)"
  echo 123456 | "$agent" sign --demo --in "$work/form.txt" --out "$work/form.p7s" --format cms --hash sha256 --pin-stdin
  say "openssl checks the CMS signature independently"
  "$agent" list --demo --json | python3 -c '
import base64, json, sys
certs = json.load(sys.stdin)["tokens"][0]["certificates"]
for c in certs:
    if not c["hasPrivateKey"]:
        b = base64.b64encode(base64.b64decode(c["derBase64"])).decode()
        print("-----BEGIN CERTIFICATE-----")
        print("\n".join(b[i:i+64] for i in range(0, len(b), 64)))
        print("-----END CERTIFICATE-----")' > "$work/demo-ca.pem"
  openssl cms -verify -binary -inform DER -in "$work/form.p7s" -content "$work/form.txt" \
    -CAfile "$work/demo-ca.pem" -purpose any -out /dev/null
  say "wrong PIN: the demo token counts tries like a real card (3, then locked)"
  echo 000000 | "$agent" verify-pin --demo --pin-stdin || true
}

run_tests() {
  need_cargo
  install_packages "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"
  # The browser extension's unit tests: Node's built-in runner, no npm packages.
  command -v node >/dev/null || install_packages nodejs
  say "extension tests (node --test)"
  (cd extension && node --test test/)
  say "building"
  cargo build --workspace --all-targets --all-features
  # The legacy HiPKI API in headless Chromium, with and without the extension (needs the
  # build above; playwright-core drives Debian's chromium, it never downloads a browser).
  say "legacy browser tests (npm ci + node --test)"
  command -v npm >/dev/null || install_packages npm
  (cd tests/legacy-browser && npm ci --no-audit --no-fund --loglevel=error && npm test)
  say "running every test"
  cargo test --workspace --all-features --no-fail-fast
}

case "${1:-}" in
  demo) demo ;;
  test) run_tests ;;
  *) echo "usage: ./dev.sh demo | ./dev.sh test" >&2; exit 2 ;;
esac
