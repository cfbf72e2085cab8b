#!/bin/sh
# Removes card-agent installed by card-agent-<version>.pkg: stops the daemon for the user at
# the console, deletes every file the package installed (files.txt beside this script) and
# makes the system forget the package. Run as root:
#   sudo /usr/local/share/card-agent/uninstall.sh
# Users' own files (~/Library/Application Support/card-agent, ~/.config/card-agent, logs) are
# left to them.
set -eu
[ "$(id -u)" -eq 0 ] || { echo "uninstall.sh: run it with sudo" >&2; exit 1; }
here=/usr/local/share/card-agent
list="$here/files.txt"
[ -f "$list" ] || { echo "uninstall.sh: $list is missing" >&2; exit 1; }

user=$(stat -f %Su /dev/console 2> /dev/null || true)
case "$user" in
  '' | root | loginwindow | _mbsetupuser) ;;
  *)
    if uid=$(id -u "$user" 2> /dev/null); then
      launchctl bootout "gui/$uid/tw.card-agent.daemon" 2> /dev/null || true
    fi
    ;;
esac

# Read the list before deleting it; then remove the directories left empty, up to (not
# including) the system's own.
files=$(cat "$list")
printf '%s\n' "$files" | while IFS= read -r f; do
  [ -n "$f" ] && rm -f "$f"
done
rm -rf "/Library/Application Support/card-agent" "$here"
printf '%s\n' "$files" | while IFS= read -r f; do
  d=$(dirname "$f")
  while :; do
    case "$d" in
      / | /Library | /Library/LaunchAgents | "/Library/Application Support" | /usr | /usr/local | \
        /usr/local/bin | /usr/local/share) break ;;
    esac
    rmdir "$d" 2> /dev/null || break
    d=$(dirname "$d")
  done
done
pkgutil --forget tw.card-agent > /dev/null 2>&1 || true
echo "card-agent removed"
