#!/usr/bin/env bash
# Debian's Chromium for the studio's real-browser tests (Playwright drives it; `playwright install`
# is never run: it downloads a browser from outside the package registries).
# Exits 0 without a browser where it cannot install one (not root, no apt): the browser tests then skip,
# unless K15_REQUIRE_BROWSER=1 (set by .ci/run), which makes them fail instead.
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(command -v chromium)"; exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "warning: chromium is missing and this user cannot install it (apt-get install chromium); browser tests will skip" >&2; exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "warning: no apt-get here; install Chromium yourself for the browser tests" >&2; exit 0
fi
echo "installing Debian's chromium for the browser tests"
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null \
  || echo "warning: apt-get install chromium failed; browser tests will skip" >&2
exit 0
