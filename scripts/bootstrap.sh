#!/usr/bin/env bash
# Set up .venv with netanatomy and every extra ([all]; add --test for the test tools).
# Idempotent: a second run with nothing changed returns in a fraction of a second.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
extras="[all]"
if [ "${1:-}" = "--test" ]; then extras="[all,test]"; fi
# Graphviz for `netanatomy report` (the analyzer works without it, so only a warning here).
bash scripts/system-packages.sh || echo "warning: without Graphviz's dot, netanatomy report cannot draw graphs" >&2
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.netanatomy-installed${extras}"
want=$(cat pyproject.toml requirements/torch-cpu.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements/torch-cpu.txt -e ".${extras}"
  echo "$want" > "$stamp"
fi
