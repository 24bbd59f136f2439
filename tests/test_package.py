"""The project as a package: pyproject.toml's wheel, an installed copy run from elsewhere, where the
cache goes, and the dashboard's entry found without a checkout."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from dashboard import app_files
from detector import cache

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "detector" / "models" / "weights"


def test_pyproject_pins_torch_and_mirrors_the_runtime_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                  if "==" in line and not line.startswith("#"))
    for requirement in project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                                   for r in extra if "==" in r]:
        name, version = requirement.split("==")
        assert pinned.get(name) == version, f"{requirement} differs from requirements.txt"
    assert "torch==2.14.1" in project["dependencies"] and "torchvision==0.29.1" in project["dependencies"]
    assert set(project["scripts"].values()) == {"detector.cli.main:main", "dashboard.__main__:main"}
    assert {"dashboard", "notebook", "docs", "dev"} <= set(project["optional-dependencies"])


def test_cache_is_the_checkouts_folder_in_a_checkout_and_the_users_cache_folder_installed(monkeypatch, tmp_path):
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    assert cache.default_cache_dir() == ROOT / "cache"  # this checkout: pyproject.toml beside detector/
    installed = tmp_path / "site-packages" / "detector"
    installed.mkdir(parents=True)
    monkeypatch.setattr(cache, "PACKAGE_DIR", installed)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    assert cache.default_cache_dir() == tmp_path / "user-cache" / "uniform-anomaly-detection"
    assert cache.cache_root() == tmp_path / "user-cache" / "uniform-anomaly-detection"
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "mine"))
    assert cache.cache_root() == tmp_path / "mine"  # the variable still wins


def test_dashboard_finds_its_app_in_a_checkout_and_in_an_installed_copy(monkeypatch, tmp_path):
    assert app_files.app_dir() == ROOT
    monkeypatch.setattr(app_files, "PACKAGE", tmp_path / "site-packages" / "dashboard")
    assert app_files.app_dir() == app_files.SHIPPED  # no app.py beside the package: the copy inside it
    flags = app_files.config_flags(ROOT)
    assert "--server.address=localhost" in flags and "--browser.gatherUsageStats=false" in flags
    assert app_files.config_flags(tmp_path) == []  # no settings file: Streamlit's defaults


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.mark.slow  # builds a wheel, installs it and evaluates the LeNet: about a minute on 2 cores
def test_wheel_holds_the_weights_and_runs_installed_from_another_folder_without_writing_into_itself(tmp_path):
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)],
                   cwd=ROOT, check=True, timeout=600)
    [wheel] = wheels.glob("uniform_anomaly_detection-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    manifest = json.loads((WEIGHTS / "manifest.json").read_text())
    with zipfile.ZipFile(wheel) as archive:
        for name, entry in manifest.items():
            shipped = f"detector/models/weights/{entry['file']}"
            assert hashlib.sha256(archive.read(shipped)).hexdigest() == entry["sha256"], name
    assert {"dashboard/_app/app.py", "dashboard/_app/pages/start.py", "dashboard/_app/.streamlit/config.toml"} <= names
    assert not any(name.startswith(("tests/", "scripts/", "cache/")) for name in names)

    target, elsewhere, home = tmp_path / "target", tmp_path / "elsewhere", tmp_path / "home"
    elsewhere.mkdir()
    subprocess.run([*pip, "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True, timeout=600)
    assert (target / "bin" / "uniform-detector").is_file() and (target / "bin" / "uniform-dashboard").is_file()
    before = _files(target)

    env = {key: value for key, value in os.environ.items() if key not in ("ANOMALY_CACHE_DIR", "PYTHONPATH")}
    env.update(PYTHONPATH=str(target), HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), OMP_NUM_THREADS="2")
    where = subprocess.run([sys.executable, "-c", "import detector, dashboard.app_files as a; "
                            "print(detector.__file__); print(a.app_dir())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    module, app = where.stdout.split()
    assert Path(module).is_relative_to(target) and Path(app) == target / "dashboard" / "_app"

    run = subprocess.run([sys.executable, "-m", "detector", "evaluate", "--model", "lenet-mnist",
                          "--anomaly", "gaussian", "--test-limit", "200"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "test accuracy" in run.stdout and "ours" in run.stdout
    assert "training" not in run.stderr.lower()  # the shipped weights load; nothing is trained
    assert _files(target) == before  # nothing written inside the installed package
    assert any((home / ".cache" / "uniform-anomaly-detection").iterdir())  # the cache went to the user's folder
    assert list(elsewhere.iterdir()) == []
