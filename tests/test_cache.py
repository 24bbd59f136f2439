import numpy as np
import pytest

from detector import cache


def test_cached_arrays_computes_once_and_keys_on_every_ingredient(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_CACHE_DIR", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"x": np.arange(3)}

    first = cache.cached_arrays("t", {"a": 1}, compute)
    second = cache.cached_arrays("t", {"a": 1}, compute)
    cache.cached_arrays("t", {"a": 2}, compute)
    assert len(calls) == 2
    np.testing.assert_array_equal(first["x"], second["x"])


def test_corrupt_cache_file_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_CACHE_DIR", str(tmp_path))
    cache.cached_arrays("t", {"k": 1}, lambda: {"x": np.ones(4)})
    path = cache.entry_path("t", {"k": 1})
    path.write_bytes(path.read_bytes()[:20])  # truncated, as after a crash in a non-atomic writer
    again = cache.cached_arrays("t", {"k": 1}, lambda: {"x": np.zeros(4)})
    np.testing.assert_array_equal(again["x"], np.zeros(4))
    assert cache.load_arrays(path) is not None


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
    b = a.copy(); b[0, 0] = 1
    assert cache.hash_array(a) != cache.hash_array(b)
