#!/usr/bin/env bash
# Installs card-agent for the current user, without root:
#   - the binary into ~/.local/bin (or $CARD_AGENT_BIN_DIR)
#   - the native messaging host manifest for every browser this user has run
#   - the tray icon, started with the desktop session (XDG autostart:
#     ~/.config/autostart/card-agent-tray.desktop); it starts the agent, as browsers do when a
#     page needs it.
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

# Register with every browser this user has (Chrome, Chromium, Edge, Brave, Firefox). A user
# with no browser profile yet gets all manifests, so a browser installed later works too.
if ! "$bin_dir/card-agent" install-host; then
  "$bin_dir/card-agent" install-host --browser all
fi

# The tray icon at every login. The Exec line quotes the path; a path with characters that
# desktop files treat specially is left out rather than risk running something else.
autostart_dir="${XDG_CONFIG_HOME:-$HOME/.config}/autostart"
case "$bin_dir" in
  *[\\\"\`\$%]* | *$'\n'*)
    echo "note: $bin_dir has characters a desktop file cannot hold; start 'card-agent tray' at login yourself"
    ;;
  *)
    mkdir -p "$autostart_dir"
    cat > "$autostart_dir/card-agent-tray.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=card-agent
Name[zh_TW]=card-agent 憑證卡
Comment=Shows whether your certificate card is ready to use
Comment[zh_TW]=顯示憑證卡是否可以使用
Exec="$bin_dir/card-agent" tray
Terminal=false
NoDisplay=true
X-GNOME-Autostart-enabled=true
DESKTOP
    echo "installed $autostart_dir/card-agent-tray.desktop"
    # Show the icon now too, when installing from a desktop session where it is not running.
    if [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] &&
      ! pgrep -u "$(id -u)" -f "$bin_dir/card-agent tray" > /dev/null; then
      nohup "$bin_dir/card-agent" tray > /dev/null 2>&1 &
    fi
    ;;
esac

case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "note: $bin_dir is not on your PATH" ;;
esac
echo "Next: load the extension (extension/ in this repository) and visit a site that uses your card."
