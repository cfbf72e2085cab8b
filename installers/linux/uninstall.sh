#!/usr/bin/env bash
# Removes what install.sh installed for the current user: `card-agent uninstall --user` removes
# the files its receipt lists, then the binary goes. Trusted sites and the config are kept
# unless --purge is given.
set -euo pipefail
bin_dir=${CARD_AGENT_BIN_DIR:-"$HOME/.local/bin"}
purge=()
[ "${1:-}" = "--purge" ] && purge=(--purge)

# Only this user's processes started from this binary.
pkill -u "$(id -u)" -f "$bin_dir/card-agent tray" 2>/dev/null || true
pkill -u "$(id -u)" -f "$bin_dir/card-agent serve" 2>/dev/null || true
if [ -x "$bin_dir/card-agent" ]; then
  "$bin_dir/card-agent" uninstall --user "${purge[@]}"
fi
rm -f "$bin_dir/card-agent"
echo "card-agent removed"
