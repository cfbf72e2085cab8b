#!/usr/bin/env bash
# Removes what install.sh installed for the current user. Trusted sites and the config are kept
# unless --purge is given.
set -euo pipefail
bin_dir=${CARD_AGENT_BIN_DIR:-"$HOME/.local/bin"}
purge=${1:-}

pkill -u "$(id -u)" -f "$bin_dir/card-agent tray" 2>/dev/null || true
pkill -u "$(id -u)" -f "$bin_dir/card-agent serve" 2>/dev/null || true
rm -f "${XDG_CONFIG_HOME:-$HOME/.config}/autostart/card-agent-tray.desktop"
for dir in \
  "$HOME/.config/google-chrome/NativeMessagingHosts" \
  "$HOME/.config/chromium/NativeMessagingHosts" \
  "$HOME/.config/microsoft-edge/NativeMessagingHosts" \
  "$HOME/.config/BraveSoftware/Brave-Browser/NativeMessagingHosts" \
  "$HOME/.mozilla/native-messaging-hosts"; do
  rm -f "$dir/tw.card_agent.json"
done
rm -f "$bin_dir/card-agent"
if [ "$purge" = "--purge" ]; then
  rm -rf "${XDG_CONFIG_HOME:-$HOME/.config}/card-agent" "${XDG_STATE_HOME:-$HOME/.local/state}/card-agent"
fi
echo "card-agent removed"
