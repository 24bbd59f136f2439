"""The command line: error paths on a tiny setup, and end-to-end runs on the real default."""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from detector.cli import main
from detector.data import load_dataset
from detector.models import train_classifier

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
    assert "two numbers" in capsys.readouterr().err


def test_corrupt_user_weights_are_reported(tmp_path, capsys):
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not a checkpoint")
    assert main(["layers", "--model", f"{FIXTURE}:make", "--weights", str(weights), "--id-dataset", "fashion-mnist"]) == 2
    assert "cannot load weights" in capsys.readouterr().err


# ---------------------------------------------------------------- end to end, real default
@pytest.fixture(scope="module")
def project_cache():
    """End-to-end tests use the project's own cache/, as a user's runs do."""
    return ROOT / "cache"


def test_lenet_mnist_meets_the_paper_targets_and_reuses_the_cache(tmp_path, project_cache):
    args = ["evaluate", "--model", "lenet-mnist", "--method", "ours", "--anomaly", "fashion-mnist",
            "--anomaly", "gaussian", "--anomaly", "uniform", "--json"]
    started = time.time()
    first = run_cli(*args, str(tmp_path / "a.json"), cache_dir=project_cache)
    cold = time.time() - started
    assert first.returncode == 0, first.stderr
    result = json.loads((tmp_path / "a.json").read_text())
    assert set(result) == {"model", "id_dataset", "test_accuracy", "mdl", "rows"}
    assert result["test_accuracy"] >= 0.97
    rows = {(r["anomaly"], r["weighting"]): r for r in result["rows"]}
    assert len(rows) == 6 and {r["kind"] for r in result["rows"]} == {"ood", "noise"}
    assert rows[("fashion-mnist", "per-class")]["auroc"] >= 99
    assert rows[("gaussian", "per-class")]["auroc"] >= 99.5
    assert rows[("uniform", "per-class")]["auroc"] >= 99.5

    started = time.time()
    second = run_cli(*args, str(tmp_path / "b.json"), cache_dir=project_cache)
    warm = time.time() - started
    assert second.returncode == 0, second.stderr
    assert json.loads((tmp_path / "b.json").read_text()) == result
    assert warm < cold or warm < 15  # cold includes training when the cache is empty


def test_user_model_with_batchnorm_trained_on_fashion_mnist(tmp_path):
    from tests.fixtures.fashion_model import make

    train = load_dataset("fashion-mnist", "train")
    torch.manual_seed(0)
    model = train_classifier(make(), train.images[:6000], train.labels[:6000], epochs=3, augment=False, progress=False)
    weights = tmp_path / "fashion.pt"
    torch.save(model.state_dict(), weights)
    out = tmp_path / "user.json"
    done = run_cli("evaluate", "--model", f"{FIXTURE}:make", "--weights", str(weights), "--id-dataset", "fashion-mnist",
                   "--anomaly", "mnist", "--anomaly", "uniform", "--train-limit", "5000", "--json", str(out),
                   cache_dir=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["id_dataset"] == "fashion-mnist" and result["test_accuracy"] > 0.8
    rows = {(r["anomaly"], r["weighting"]): r for r in result["rows"]}
    assert rows[("mnist", "per-class")]["auroc"] > 90
    assert rows[("uniform", "per-class")]["auroc"] > 95


def test_layers_command_lists_the_lenet_layers(project_cache):
    done = run_cli("layers", "--model", "lenet-mnist", cache_dir=project_cache)
    assert done.returncode == 0, done.stderr
    assert "conv1" in done.stdout and "logits" in done.stdout and "(32, 26, 26)" in done.stdout


def test_anomalies_export_writes_a_loadable_npz(tmp_path, project_cache):
    out = tmp_path / "gauss.npz"
    done = run_cli("anomalies", "export", "gaussian", "--model", "lenet-mnist", "-o", str(out), cache_dir=project_cache)
    assert done.returncode == 0, done.stderr
    with np.load(out) as data:
        assert data["images"].shape == (1000, 1, 28, 28)
