#!/bin/sh
# Runs the legacy browser tests in a private network namespace when the system allows one:
# there the agent can take port 61161 (which real pages hard-code) even if another card-agent
# or HiCOS listens on it, and the test site can take port 443 (origins without a port, as on
# real sites). Elsewhere the tests run as they are (see README.md).
set -eu
cd "$(dirname "$0")"
if [ -z "${CARD_AGENT_TEST_NETNS:-}" ] && command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1; then
  flags=-n
  [ "$(id -u)" -eq 0 ] || flags=-rn
  if unshare $flags true 2>/dev/null; then
    exec unshare $flags env CARD_AGENT_TEST_NETNS=1 sh -c 'ip link set lo up && exec node --test --test-concurrency=1 "$@"' sh "$@"
  fi
fi
exec node --test --test-concurrency=1 "$@"
