#!/usr/bin/env bash
# Run complaintbot on the embedded default: SQLite under data/, web chat, no credentials.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/complaintbot serve "$@"
