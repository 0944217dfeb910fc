#!/usr/bin/env bash
# The whole test suite: set-up, lint (ruff), types (mypy), then pytest on 2 workers; with no
# arguments, also the capture, analysis and torchvision tests on the other end of the supported
# torch range (2.14.1 with torchvision 0.29.1, in .venv-torch-next).
set -euo pipefail
cd "$(dirname "$0")/.."
# graphviz, chromium and chromium-driver for the report's browser tests; fails when it cannot.
bash scripts/system-packages.sh --test
bash scripts/bootstrap.sh --test
bash scripts/venv.sh core -r requirements/torch-cpu.txt -e .   # the light install (tests/test_light_install.py)
.venv/bin/ruff check netanatomy tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 "$@"
if [ $# -eq 0 ]; then
  bash scripts/venv.sh torch-next -r requirements/torch-next.txt -e ".[test,hf]"
  NETANATOMY_REQUIRE_TORCHVISION=1 .venv-torch-next/bin/python -m pytest -n 2 -p no:cacheprovider \
    tests/test_torch_private.py tests/test_meta_init.py tests/test_analysis_*.py tests/test_capture_*.py tests/test_torchvision_models.py
fi
