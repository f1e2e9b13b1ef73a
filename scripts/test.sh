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

# Browser tests use Debian's Chromium, and Chinese text needs a CJK font (the report's
# charts too); install them where we may (root), otherwise those tests skip outside CI.
need=""
[ -x /usr/bin/chromium ] || need="$need chromium"
fc-list :lang=zh 2>/dev/null | grep -q . || need="$need fonts-noto-cjk"
if [ -n "$need" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages for the browser tests:$need"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null) \
        || echo "could not install$need: browser tests will skip outside CI"
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy bot handlers nlp storage
.venv/bin/python -m pytest "$@"
