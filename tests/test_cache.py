import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from detector import cache

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_cached_arrays_computes_once_and_keys_on_every_ingredient(cache_dir):
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3)}

    first = cache.cached_arrays("t", {"a": 1}, compute, code="detector.cache")
    second = cache.cached_arrays("t", {"a": 1}, compute, code="detector.cache")
    cache.cached_arrays("t", {"a": 2}, compute, code="detector.cache")
    cache.cached_arrays("t", {"a": 1}, compute, code="detector.runtime")  # another producer
    assert len(calls) == 3
    np.testing.assert_array_equal(first["x"], second["x"])


def test_corrupt_cache_file_is_recomputed(cache_dir):
    cache.cached_arrays("t", {"k": 1}, lambda: {"x": np.ones(4)}, code="detector.cache")
    entry = cache.entry("t", {"k": 1}, code="detector.cache")
    entry.path.write_bytes(entry.path.read_bytes()[:20])  # truncated, as after a crash in a non-atomic writer
    again = cache.cached_arrays("t", {"k": 1}, lambda: {"x": np.zeros(4)}, code="detector.cache")
    np.testing.assert_array_equal(again["x"], np.zeros(4))
    assert entry.load() is not None


def test_an_entry_copied_over_another_is_a_miss_with_one_warning(cache_dir, caplog):
    one = cache.entry("t", {"layer": "conv1"}, code="detector.cache")
    two = cache.entry("t", {"layer": "relu1"}, code="detector.cache")
    one.save({"x": np.ones(3)})
    shutil.copy(one.path, two.path)  # a valid file, under the other entry's name
    with caplog.at_level(logging.WARNING, logger="detector.cache"):
        assert two.load() is None and two.load() is None
    assert sum("holds another entry" in r.getMessage() for r in caplog.records) == 1
    fresh = cache.cached_arrays("t", {"layer": "relu1"}, lambda: {"x": np.zeros(3)}, code="detector.cache")
    np.testing.assert_array_equal(fresh["x"], np.zeros(3))
    np.testing.assert_array_equal(two.load()["x"], np.zeros(3))


def test_an_entry_without_its_arrays_or_key_is_a_miss(cache_dir):
    entry = cache.entry("projections", {"what": "umap"}, code="detector.cache")
    np.savez(entry.path, other=np.ones(2))  # a valid .npz that is not an entry (no key, no "xy")
    assert entry.load() is None
    xy = cache.cached_arrays("projections", {"what": "umap"}, lambda: {"xy": np.ones((2, 2))}, code="detector.cache")
    assert xy["xy"].shape == (2, 2)


def test_orphan_temporary_files_older_than_a_day_are_removed_on_start(cache_dir):
    folder = cache_dir / "features"
    folder.mkdir()
    old, new = folder / ".a.npz.1234.tmp", folder / ".b.npz.5678.tmp"
    for path in (old, new):
        path.write_bytes(b"half")
    day_ago = time.time() - cache.ORPHAN_SECONDS - 60
    os.utime(old, (day_ago, day_ago))
    cache._remove_orphans.cache_clear()
    cache.cache_root()
    assert not old.exists() and new.exists()  # a fresh one may belong to a write in progress


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.bin"

    def failing(tmp):
        open(tmp, "wb").write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        cache.atomic_write(target, failing)
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_hash_array_sees_content_dtype_and_shape():
    a = np.zeros((2, 3), np.float32)
    assert cache.hash_array(a) == cache.hash_array(a.copy())
    assert cache.hash_array(a) != cache.hash_array(a.reshape(3, 2))
    assert cache.hash_array(a) != cache.hash_array(a.astype(np.float64))
    b = a.copy()
    b[0, 0] = 1
    assert cache.hash_array(a) != cache.hash_array(b)


@pytest.fixture
def fresh_code_hashes():
    def clear():
        for function in (cache._package_sources, cache._imports, cache.code_hash):
            function.cache_clear()
    clear()
    yield clear
    clear()


