"""Issue 12: faults and bad input as a hostile but honest user makes them.

Nothing is lost (a damaged checkpoint, a bad beta, duplicate names), nothing is decoded
before its size is checked, and every bad input ends in one ``error:`` line and exit code 2.
The numbered sections follow the issue.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn

from detector import cache
from detector.cli.main import main
from detector.errors import DataError
from detector.inputs.images import MAX_VALUES, load_image_file
from detector.inputs.uploads import read_upload
from detector.method.uniform import UniformDetector
from detector.method.verdicts import judge
from detector.models import checkpoints, classifiers as models

USER_MODEL = """
import torch.nn as nn


def make():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def other():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def broken():
    raise KeyError("weights_url")
"""


@pytest.fixture
def user_model(tmp_path) -> str:
    path = tmp_path / "user_net.py"
    path.write_text(USER_MODEL)
    return str(path)


@pytest.fixture
def no_experiment(monkeypatch):
    """Fail the test if a command gets as far as loading a model: it had to stop before."""
    def refuse(*_args, **_kwargs):
        pytest.fail("the command loaded the experiment before checking its arguments")

    monkeypatch.setattr("detector.evaluation.experiment.load_experiment", refuse)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def flip_bytes(path: Path, count: int = 400) -> None:
    """Invert ``count`` bytes in the middle of the file (inside the largest tensor of a checkpoint)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle: middle + count] = bytes(255 - b for b in data[middle: middle + count])
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------- 1. damaged checkpoints
class SmallNet(nn.Module):
    def __init__(self, in_channels: int = 1):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 784, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)


@pytest.fixture
def quick_builtin(monkeypatch):
    """A built-in entry that trains in a second, so that its cached checkpoint can be damaged."""
    monkeypatch.setitem(models.BUILTIN, "small-digits", models.Recipe(SmallNet, "digits", (1, 28, 28), epochs=1))
    return "small-digits"


def test_damaged_builtin_checkpoint_is_retrained_with_a_warning(quick_builtin, caplog):
    first = models.load_builtin(quick_builtin, progress=False)
    path = models.builtin_checkpoint_path(quick_builtin)
    digest = path.with_name(path.name + ".sha256")
    assert digest.read_text().strip() == checkpoints.digest(path)
    flip_bytes(path)
    with caplog.at_level(logging.WARNING):
        again = models.load_builtin(quick_builtin, progress=False)
    assert "does not match its SHA-256" in caplog.text and "retraining" in caplog.text
    assert again.weights_hash == first.weights_hash  # seeded training gives the same weights back
    assert digest.read_text().strip() == checkpoints.digest(path)


def test_checkpoint_cached_before_digests_is_adopted_when_its_crcs_pass(quick_builtin, caplog):
    models.load_builtin(quick_builtin, progress=False)
    path = models.builtin_checkpoint_path(quick_builtin)
    digest = path.with_name(path.name + ".sha256")
    digest.unlink()
    with caplog.at_level(logging.WARNING):
        models.load_builtin(quick_builtin, progress=False)
    assert not caplog.text and digest.exists()
    digest.unlink()
    flip_bytes(path)
    with caplog.at_level(logging.WARNING):
        models.load_builtin(quick_builtin, progress=False)
    assert "retraining" in caplog.text


def test_user_weights_with_a_bad_crc_get_a_clear_error(tmp_path, user_model, capsys):
    weights = tmp_path / "w.pt"
    torch.save(models.load_user_model(f"{user_model}:make", id_dataset="digits").module.state_dict(), weights)
    flip_bytes(weights)
    assert main(["layers", "--model", f"{user_model}:make", "--weights", str(weights), "--id-dataset", "digits"]) == 2
    assert "fails its CRC check" in one_error_line(capsys)


