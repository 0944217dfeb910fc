#!/usr/bin/env bash
# Debian packages that netanatomy needs outside Python, installed with apt-get when missing:
#   graphviz                 `dot` lays out the graph in `netanatomy report` pages
#   chromium chromium-driver the browser the report's tests drive (only with --test)
# Exit status 1 when something is missing and cannot be installed (CI fails rather than skips).
set -euo pipefail
need=()
command -v dot >/dev/null 2>&1 || need+=(graphviz)
if [ "${1:-}" = "--test" ]; then
  [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || need+=(chromium)
  [ -x /usr/bin/chromedriver ] || command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing ${need[*]} with apt-get" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if command -v apt-get >/dev/null 2>&1 && $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends "${need[@]}"; then
  exit 0
fi
echo "cannot install ${need[*]} (no apt-get, or it failed): install them by hand (macOS: brew install graphviz chromium chromedriver)" >&2
exit 1
