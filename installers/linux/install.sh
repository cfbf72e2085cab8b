#!/usr/bin/env bash
# Installs card-agent for the current user, without root:
#   - the binary into ~/.local/bin (or $CARD_AGENT_BIN_DIR)
#   - the native messaging host manifest for every browser this user has run
#   - nothing else runs at login: browsers start the agent when a page needs it.
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

case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "note: $bin_dir is not on your PATH" ;;
esac
echo "Next: load the extension (extension/ in this repository) and visit a site that uses your card."
