#!/usr/bin/env bash
# Installs card-agent for the current user, without root: copies the binary into ~/.local/bin
# (or $CARD_AGENT_BIN_DIR), then `card-agent install --user` writes everything else and lists
# it: the native messaging host manifest for every browser this user runs (native, Flatpak,
# Snap), the service's systemd user unit, the tray's autostart entry, and a receipt so
# `card-agent uninstall --user` (uninstall.sh) removes exactly those files.
# Usage: installers/linux/install.sh [path/to/card-agent]   (default: builds it with cargo)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin_dir=${CARD_AGENT_BIN_DIR:-"$HOME/.local/bin"}

src=${1:-}
if [ -z "$src" ]; then
  (cd "$repo" && cargo build --release -q -p card-agent)
  src="$repo/target/release/card-agent"
fi
[ -x "$src" ] || { echo "install: $src is not an executable" >&2; exit 1; }

mkdir -p "$bin_dir"
install -m 0755 "$src" "$bin_dir/card-agent"
echo "installed $bin_dir/card-agent"

# Everything else, from the one implementation (it refuses a path the desktop entry or the
# unit could not hold safely).
"$bin_dir/card-agent" install --user

# Show the tray icon now too, when installing from a desktop session where it is not running.
if [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] &&
  ! pgrep -u "$(id -u)" -f "$bin_dir/card-agent tray" > /dev/null; then
  nohup "$bin_dir/card-agent" tray > /dev/null 2>&1 &
fi

case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "note: $bin_dir is not on your PATH" ;;
esac
echo "Next: load the extension (extension/ in this repository) and visit a site that uses your card."
