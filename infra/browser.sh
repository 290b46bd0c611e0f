#!/usr/bin/env bash
# Install the browser the console's tests drive: Debian's Chromium (headless), idempotently. Playwright, the tests'
# driver, is pointed at it (tests/e2e/console/conftest.py) and downloads no browser of its own.
#
#   infra/browser.sh        (as root when Chromium is missing; CHROMIUM overrides the path the tests use)
set -euo pipefail
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  printf '[browser] error: %s is missing; install Debian'"'"'s chromium package (as root: apt-get install chromium)\n' \
    "$CHROMIUM" >&2
  exit 1
fi
printf '[browser] apt-get install chromium\n' >&2
DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
[ -x "$CHROMIUM" ] || { printf '[browser] error: chromium installed, but %s is not there\n' "$CHROMIUM" >&2; exit 1; }
printf '[browser] %s\n' "$("$CHROMIUM" --version 2>/dev/null || echo installed)" >&2
