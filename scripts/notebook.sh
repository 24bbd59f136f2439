#!/usr/bin/env bash
# One command to set up (scripts/setup.sh) and open the tour of the method, docs/tour.ipynb, in
# JupyterLab on this machine only. Extra arguments go to jupyter lab, e.g. --ServerApp.port 8889.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "opening docs/tour.ipynb in JupyterLab (Run > Run All Cells; the LeNet ships trained: the first run only fits the detector and the projections, then caches them)"
ROOT_OK=(); [ "$(id -u)" -eq 0 ] && ROOT_OK=(--allow-root)  # containers often run as root
exec .venv/bin/jupyter lab docs/tour.ipynb --ServerApp.ip=127.0.0.1 "${ROOT_OK[@]}" "$@"
