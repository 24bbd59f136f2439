#!/usr/bin/env bash
# Builds the documentation site into site/ with every warning an error (mkdocs build --strict), or
# with `serve` serves it on http://127.0.0.1:8000 and rebuilds on change. Extra arguments go to
# mkdocs. Runs offline; sets up .venv first (scripts/setup.sh) when it lacks mkdocs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/mkdocs ] || bash scripts/setup.sh
# Material's notice about a future MkDocs release is advice to its maintainers, not about this site
export NO_MKDOCS_2_WARNING=1
if [ "${1:-}" = "serve" ]; then
  shift
  exec .venv/bin/mkdocs serve --strict --dev-addr 127.0.0.1:8000 "$@"
fi
exec .venv/bin/mkdocs build --strict --site-dir site "$@"
