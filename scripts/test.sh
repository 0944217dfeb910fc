#!/usr/bin/env bash
# The whole test suite: set-up, lint (ruff), types (mypy), then pytest on 2 workers.
set -euo pipefail
cd "$(dirname "$0")/.."
# graphviz, chromium and chromium-driver for the report's browser tests; fails when it cannot.
bash scripts/system-packages.sh --test
bash scripts/bootstrap.sh --test
.venv/bin/ruff check netanatomy tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 "$@"
