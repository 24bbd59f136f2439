#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine (idempotent, no downloads at run time):
# the virtual environment .venv with requirements.txt and the project itself (editable), and
# Debian's Fashion-MNIST files.
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
# .venv/.installed holds the SHA-256 of the requirements.txt last installed: packages are installed
# again only when that file changed (an import check of streamlit_drawable_canvas fails outside a
# Streamlit server, so it reinstalled on every start)
wanted=$(sha256sum requirements.txt | cut -d" " -f1)
if [ "$(cat .venv/.installed 2>/dev/null)" != "$wanted" ]; then
  echo "installing Python packages (first run: a few minutes)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$wanted" > .venv/.installed
fi
# the project itself, editable (pyproject.toml): `python -m detector`, `uniform-detector` and
# `uniform-dashboard` then work from any folder and run this checkout's code. Redone when
# pyproject.toml changes or the install points at another checkout; --no-build-isolation uses the
# pinned setuptools above instead of downloading one
project=$(cat pyproject.toml setup.py | sha256sum | cut -d" " -f1)
if [ "$(cat .venv/.project 2>/dev/null)" != "$project $PWD" ]; then
  echo "installing the project into .venv (editable)"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  echo "$project $PWD" > .venv/.project
fi
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${FASHION_MNIST_DIR:-}" ]; then
  echo "installing Debian package dataset-fashion-mnist"
  apt_install dataset-fashion-mnist
fi
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian package chromium (browser tests)"
  apt_install chromium
fi
