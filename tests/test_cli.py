"""The command line: error paths on a tiny setup, and end-to-end runs on the real default."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from detector.cli.main import main
from detector.data.loading import load_dataset
from detector.models.training import train_classifier

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "fashion_model.py"


def run_cli(*args, cache_dir=None):
    env = None
    if cache_dir is not None:
        import os
        env = {**os.environ, "ANOMALY_CACHE_DIR": str(cache_dir)}
    return subprocess.run([sys.executable, "-m", "detector", *args], capture_output=True, text=True, cwd=ROOT, env=env)


@pytest.mark.parametrize("args, message", [
    (["layers", "--model", "resnet-imagenet"], "built-in models: lenet-mnist"),
    (["evaluate", "--model", "lenet-mnist", "--anomaly", "cifar100"], "valid names: mnist"),
    (["evaluate", "--model", "lenet-mnist", "--method", "magic", "--anomaly", "uniform"], "valid methods: ours"),
    (["evaluate", "--model", "lenet-mnist"], "at least one --anomaly"),
    (["evaluate", "--model", "nothere.py:make", "--id-dataset", "mnist", "--anomaly", "uniform"], "model file not found"),
])
def test_cli_errors_are_clear_and_exit_non_zero(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_rejects_bad_beta_format(capsys):
    with pytest.raises(SystemExit) as error:
        main(["evaluate", "--model", "lenet-mnist", "--beta", "1", "--anomaly", "uniform"])
    assert error.value.code != 0
    assert "two or three numbers" in capsys.readouterr().err


def test_corrupt_user_weights_are_reported(tmp_path, capsys):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not a checkpoint")
    assert main(["layers", "--model", f"{FIXTURE}:make", "--weights", str(weights), "--id-dataset", "fashion-mnist"]) == 2
    assert "cannot load weights" in capsys.readouterr().err


# ---------------------------------------------------------------- end to end, real default
@pytest.fixture(scope="module")
def session_cache(test_cache):
    """End-to-end runs share the session's cache folder, as a user's runs share cache/."""
    return test_cache


@pytest.mark.slow  # the whole pipeline on the real default, twice
def test_lenet_mnist_meets_the_paper_targets_and_reuses_the_cache(tmp_path, session_cache):
    args = ["evaluate", "--model", "lenet-mnist", "--method", "ours", "--anomaly", "fashion-mnist",
            "--anomaly", "gaussian", "--anomaly", "uniform", "--json"]
    first = run_cli(*args, str(tmp_path / "a.json"), cache_dir=session_cache)
    assert first.returncode == 0, first.stderr
    result = json.loads((tmp_path / "a.json").read_text())
    assert set(result) == {"model", "id_dataset", "test_accuracy", "mdl", "rows"}
    assert result["test_accuracy"] >= 0.97
    rows = {(r["anomaly"], r["weighting"]): r for r in result["rows"]}
    assert len(rows) == 6 and {r["kind"] for r in result["rows"]} == {"ood", "noise"}
    assert rows[("fashion-mnist", "per-class")]["auroc"] >= 99
    assert rows[("gaussian", "per-class")]["auroc"] >= 99.5
    assert rows[("uniform", "per-class")]["auroc"] >= 99.5

    cached = sorted(session_cache.rglob("*"))
    second = run_cli(*args, str(tmp_path / "b.json"), cache_dir=session_cache)
    assert second.returncode == 0, second.stderr
    assert json.loads((tmp_path / "b.json").read_text()) == result
    assert sorted(session_cache.rglob("*")) == cached  # all from the cache: nothing was computed again


@pytest.mark.slow  # trains a BatchNorm CNN
def test_user_model_with_batchnorm_trained_on_fashion_mnist(tmp_path):
    from tests.fixtures.fashion_model import make

    train = load_dataset("fashion-mnist", "train")
    torch.manual_seed(0)
    model = train_classifier(make(), train.images[:6000], train.labels[:6000], epochs=3, augment=False, progress=False)
    weights = tmp_path / "fashion.pt"
    torch.save(model.state_dict(), weights)
    out = tmp_path / "user.json"
    done = run_cli("evaluate", "--model", f"{FIXTURE}:make", "--weights", str(weights), "--id-dataset", "fashion-mnist",
                   "--anomaly", "mnist", "--anomaly", "uniform", "--train-limit", "5000", "--test-limit", "2000",
                   "--json", str(out),
                   cache_dir=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    assert "(train 5000, val 5000, test 2000)" in done.stdout
    result = json.loads(out.read_text())
    assert result["id_dataset"] == "fashion-mnist" and result["test_accuracy"] > 0.8
    rows = {(r["anomaly"], r["weighting"]): r for r in result["rows"]}
    assert rows[("mnist", "per-class")]["auroc"] > 90
    assert rows[("uniform", "per-class")]["auroc"] > 95


def test_layers_command_lists_the_lenet_layers(session_cache):
    done = run_cli("layers", "--model", "lenet-mnist", cache_dir=session_cache)
    assert done.returncode == 0, done.stderr
    assert "conv1" in done.stdout and "logits" in done.stdout and "(32, 26, 26)" in done.stdout


def test_anomalies_export_writes_a_loadable_npz(tmp_path, session_cache):
    out = tmp_path / "gauss.npz"
    done = run_cli("anomalies", "export", "gaussian", "--model", "lenet-mnist", "-o", str(out), cache_dir=session_cache)
    assert done.returncode == 0, done.stderr
    with np.load(out) as data:
        assert data["images"].shape == (1000, 1, 28, 28)


def test_check_judges_pictures_arrays_and_npz_and_writes_csv(tmp_path, session_cache):
    from PIL import Image

    test = load_dataset("mnist", "test")
    digits = test.images[:200]
    np.save(tmp_path / "digits.npy", digits)
    ink_on_paper = 255 - (digits[0, 0] * 255).astype(np.uint8)  # as a user draws it: dark on light, larger
    Image.fromarray(ink_on_paper).resize((140, 140)).save(tmp_path / "drawing.png")
    np.savez(tmp_path / "noise.npz", images=np.random.default_rng(0).random((5, 1, 28, 28), dtype=np.float32))
    files = [str(tmp_path / name) for name in ("drawing.png", "digits.npy", "noise.npz")]
    done = run_cli("check", "--model", "lenet-mnist", *files, "--csv", str(tmp_path / "v.csv"), cache_dir=session_cache)
    assert done.returncode == 0, done.stderr
    assert "drawing.png: inverted" in done.stderr and "resized from 140x140 to 28x28" in done.stderr
    import csv

    rows = list(csv.DictReader(open(tmp_path / "v.csv")))
    assert [row["file"].rsplit("/", 1)[-1] for row in rows] == ["drawing.png"] + ["digits.npy"] * 200 + ["noise.npz"] * 5
    drawing, digit_rows, noise_rows = rows[0], rows[1:201], rows[201:]
    assert int(drawing["predicted"]) == test.labels[0] and drawing["verdict"] == "normal"
    assert np.mean([int(row["predicted"]) for row in digit_rows] == test.labels[:200]) >= 0.95
    assert sum(row["verdict"] == "normal" for row in digit_rows) >= 180  # thresholds keep ~95 % of ID inputs
    assert all(row["verdict"] == "anomaly" for row in noise_rows)
    # judged by the default detector, named on the first line with its weights
    from detector.evaluation.judging import DEFAULT_METHOD

    head = done.stdout.splitlines()[0]
    assert head.startswith(f"detector {DEFAULT_METHOD} (the default; --method ours for the paper's detector)")
    weights = dict((term, float(b)) for b, term in re.findall(r"([\d.]+) \* (MDL|logit|confidence|kNN)", head))
    columns = {"MDL": "mdl_score", "logit": "logit_score", "confidence": "conf_score", "kNN": "knn_score"}
    for row in rows:  # the verdict is g < tau, g = the weighted sum of the terms
        g = sum(b * float(row[columns[term]]) for term, b in weights.items())
        assert abs(g - float(row["g"])) < 1e-3
        assert (row["verdict"] == "anomaly") == (float(row["g"]) < float(row["tau"]))
    assert f"{sum(row['verdict'] == 'anomaly' for row in rows)} of 206 inputs are anomalies" in done.stdout

    # the paper's detector is one option away, with its beta; --beta with the default is refused
    done = run_cli("check", "--model", "lenet-mnist", "--method", "ours", files[1], "--csv", str(tmp_path / "o.csv"),
                   cache_dir=session_cache)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("detector ours | MDL relu1 | nu 0.1 | anomaly when g = 0.5 * MDL + 0.5 * logit + "
                                  "0 * confidence")
    for row in csv.DictReader(open(tmp_path / "o.csv")):
        assert abs(0.5 * float(row["mdl_score"]) + 0.5 * float(row["logit_score"]) - float(row["g"])) < 1e-3
    done = run_cli("check", "--model", "lenet-mnist", "--beta", "0.2,0.8", files[1], cache_dir=session_cache)
    assert done.returncode == 2 and "--beta sets the paper's detector's weights: add --method ours" in done.stderr


def test_check_with_a_saved_detector_and_bad_files(tmp_path, session_cache, capsys, monkeypatch):
    from detector.evaluation.experiment import fit_uniform, load_experiment

    monkeypatch.setenv("ANOMALY_CACHE_DIR", str(session_cache))
    experiment = load_experiment("lenet-mnist")
    detector = fit_uniform(experiment, beta=(0.2, 0.8))  # cached by the test above (beta only sets thresholds)
    detector.save(tmp_path / "tuned.skops")
    np.save(tmp_path / "digits.npy", experiment.test.images[:10])
    done = run_cli("check", "--model", "lenet-mnist", "--detector", str(tmp_path / "tuned.skops"),
                   str(tmp_path / "digits.npy"), cache_dir=session_cache)
    assert done.returncode == 0, done.stderr
    assert "g = 0.2 * MDL + 0.8 * logit + 0 * confidence" in done.stdout.splitlines()[0]
    verdicts = [line.split()[-1] for line in done.stdout.splitlines() if line.startswith(str(tmp_path))]
    assert verdicts == ["anomaly" if flag else "normal" for flag in detector.predict(experiment.test.images[:10])]

    (tmp_path / "broken.png").write_bytes(b"not a picture")
    (tmp_path / "broken.skops").write_bytes(b"not a detector")
    for args, message in [([str(tmp_path / "missing.png")], "file not found"),
                          ([str(tmp_path / "broken.png")], "not a readable picture"),
                          (["--detector", str(tmp_path / "broken.skops"), str(tmp_path / "digits.npy")], "cannot load detector")]:
        assert main(["check", "--model", "lenet-mnist", *args]) == 2
        assert message in capsys.readouterr().err


def test_check_fits_drawings_like_mnist_unless_told_not_to(tmp_path, session_cache, capsys):
    from tests.drawn_digits import draw_digit

    files = []
    for digit in range(10):
        (tmp_path / f"d{digit}.png").write_bytes(draw_digit(digit, 18))
        files.append(str(tmp_path / f"d{digit}.png"))
    assert main(["check", "--model", "lenet-mnist", *files]) == 0
    fitted = capsys.readouterr()
    assert "MNIST-style: ink fitted into 20x20" in fitted.err
    assert main(["check", "--model", "lenet-mnist", "--no-mnist-style", *files]) == 0
    plain = capsys.readouterr()
    assert "MNIST-style" not in plain.err
    anomalies = [int(out.out.split(" of 10 inputs are anomalies")[0].rsplit("\n", 1)[-1]) for out in (fitted, plain)]
    assert anomalies[0] <= 3  # 2 of 10 when written
    # the flag changes what the model sees (without it, only the antialiased resize: 0 of 10 anomalies here)
    assert fitted.out.splitlines()[2:12] != plain.out.splitlines()[2:12]


def test_check_neighbours_says_why(tmp_path, session_cache, capsys):
    """Issue 28: ``check --neighbours 5`` prints the nearest training inputs, each term against its tau, the notes."""
    from tests.drawn_digits import draw_digit

    (tmp_path / "thin2.png").write_bytes(draw_digit(2, 6))
    assert main(["check", "--model", "lenet-mnist", "--neighbours", "5", str(tmp_path / "thin2.png")]) == 0
    out = capsys.readouterr().out
    why = out.split("why ", 1)[1]
    assert "predicted 2" in why and "its own tau" in why and "note: its stroke width" in why
    for space in ("relu1", "logits"):
        listed = why.split(f"in {space} (training index: distance, true class):\n", 1)[1].splitlines()[0]
        assert listed.count("#") == 5
    for bad in ("0", "-2", "x"):
        with pytest.raises(SystemExit):
            main(["check", "--model", "lenet-mnist", "--neighbours", bad, str(tmp_path / "thin2.png")])
    assert "positive whole number" in capsys.readouterr().err


def test_check_warns_when_the_model_is_near_chance(tmp_path, capsys, monkeypatch):
    """A user model without --weights is an untrained net: say so before anything is fitted."""
    import detector.evaluation.judging

    (tmp_path / "net.py").write_text("import torch\nimport torch.nn as nn\n\ndef make():\n    torch.manual_seed(0)\n"
                                     "    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))\n")
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 28, 28), np.float32))

    def stop(*args, **kwargs):
        raise RuntimeError("stopped before the fit")

    monkeypatch.setattr(detector.evaluation.judging, "fit_method", stop)
    assert main(["check", "--model", f"{tmp_path / 'net.py'}:make", "--id-dataset", "digits", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert "WARNING: test accuracy" in err and "is the model trained? pass --weights" in err and "stopped" in err


def test_layers_command_marks_a_resnets_blocks_and_candidates_choices_are_checked(tmp_path, capsys):
    (tmp_path / "net.py").write_text(
        "from detector.models.architectures import ResNet18\n\n"
        "def make():\n    net = ResNet18()\n    net.input_shape = (3, 32, 32)\n    return net\n")
    assert main(["layers", "--model", f"{tmp_path / 'net.py'}:make"]) == 0
    lines = capsys.readouterr().out.splitlines()
    marked = [line.split()[0] for line in lines if line.endswith(" *")]
    assert marked == [f"layer{stage}.{block}" for stage in range(1, 5) for block in range(2)]
    assert any(line.startswith("layer1.0.conv1 ") for line in lines)  # every layer is listed, unmarked
    assert all(" spatial mean " in line for line in lines if line.endswith(" *"))  # each with its reduction
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", "lenet-mnist", "--candidates", "some", "--anomaly", "uniform"])
    assert "choose from 'blocks', 'all'" in capsys.readouterr().err