def test_code_hash_follows_imports_found_in_the_source(tmp_path, monkeypatch, fresh_code_hashes):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    files = {"__init__.py": "from .top import run\n", "top.py": "import numpy\nfrom .sub import deep\n",
             "sub/__init__.py": "", "sub/deep.py": "def f():\n    from ..helper import x\n",
             "helper.py": "x = 1\n", "unrelated.py": "y = 2\n"}
    for name, text in files.items():
        (package / name).write_text(text)
    monkeypatch.setattr(cache, "PACKAGE_DIR", package)

    before = cache.code_hash("pkg.top")
    (package / "unrelated.py").write_text("y = 3\n")
    fresh_code_hashes()
    assert cache.code_hash("pkg.top") == before
    (package / "helper.py").write_text("x = 2\n")  # imported inside a function, two levels down
    fresh_code_hashes()
    assert cache.code_hash("pkg.top") != before
    assert cache._imports("pkg.top") == (frozenset({"pkg.sub.deep"}), frozenset({"numpy"}))
    with pytest.raises(ValueError, match="not a module"):
        cache.code_hash("pkg.missing")


RUN = """
import json, sys
import torch, torch.nn as nn
from detector.evaluation.benchmark import run_benchmark
from detector.data.loading import load_dataset
from detector.evaluation.experiment import Experiment, fit_uniform
from detector.models.classifiers import prepare_classifier

torch.manual_seed(0)
module = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(), nn.Linear(144, 10))
model = prepare_classifier("t", module, (1, 28, 28), "digits")
splits = [load_dataset("digits", split) for split in ("train", "val", "test")]
experiment = Experiment(model, "digits", *splits)
rows = run_benchmark(experiment, ["msp"], ["gaussian"], echo=lambda _: None).rows
detector = fit_uniform(experiment, layer="0")
print(json.dumps({"msp": [row.auroc for row in rows],
                  "ours": detector.score_samples(splits[2].images[:50]).tolist()}))
"""


def _numbers(project: Path, cache_folder: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(project), "ANOMALY_CACHE_DIR": str(cache_folder)}
    done = subprocess.run([sys.executable, "-c", RUN], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_code_change_changes_the_numbers_on_a_warm_cache_as_on_an_empty_one(tmp_path):
    """A copy of the project, its cache warmed, then MSP's max turned into a min and the channel mean
    of conv maps into a max (in reductions.py, which features.py imports): the warm cache must give what an
    empty one gives (issue 23)."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "detector", project / "detector", ignore=shutil.ignore_patterns("__pycache__"))
    warm = tmp_path / "warm"
    before = _numbers(project, warm)
    assert _numbers(project, warm) == before  # warm and unchanged: the same numbers
    for path, old, new in [("baselines/msp.py", "axis=1).max(1)", "axis=1).min(1)"),
                           ("method/reductions.py", "return output.mean(dim=(2, 3))", "return output.amax(dim=(2, 3))")]:
        file = project / "detector" / path
        assert old in file.read_text(), f"{path} no longer holds {old!r}: update this test"
        file.write_text(file.read_text().replace(old, new))
    after_warm = _numbers(project, warm)
    after_cold = _numbers(project, tmp_path / "empty")
    assert after_warm == after_cold
    assert after_warm["msp"] != before["msp"] and after_warm["ours"] != before["ours"]


def test_random_bytes_are_called_not_an_npz_file(cache_dir, caplog):
    entry = cache.entry("t", {"k": "random"}, code="detector.cache")
    entry.path.write_bytes(np.random.default_rng(0).bytes(300))
    with caplog.at_level(logging.WARNING, logger="detector.cache"):
        assert entry.load() is None
    assert "not a NumPy .npz file" in caplog.text and "pickled" not in caplog.text
    assert not entry.path.exists()
