"""ruff (lint and import order, configured in pyproject.toml) is clean over the code: part of the test command."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["detector", "dashboard", "pages", "tests", "scripts", "app.py"]


def _ruff() -> list[str]:
    beside = Path(sys.executable).with_name("ruff")  # the environment's own (requirements.txt pins it)
    found = str(beside) if beside.exists() else shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed: pip install -r requirements.txt")
    return [found]


def test_ruff_is_clean():
    done = subprocess.run([*_ruff(), "check", "--no-cache", *CHECKED], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
