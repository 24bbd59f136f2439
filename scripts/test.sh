#!/usr/bin/env bash
# Sets up the project (scripts/setup.sh) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
