#!/usr/bin/env bash
# One command to set up and start the dashboard on a fresh clone (no internet needed beyond
# the package registries): creates .venv if missing and installs requirements.txt, installs
# Debian's dataset-fashion-mnist when /usr/share/datasets/fashion-mnist is missing, then runs
# `streamlit run app.py`. Extra arguments go to streamlit, e.g. --server.port 8502.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  python3 -m venv .venv
fi
if [ ! -e .venv/.installed ] || [ requirements.txt -nt .venv/.installed ]; then
  echo "installing Python packages (first run: a few minutes)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  touch .venv/.installed
fi
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -z "${FASHION_MNIST_DIR:-}" ]; then
  if command -v apt-get >/dev/null; then
    echo "installing Debian package dataset-fashion-mnist"
    $SUDO apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "Fashion-MNIST missing: install dataset-fashion-mnist or set FASHION_MNIST_DIR" >&2
  fi
fi
echo "starting the dashboard (the first start trains LeNet on MNIST: about a minute)"
exec .venv/bin/python -m streamlit run app.py --browser.gatherUsageStats false --server.fileWatcherType none "$@"
