"""Files and arguments from the wild: a picture's orientation, files larger than memory, formats
decided by content, names and text that are not UTF-8, and the arguments that slipped through."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.cli.main import main
from detector.errors import DataError, ModelError
from detector.inputs.uploads import read_picture, read_upload

NOT_UTF8 = os.fsdecode(b"caf\xe9")  # a Latin-1 name, as an old camera or a zip from Windows writes it


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def picture_bytes(image: Image.Image, kind: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


# ---------------------------------------------------------------- EXIF orientation
def test_a_sideways_phone_photo_is_read_upright(tmp_path):
    """Stored 40 wide and 20 tall with Orientation = 6 (turn 90 degrees clockwise): shown 20 wide, 40 tall,
    the bar stored at the left on top."""
    pixels = np.zeros((20, 40), np.uint8)
    pixels[:, :8] = 255  # a bar at the stored picture's left
    exif = Image.Exif()
    exif[0x0112] = 6
    data = picture_bytes(Image.fromarray(pixels), "JPEG", exif=exif, quality=95)
    image = read_picture(data, "phone.jpg")
    assert image.shape == (1, 1, 40, 20)
    assert image[0, 0, :8].mean() > 0.9 and image[0, 0, -8:].mean() < 0.1  # the bar is at the top
    from detector.data.folders import Pictures  # a folder's pictures go through the same reader

    (tmp_path / "phone.jpg").write_bytes(data)
    tensor, problem = Pictures([tmp_path / "phone.jpg"], (1, 40, 20))[0]
    assert problem == "" and tensor[0, :8].mean() > 0.9


# ---------------------------------------------------------------- sizes before reading
@pytest.mark.parametrize("kind", ["png", "npy"])
def test_check_refuses_a_terabyte_file_from_its_size_and_header(tmp_path, kind):
    """A 1 TB sparse file was read whole (MemoryError traceback); nothing beyond its header is read now."""
    from detector.cli.checks import read_inputs

    path = tmp_path / f"huge.{kind}"
    with open(path, "wb") as handle:
        if kind == "png":
            handle.write(picture_bytes(Image.new("L", (28, 28)), "PNG")[:33])  # signature and IHDR
        else:
            from numpy.lib import format as npy

            npy.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (2**38,)})
        handle.truncate(2**40)
    message = "no picture of at most 4096x4096 pixels is larger" if kind == "png" else "the limit is"
    with pytest.raises(DataError, match=message):
        read_inputs([str(path)], (1, 28, 28), None)


def test_check_reads_only_what_an_npy_header_announces(tmp_path):
    from detector.cli.checks import read_inputs

    path = tmp_path / "padded.npy"
    np.save(path, np.full((28, 28), 0.5, np.float32))
    with open(path, "r+b") as handle:
        handle.truncate(2**40)  # a terabyte of zeros after the array
    [(name, images)] = read_inputs([str(path)], (1, 28, 28), None)
    assert name == str(path) and images.shape == (1, 1, 28, 28) and np.allclose(images, 0.5)
    np.save(path, np.zeros((28, 28), np.float32))
    with open(path, "r+b") as handle:
        handle.truncate(200)  # cut inside the data
    with pytest.raises(DataError, match="truncated"):
        read_inputs([str(path)], (1, 28, 28), None)


# ---------------------------------------------------------------- formats by content
def _animated_png() -> bytes:
    frames = [Image.new("L", (28, 28), value) for value in (0, 255)]
    return picture_bytes(frames[0], "PNG", save_all=True, append_images=frames[1:])


@pytest.mark.parametrize("kind, refused", [("TIFF", "a TIFF file"), ("GIF", "a GIF file"), ("WEBP", "a WebP file"),
                                           ("BMP", "a BMP file"), ("APNG", "an animated PNG")])
def test_other_formats_renamed_png_are_refused_by_their_content(kind, refused):
    picture = Image.new("L", (28, 28), 128)
    data = _animated_png() if kind == "APNG" else picture_bytes(picture, kind)
    with pytest.raises(DataError, match=refused):
        read_upload("digit.png", data, (1, 28, 28))
    with pytest.raises(DataError, match=refused):
        read_picture(data, "digit.png")  # folders read through it too


def test_a_picture_is_read_whatever_its_name_says():
    picture = Image.new("L", (28, 28), 200)
    for name in ("scan.PNG", "scan.jpeg.png", "scan.npy"):  # JPEG content under other names
        images, _ = read_upload(name, picture_bytes(picture, "JPEG"), (1, 28, 28), invert=False, mnist_style=False)
        assert images.shape == (1, 1, 28, 28) and abs(float(images.mean()) - 200 / 255) < 0.02
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((28, 28), np.float32))
    images, notes = read_upload("ARRAY.NPY", buffer.getvalue(), (1, 28, 28))
    assert images.shape == (1, 1, 28, 28) and not any("inverted" in note for note in notes)


# ---------------------------------------------------------------- names and text that are not UTF-8
def test_a_binary_classes_txt_is_named_in_the_error(tmp_path):
    from detector.data.id_folders import class_order
    from tests.test_folders import write_class_folders

    write_class_folders(tmp_path, 1)
    (tmp_path / "classes.txt").write_bytes(b"\xff\xfe\x00binary\x00")
    with pytest.raises(DataError, match=r"classes\.txt: not UTF-8 text \(byte 0xff at offset 0\)"):
        class_order(tmp_path)


def test_a_binary_class_names_file_is_named_in_the_error(tmp_path, capsys):
    path = tmp_path / "names.txt"
    path.write_bytes(b"cat\n\xe9t\xe9\n")
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", "lenet-mnist", "--anomaly", "gaussian", "--class-names", str(path)])
    assert f"{path}: not UTF-8 text" in capsys.readouterr().err


def test_a_class_folder_whose_name_is_not_utf8_is_read(tmp_path):
    from detector.data.folders import FolderImages
    from detector.data.id_folders import folder_splits
    from tests.test_folders import write_class_folders

    write_class_folders(tmp_path, 30, classes=["cat", "dog", NOT_UTF8])
    splits = folder_splits(tmp_path, (3, 12, 12))
    assert NOT_UTF8 in splits["train"].classes
    assert len(splits["train"].images.content_hash()) == 20  # the cache key of its pictures
    assert isinstance(splits["test"].images, FolderImages) and splits["test"].images[0:2].shape == (2, 3, 12, 12)


def test_check_csv_holds_every_row_when_a_name_is_not_utf8(tmp_path, capsys):
    picture = Image.new("L", (28, 28), 0)
    picture.paste(255, (12, 4, 16, 24))
    name = tmp_path / f"{NOT_UTF8}.png"
    name.write_bytes(picture_bytes(picture, "PNG"))
    (tmp_path / "plain.png").write_bytes(picture_bytes(picture, "PNG"))
    out = tmp_path / "verdicts.csv"
    assert main(["check", "--model", "lenet-mnist", str(name), str(tmp_path / "plain.png"), "--csv", str(out)]) == 0
    rows = out.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 3 and rows[1].startswith(str(tmp_path / "caf\\xe9.png") + ",")
    assert "caf\\xe9.png" in capsys.readouterr().out


def test_printable_names_keep_one_line_and_valid_utf8():
    from detector.errors import printable

    assert printable(NOT_UTF8) == "caf\\xe9"
    assert printable("a\nb\x00c\x1b[31m") == "a\\nb\\x00c\\x1b[31m"
    assert printable("naïve ✓") == "naïve ✓"


# ---------------------------------------------------------------- arguments
USER_MODELS = """
import torch
import torch.nn as nn


