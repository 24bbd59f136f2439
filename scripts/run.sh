#!/usr/bin/env bash
# One command to set up (scripts/setup.sh: .venv, packages, Fashion-MNIST) and start the
# dashboard on the built-in default. Extra arguments go to streamlit, e.g. --server.port 8502.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "starting the dashboard (the first start trains LeNet on MNIST: about a minute)"
exec .venv/bin/python -m streamlit run app.py --browser.gatherUsageStats false --server.fileWatcherType none "$@"
