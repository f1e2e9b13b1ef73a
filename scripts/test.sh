#!/usr/bin/env bash
# Install what the tests need and run lint, types, the import rule and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test

# PostgreSQL: start the local cluster if it is installed but not running (README, CI).
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    if ! pg_isready -q -h 127.0.0.1 -p 5432; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
        for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    fi
else
    echo "PostgreSQL is not installed here: its tests will say so and skip (they must run in CI)."
fi

# Browser tests use Debian's Chromium; install it where we may (root), otherwise they skip.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "could not install chromium: browser tests will skip outside CI"
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy bot handlers nlp storage
.venv/bin/python -m pytest "$@"