def bad_shape():
    module = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    module.input_shape = "abc"
    return module


def one_class():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1))


class NaNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.ReLU())
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.body(x)) * float("nan")


def nan_outputs():
    return NaNNet()
"""


@pytest.fixture
def user_models(tmp_path) -> Path:
    path = tmp_path / "user_models.py"
    path.write_text(USER_MODELS)
    return path


@pytest.mark.parametrize("factory, message", [
    ("bad_shape", "input_shape must be three positive whole numbers .* got 'abc'"),
    ("one_class", "returns 1 logit.*at least 2 classes"),
])
def test_user_models_that_cannot_be_classifiers_are_refused_clearly(user_models, factory, message):
    from detector.models.classifiers import load_model

    with pytest.raises(ModelError, match=message):
        load_model(f"{user_models}:{factory}", None, "digits")


def test_a_model_that_outputs_nan_is_named_not_the_svm(user_models, digits):
    from detector.method.uniform import UniformDetector
    from detector.models.classifiers import load_model

    model = load_model(f"{user_models}:nan_outputs", None, "digits")
    with pytest.raises(ModelError, match="the model outputs NaN or infinite values"):
        UniformDetector(model).fit(digits["train"].images[:200], digits["val"].images[:100])


def test_an_anomaly_file_without_a_path_says_so(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", "lenet-mnist", "--anomaly-file", "x="])
    err = capsys.readouterr().err
    assert "--anomaly-file x=: the path is missing" in err and "unknown anomaly set" not in err


@pytest.mark.parametrize("beta", ["1e308,1e308", "1e-320,1e-320"])
def test_beta_on_a_scale_that_overflows_is_refused(beta, capsys):
    assert main(["evaluate", "--model", "lenet-mnist", "--anomaly", "gaussian", f"--beta={beta}"]) == 2
    assert "only their ratios matter" in one_error_line(capsys)


def test_a_projection_entry_without_its_arrays_is_recomputed(monkeypatch):
    from detector import cache
    from detector.evaluation import projection

    features = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    monkeypatch.setattr(projection, "fit_umap", lambda f, *args: np.ones((len(f), 2), np.float32))
    key = {"model": "crafted"}
    full = projection._key("umap", key, "relu1", features, 15, 0.1, 0)
    cache.entry("projections", full, code=projection.__name__).save({})  # the right key, no arrays
    xy = projection.project(features, key, "relu1", 15, 0.1)
    assert xy.shape == (30, 2) and (xy == 1).all()
    assert "xy" in cache.entry("projections", full, code=projection.__name__).load()  # stored again, whole
