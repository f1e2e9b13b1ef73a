#!/usr/bin/env bash
# Create .venv and install the project (and extras given as $1, e.g. "test"); idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "complaintbot needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
extras=${1:-}
target="."
[ -n "$extras" ] && target=".[$extras]"
# A stamp of pyproject.toml skips the resolver when nothing changed since the last install.
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)-${extras:-base}"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # compat mode puts the checkout itself on sys.path, so packages and data files added
    # after the install are seen without reinstalling.
    .venv/bin/python -m pip install --quiet -e "$target" --config-settings editable_mode=compat
    touch "$stamp"
fi
