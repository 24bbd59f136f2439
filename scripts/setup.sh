#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine (idempotent, no downloads at run time):
# the virtual environment .venv with requirements.txt, and Debian's Fashion-MNIST files.
# With --browser it also installs Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  if command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
  else
    echo "apt-get not found: please install $* yourself" >&2
  fi
}

if [ ! -x .venv/bin/python ]; then
  echo "creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import torch, streamlit, sklearn, umap, torchattacks, art, pytorch_ood, skops, mlxtend, nbclient, ipywidgets, anywidget, vl_convert, jupyterlab, streamlit_drawable_canvas" 2>/dev/null \
   || [ requirements.txt -nt .venv/.installed ]; then
  echo "installing Python packages (first run: a few minutes)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  touch .venv/.installed
fi
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${FASHION_MNIST_DIR:-}" ]; then
  echo "installing Debian package dataset-fashion-mnist"
  apt_install dataset-fashion-mnist
fi
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian package chromium (browser tests)"
  apt_install chromium
fi