# ---------------------------------------------------------------- 2. one name, two sets
@pytest.mark.parametrize("sets", [
    ["--anomaly-file", "x=A.npz", "--anomaly-file", "x=B.npz"],
    ["--anomaly", "gaussian", "--anomaly-file", "gaussian=A.npz"],
])
def test_duplicate_anomaly_set_names_are_refused(sets, no_experiment, capsys):
    assert main(["evaluate", "--model", "lenet-mnist", *sets]) == 2
    assert "given more than once" in one_error_line(capsys)


def test_report_refuses_duplicate_names_too(tmp_path, no_experiment, capsys):
    assert main(["report", "--model", "lenet-mnist", "--anomalies", "uniform", "uniform", "-o", str(tmp_path / "r.md")]) == 2
    assert "given more than once: uniform" in one_error_line(capsys)


# ---------------------------------------------------------------- 3. a bad beta keeps the cache
@pytest.mark.parametrize("command", [["evaluate", "--anomaly", "gaussian"], ["check", "--method", "ours", "x.npy"]])
@pytest.mark.parametrize("value, message", [("--beta=0,0", "not all zero"),
                                            ("--nu=1.5", "'nu' parameter of UniformDetector must be")])
def test_bad_beta_or_nu_is_refused_before_the_cache_is_touched(command, value, message, no_experiment, capsys):
    assert main([command[0], "--model", "lenet-mnist", value, *command[1:]]) == 2
    assert message in one_error_line(capsys)


def test_a_bad_beta_does_not_delete_a_cached_detector(tiny_experiment, caplog):
    from detector.evaluation.experiment import fit_uniform

    fit_uniform(tiny_experiment, layer="features.4")
    saved = {path: path.stat().st_mtime_ns for path in (cache.cache_root() / "detectors").glob("*.skops")}
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError, match="not all zero"):
        fit_uniform(tiny_experiment, layer="features.4", beta=(0, 0))
    assert "refitting" not in caplog.text
    assert {path: path.stat().st_mtime_ns for path in saved} == saved


# ---------------------------------------------------------------- 4. judge takes what score_samples takes
@pytest.fixture  # function scope: fitted after conftest's tmp_cache, so that its features stay out of cache/
def tiny_detector(tiny_model, digits):
    return UniformDetector(tiny_model, layer="features.4").fit(digits["train"].images, digits["val"].images)


