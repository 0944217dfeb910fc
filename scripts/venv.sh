#!/usr/bin/env bash
# Set up the side environment .venv-NAME with `pip install ARGS...`, idempotently (as bootstrap.sh):
#   bash scripts/venv.sh torch-next -r requirements/torch-next.txt -e ".[test,hf]"  # the torch range's high end
#   bash scripts/venv.sh core -r requirements/torch-cpu.txt -e .                  # the light install
# A second run with nothing changed returns at once; prints how long a (re)build took.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1; shift
python=${PYTHON:-python3}
venv=".venv-${name}"
stamp="${venv}/.netanatomy-installed"
want=$( (cat pyproject.toml requirements/*.txt; echo "$*") | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  start=$SECONDS
  [ -x "${venv}/bin/python" ] || "$python" -m venv "$venv"
  "${venv}/bin/python" -m pip install --disable-pip-version-check -q "$@"
  echo "$want" > "$stamp"
  echo "scripts/venv.sh: ${venv} built in $((SECONDS - start)) s"
fi
