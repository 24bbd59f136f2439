"""A folder of pictures as an anomaly set (``--anomaly-file NAME=FOLDER``)."""

import numpy as np
import pytest
from PIL import Image

from detector import folders
from detector.benchmark import run_benchmark
from detector.data import DataError
from detector.folders import load_image_folder


@pytest.fixture
def picture_folder(tmp_path):
    """Six pictures of several sizes and modes, one in a sub-folder, and a file that is no picture."""
    rng = np.random.default_rng(0)
    (tmp_path / "more").mkdir()
    for k, (size, mode) in enumerate([((40, 40), "RGB"), ((28, 28), "L"), ((64, 48), "RGBA"), ((30, 30), "P"),
                                      ((100, 100), "RGB"), ((28, 28), "L")]):
        channels = {"RGB": 3, "RGBA": 4, "L": 1, "P": 1}[mode]
        pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8).squeeze()
        picture = Image.fromarray(pixels, "RGBA" if mode == "RGBA" else ("RGB" if channels == 3 else "L"))
        picture = picture.convert("P") if mode == "P" else picture
        picture.save(tmp_path / ("more" if k == 5 else "") / f"p{k}.{'jpg' if k == 4 else 'png'}")
    (tmp_path / "notes.txt").write_text("not a picture")
    return tmp_path


@pytest.mark.parametrize("workers", [0, 2])
def test_every_picture_in_the_model_input_shape(picture_folder, workers):
    images = load_image_folder(picture_folder, (1, 28, 28), workers=workers)
    assert images.shape == (6, 1, 28, 28) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1 and images.std() > 0.1  # random pixels, not blank
    # p1.png, a 28x28 grey picture, is kept pixel for pixel (sorted paths: more/p5.png, p0.png, p1.png, ...)
    original = np.asarray(Image.open(picture_folder / "p1.png"), dtype=np.float32) / 255
    np.testing.assert_allclose(images[2, 0], original, atol=1e-6)
    assert load_image_folder(picture_folder, (3, 32, 32), workers=workers).shape == (6, 3, 32, 32)


def test_bad_folders_say_what_is_wrong(picture_folder, tmp_path_factory, monkeypatch):
    with pytest.raises(DataError, match="image folder not found"):
        load_image_folder(picture_folder / "nope", (1, 28, 28))
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(DataError, match="no PNG or JPEG"):
        load_image_folder(empty, (1, 28, 28))
    (picture_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    for workers in (0, 2):  # the file is named, also when a worker process read it
        with pytest.raises(DataError, match=r"broken\.png: not a readable picture"):
            load_image_folder(picture_folder, (1, 28, 28), workers=workers)
    monkeypatch.setattr(folders, "MAX_VALUES", 28 * 28 * 3)
    with pytest.raises(DataError, match="split the folder"):
        load_image_folder(picture_folder, (1, 28, 28))


def test_a_folder_is_an_anomaly_set_of_the_benchmark(tiny_experiment, picture_folder):
    bench = run_benchmark(tiny_experiment, ["msp"], [], anomaly_files=[("pictures", str(picture_folder))],
                          echo=lambda _: None)
    assert {(row.anomaly, row.kind) for row in bench.rows} == {("pictures", "file")}
    assert all(0 <= row.auroc <= 100 for row in bench.rows)