@pytest.mark.parametrize("convert", [
    lambda x: x.astype(np.float64),
    lambda x: (x > 0.5).astype(np.uint8),
    lambda x: np.ascontiguousarray(x[:, :, ::-1])[:, :, ::-1],  # negative strides
], ids=["float64", "uint8", "negative-strides"])
def test_judge_and_score_samples_take_any_real_dtype_and_strides(tiny_detector, digits, convert, tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_CACHE_DIR", str(tmp_path))  # features cached by content would hide a torch error
    images = convert(digits["test"].images[:20])
    reference = np.ascontiguousarray(images, dtype=np.float32)
    verdicts = judge(tiny_detector, images)
    assert [v.is_anomaly for v in verdicts] == [v.is_anomaly for v in judge(tiny_detector, reference)]
    np.testing.assert_allclose(tiny_detector.score_samples(images), tiny_detector.score_samples(reference))


# ---------------------------------------------------------------- 5. too few held-out inputs
def test_fit_with_too_few_validation_images_is_an_error(tiny_model, digits):
    with pytest.raises(ValueError, match="need at least min_samples=10 held-out validation images .* got 1"):
        UniformDetector(tiny_model, layer="features.4").fit(digits["train"].images, digits["val"].images[:1])


def test_classes_with_few_validation_inputs_are_named_in_a_warning(tiny_model, digits, caplog):
    with caplog.at_level(logging.WARNING):
        UniformDetector(tiny_model, layer="features.4").fit(digits["train"].images, digits["val"].images[:30])
    assert "fewer than 10 held-out validation inputs" in caplog.text and "pooled" in caplog.text


# ---------------------------------------------------------------- 6, 7. sizes from headers, before decoding
def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height grey pixels, with one small data chunk."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def test_huge_png_is_refused_from_its_header_without_decoding(monkeypatch):
    from PIL import ImageFile

    def no_decoding(self):
        pytest.fail("the picture was decoded before its size was checked")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(DataError, match="13300x13300 pixels; the largest accepted side is 4096"):
        read_upload("bomb.png", png_header(13300, 13300), (1, 28, 28))


def npy_header_only(shape, dtype="<f4") -> bytes:
    from numpy.lib import format as npy

    handle = io.BytesIO()
    npy.write_array_header_1_0(handle, {"descr": dtype, "fortran_order": False, "shape": shape})
    return handle.getvalue() + b"\0" * 64


@pytest.fixture
def no_array_loading(monkeypatch):
    def refuse(*_args, **_kwargs):
        pytest.fail("the array was loaded before its size was checked")

    monkeypatch.setattr(np, "load", refuse)


def test_huge_npz_is_refused_from_its_header(tmp_path, no_array_loading):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("images.npy", npy_header_only((1, 1, 2**14, 2**14)))
    with pytest.raises(DataError, match=f"268,435,456 values; the limit is {MAX_VALUES:,}"):
        load_image_file(path, (1, 28, 28))


def test_huge_npy_upload_is_refused_from_its_header(no_array_loading):
    with pytest.raises(DataError, match="268,435,456 values"):
        read_upload("bomb.npy", npy_header_only((2**14, 2**14)), (1, 28, 28))


def test_npy_of_objects_is_refused_from_its_header():
    with pytest.raises(DataError, match="holds Python objects"):
        read_upload("objects.npy", npy_header_only((28, 28), "|O"), (1, 28, 28))


# ---------------------------------------------------------------- one `error:` line, exit 2
def test_a_factory_raising_anything_is_one_error_line(user_model, capsys):
    assert main(["layers", "--model", f"{user_model}:broken", "--id-dataset", "digits"]) == 2
    assert "broken() failed: KeyError: 'weights_url'" in one_error_line(capsys)


def test_a_skops_file_missing_keys_is_one_error_line(tmp_path, user_model, capsys):
    import skops.io as sio

    from detector.method.persistence import FORMAT

    sio.dump({"format": FORMAT, "mdl": "1"}, tmp_path / "crafted.skops")
    np.save(tmp_path / "x.npy", np.zeros((28, 28), np.float32))
    assert main(["check", "--model", f"{user_model}:make", "--id-dataset", "digits",
                 "--detector", str(tmp_path / "crafted.skops"), str(tmp_path / "x.npy")]) == 2
    assert "cannot load detector" in (err := one_error_line(capsys)) and "lacks model_hash" in err


@pytest.mark.parametrize("args", [
    ["evaluate", "--model", "lenet-mnist", "--anomaly", "uniform", "--json", "{missing}/r.json"],
    ["check", "--model", "lenet-mnist", "x.npy", "--csv", "{missing}/v.csv"],
    ["anomalies", "export", "uniform", "--model", "lenet-mnist", "-o", "{missing}/u.npz"],
    ["report", "--model", "lenet-mnist", "-o", "{missing}/r.md"],
    ["anomalies", "show", "uniform", "--model", "lenet-mnist", "-o", "{missing}/g.png"],
], ids=["evaluate-json", "check-csv", "export", "report", "show"])
def test_output_into_a_missing_folder_fails_before_the_run(args, tmp_path, no_experiment, capsys):
    missing = tmp_path / "no-such-folder"
    assert main([arg.format(missing=missing) for arg in args]) == 2
    assert f"the folder {missing} does not exist" in one_error_line(capsys)


def npy_bytes(array: np.ndarray) -> bytes:
    handle = io.BytesIO()
    np.save(handle, array)
    return handle.getvalue()


@pytest.mark.parametrize("shape", [(28, 28, 4), (4, 28, 28), (2, 28, 28, 4)])
def test_rgba_arrays_are_called_rgba(shape, tmp_path):
    array = np.zeros(shape, np.uint8)
    with pytest.raises(DataError, match=r"4 channels \(RGBA\)"):
        read_upload("rgba.npy", npy_bytes(array), (1, 28, 28))
    np.savez(tmp_path / "rgba.npz", images=array[None] if array.ndim == 3 else array)  # .npz sets hold N images
    with pytest.raises(DataError, match=r"4 channels \(RGBA\)"):
        load_image_file(tmp_path / "rgba.npz", (1, 28, 28))


def test_integer_arrays_are_not_called_float():
    with pytest.raises(DataError, match=r"int64 array must lie in \[0, 1\]") as error:
        read_upload("ints.npy", npy_bytes(np.full((28, 28), 200, np.int64)), (1, 28, 28))
    assert "float" not in str(error.value)


def test_a_text_file_as_weights_is_named_for_what_it_is(tmp_path, user_model, capsys):
    (tmp_path / "notes.txt").write_text("epoch 1 loss 0.3\n")
    assert main(["layers", "--model", f"{user_model}:make", "--weights", str(tmp_path / "notes.txt"),
                 "--id-dataset", "digits"]) == 2
    assert "not a state_dict saved with torch.save" in one_error_line(capsys)


def test_a_state_dict_mismatch_lists_the_keys(tmp_path, user_model, capsys):
    weights = tmp_path / "other.pt"
    torch.save(models.load_user_model(f"{user_model}:other", id_dataset="digits").module.state_dict(), weights)
    assert main(["layers", "--model", f"{user_model}:make", "--weights", str(weights), "--id-dataset", "digits"]) == 2
    err = one_error_line(capsys)
    assert "missing keys: 3.bias, 3.weight" in err and "unexpected keys" not in err
    assert "other shapes: 1.bias (10,) in the file, (256,) in the model; 1.weight (10, 784) in the file" in err


def test_a_negative_beta_is_refused_by_its_check_not_by_argparse(no_experiment, capsys):
    assert main(["evaluate", "--model", "lenet-mnist", "--beta", "-1,2", "--anomaly", "uniform"]) == 2
    assert "beta must be non-negative numbers" in one_error_line(capsys)


def test_a_folder_is_called_a_folder(tmp_path, user_model, capsys):
    assert main(["check", "--model", f"{user_model}:make", "--id-dataset", "digits", "--detector", "unused.skops",
                 str(tmp_path)]) == 2
    assert f"file {tmp_path} is a folder; give a file" in one_error_line(capsys)


def test_show_count_zero_is_refused(tmp_path, no_experiment, capsys):
    assert main(["anomalies", "show", "uniform", "--model", "lenet-mnist", "-o", str(tmp_path / "g.png"),
                 "--count", "0"]) == 2
    assert "--count must be at least 1, got 0" in one_error_line(capsys)


def test_export_says_the_name_it_writes(tmp_path, monkeypatch, capsys):
    images = np.zeros((3, 1, 28, 28), np.float32)
    experiment = SimpleNamespace(anomaly=lambda name: SimpleNamespace(images=images))
    monkeypatch.setattr("detector.evaluation.experiment.load_experiment", lambda *args, **kwargs: experiment)
    assert main(["anomalies", "export", "uniform", "--model", "lenet-mnist", "-o", str(tmp_path / "x")]) == 0
    assert f"to {tmp_path / 'x.npz'}" in capsys.readouterr().out
    assert (tmp_path / "x.npz").exists() and not (tmp_path / "x").exists()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_cache_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        cache.Entry(tmp_path / "entry.npz", {"k": 1}).save({"x": np.arange(3)})
    finally:
        os.umask(old)
    assert (tmp_path / "entry.npz").stat().st_mode & 0o777 == mode


# ---------------------------------------------------------------- issue 23: outputs, special files, not NumPy
@pytest.mark.parametrize("blocked", ["r.csv", "r.json"])
def test_report_checks_the_csv_and_json_beside_it_before_the_run(blocked, tmp_path, no_experiment, capsys):
    """``report -o r.md`` ran the whole benchmark, then failed writing r.csv."""
    (tmp_path / blocked).mkdir()  # a folder where the file goes: unwritable, also for root
    assert main(["report", "--model", "lenet-mnist", "-o", str(tmp_path / "r.md")]) == 2
    assert f"output {tmp_path / blocked} is a folder" in one_error_line(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only file")
def test_a_read_only_output_file_is_refused_before_the_run(tmp_path, no_experiment, capsys):
    (tmp_path / "r.csv").write_text("")
    (tmp_path / "r.csv").chmod(0o444)
    assert main(["report", "--model", "lenet-mnist", "-o", str(tmp_path / "r.md")]) == 2
    assert f"cannot write {tmp_path / 'r.csv'}: the file is not writable" in one_error_line(capsys)


def test_report_output_named_csv_is_refused(tmp_path, no_experiment, capsys):
    """-o r.csv wrote the Markdown into r.csv, then the CSV over it."""
    assert main(["report", "--model", "lenet-mnist", "-o", str(tmp_path / "r.csv")]) == 2
    assert "give the Markdown file" in one_error_line(capsys)


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    return path


def test_a_fifo_or_a_device_is_named_for_what_it_is(fifo, no_experiment, capsys):
    """A FIFO given to check was "file not found" (reading it would have waited for a writer forever)."""
    assert main(["check", "--model", "lenet-mnist", str(fifo)]) == 2
    assert f"file {fifo} is not a regular file: it is a FIFO (named pipe)" in one_error_line(capsys)
    assert main(["check", "--model", "lenet-mnist", "/dev/zero"]) == 2
    assert "file /dev/zero is not a regular file: it is a character device" in one_error_line(capsys)


def test_special_inputs_are_refused_before_any_work(fifo, tmp_path, user_model, no_experiment, capsys, monkeypatch):
    """--detector and --anomaly-file are checked before a model is loaded (a built-in may be trained first)."""
    def refuse(*_args, **_kwargs):
        pytest.fail("the command loaded the model before checking its inputs")

    monkeypatch.setattr("detector.models.classifiers.load_model", refuse)
    np.save(tmp_path / "x.npy", np.zeros((28, 28), np.float32))
    assert main(["check", "--model", "lenet-mnist", "--detector", str(fifo), str(tmp_path / "x.npy")]) == 2
    assert f"detector file {fifo} is not a regular file: it is a FIFO" in one_error_line(capsys)
    for command in (["evaluate"], ["report", "-o", str(tmp_path / "r.md")]):
        assert main([*command, "--model", "lenet-mnist", "--anomaly-file", f"pipe={fifo}"]) == 2
        assert f"--anomaly-file pipe {fifo} is not a regular file: it is a FIFO" in one_error_line(capsys)
        assert main([*command, "--model", "lenet-mnist", "--anomaly-file", f"gone={tmp_path / 'gone.npz'}"]) == 2
        assert f"--anomaly-file gone not found: {tmp_path / 'gone.npz'}" in one_error_line(capsys)


def test_random_bytes_are_not_called_pickled_data(tmp_path):
    """np.load (allow_pickle=False) calls any bytes that are no .npy / .npz "pickled data"."""
    noise = np.random.default_rng(0).bytes(400)
    with pytest.raises(DataError, match=r"noise\.npy: not a readable picture or \.npy array") as error:  # by content
        read_upload("noise.npy", noise, (1, 28, 28))
    assert "pickle" not in str(error.value)
    (tmp_path / "noise.npz").write_bytes(noise)
    with pytest.raises(DataError, match=r"noise\.npz: not a NumPy \.npz file") as error:
        load_image_file(tmp_path / "noise.npz")
    assert "pickle" not in str(error.value)
    np.save(tmp_path / "array.npy", np.zeros((2, 28, 28), np.float32))
    (tmp_path / "array.npy").rename(tmp_path / "array.npz")  # a .npy under a .npz's name: said so
    with pytest.raises(DataError, match=r"not a NumPy \.npz file \(a \.npy array\)"):
        load_image_file(tmp_path / "array.npz")
