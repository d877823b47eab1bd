#!/usr/bin/env bash
# Debian's PostgreSQL server for the run store's tests on PostgreSQL: tests/conftest.py starts one throwaway server
# per test run from its binaries (tools/pg_server.py: initdb in a temporary folder, a Unix socket, as the `postgres`
# user the package creates when the tests run as root). The package's own cluster is not used.
# Exits 0 without a server where it cannot install one (not root, no apt): the PostgreSQL tests then skip,
# unless K15_REQUIRE_POSTGRES=1 (set by .ci/run), which makes them fail instead.
set -uo pipefail
found=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | head -n 1)
[ -z "$found" ] && [ -n "${K15_PG_BIN:-}" ] && [ -x "$K15_PG_BIN/initdb" ] && found="$K15_PG_BIN/initdb"
[ -z "$found" ] && found=$(command -v initdb 2>/dev/null)
if [ -n "$found" ]; then
  echo "PostgreSQL server already installed: $(dirname "$found")"; exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "warning: the PostgreSQL server is missing and this user cannot install it (apt-get install postgresql); its tests will skip" >&2; exit 0
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "warning: no apt-get here; install a PostgreSQL server yourself (or set K15_PG_BIN to its bin folder) for the store's PostgreSQL tests" >&2; exit 0
fi
echo "installing Debian's postgresql for the run store's tests"
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null \
  || echo "warning: apt-get install postgresql failed; the store's PostgreSQL tests will skip" >&2
exit 0
