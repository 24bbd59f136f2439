#!/usr/bin/env bash
# One command to set up (scripts/setup.sh: .venv, packages, Fashion-MNIST) and start the
# dashboard on the built-in default (python -m dashboard: streamlit run app.py, with UMAP's JIT
# warmed and the first view preloaded in the background from the start; DASHBOARD_PRELOAD=0 skips
# the preload). Extra arguments go to streamlit, e.g. --server.port 8502.
# It listens on localhost only (.streamlit/config.toml); --server.address 0.0.0.0 exposes it.
# User models (file.py:factory) load only from the folder DASHBOARD_MODEL_DIR, when set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "starting the dashboard (the built-in networks ship trained; the first view fits the detector: about 20 s on 2 idle cores)"
exec .venv/bin/python -m dashboard --browser.gatherUsageStats false --server.fileWatcherType none "$@"
