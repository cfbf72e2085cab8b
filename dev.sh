#!/usr/bin/env bash
# card-agent developer entry point: the two quick-start commands.
#   ./dev.sh demo   build card-agent and run its main job on the embedded demo token
#   ./dev.sh test   install the test stack (pcscd + vpcd, SoftHSM2, openssl, Chromium, a headless
#                   desktop with a tray host) and run every test, the browser end-to-end tests included
# Both install the Debian packages they need (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")"

BUILD_PACKAGES=(pkg-config libpcsclite-dev openssl python3)
# The tray's test: a private D-Bus session, Xvfb, a StatusNotifier watcher, a visible tray host,
# and gdbus to read the item as a panel does. chromium-l10n: the browser's zh-TW, which the
# extension's texts follow (LANG=zh_TW.UTF-8). iproute2: the legacy browser tests' private
# network namespace, where port 61161 is free. dpkg-dev, lintian, shellcheck: the package tests
# (dpkg-shlibdeps; lintian on the .deb; the installer scripts). libfaketime: every Rust test
# runs a second time with the clock a year ahead. firefox-esr: the browser tests run in Firefox
# too (driven over WebDriver BiDi, which Firefox speaks itself). curl: the legacy API's peer check
# is tested with a request made as another user (setpriv, from util-linux, which is essential).
TEST_PACKAGES=(pcscd pcsc-tools vsmartcard-vpcd softhsm2 opensc chromium chromium-l10n
  dbus-daemon xvfb haskell-status-notifier-item-utils haskell-gtk-sni-tray-utils libglib2.0-bin
  iproute2 dpkg-dev lintian shellcheck libfaketime firefox-esr curl)

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
  say "the extension's Firefox build (target/firefox-extension)"
  (cd extension && node tools/build-firefox.js)
  say "building"
  cargo build --workspace --all-targets --all-features
  say "running every Rust test"
  cargo test --workspace --all-features --no-fail-fast
  clock_ahead_tests
  browser_tests
}

# Every Rust test again with the wall clock a year ahead, so that a test or golden file that
# holds today's date, a number of days left or a certificate valid only "now" fails on the day
# it is written, not a year later. libfaketime is preloaded into the test binaries (cargo's
# runner) and so into every program they start; the monotonic clock is left alone
# (DONT_FAKE_MONOTONIC), so timeouts keep their length. Not the `faketime` wrapper: it waits
# until every process it ever started has exited, and a test may leave pcscd running.
clock_ahead_tests() {
  local lib triple
  lib=$(dpkg -L libfaketime | grep '/libfaketime\.so\.1$' | head -n 1)
  [ -n "$lib" ] || { echo "libfaketime.so.1 not found (package libfaketime)" >&2; exit 1; }
  triple=$(rustc -vV | sed -n 's/^host: //p' | tr 'a-z-' 'A-Z_')
  # The run proves nothing if the clock did not move: check it on date(1) first.
  local ahead=$(( $(env LD_PRELOAD="$lib" FAKETIME=+365d date +%s) - $(date +%s) ))
  [ "$ahead" -gt $((364 * 86400)) ] || { echo "libfaketime did not move the clock ($ahead s)" >&2; exit 1; }
  say "every Rust test again, with the clock a year ahead (libfaketime +365d)"
  env "CARGO_TARGET_${triple}_RUNNER=env LD_PRELOAD=$lib FAKETIME=+365d DONT_FAKE_MONOTONIC=1" \
    cargo test --workspace --all-features --no-fail-fast
}

# Headless Chromium with the unpacked extension and the real native host and daemon: the new
# API against the demo e-government site (tests/browser/README.md, SoftHSM2 and the demo
# token), and a legacy HiPKI page with and without the extension (tests/legacy-browser/).
# The login, signing, PIN and site-approval cases run in Firefox ESR as well, with the
# extension's Firefox build as a temporary add-on. Node 20+ and npm; playwright-core drives
# Debian's chromium, puppeteer-core drives firefox-esr over WebDriver BiDi, and neither
# downloads a browser or a driver.
browser_tests() {
  command -v npm >/dev/null || install_packages npm
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "the browser tests need Node 20 or later (found $(node --version))" >&2
    exit 1
  fi
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
  say "browser end-to-end tests (headless Chromium and Firefox ESR)"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error \
    && node --test --test-concurrency=1 test/)
  say "legacy page browser tests (headless Chromium)"
  (cd tests/legacy-browser && npm ci --no-audit --no-fund --loglevel=error && npm test)
}

case "${1:-}" in
  demo) demo ;;
  test) run_tests ;;
  *) echo "usage: ./dev.sh demo | ./dev.sh test" >&2; exit 2 ;;
esac
