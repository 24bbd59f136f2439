"""One model serves every session: a method that needs another mode, dropout, hooks or a trace must not
change what another thread computes with it at the same time."""

from __future__ import annotations

import threading

import numpy as np
import torch

from detector.anomalies.attacks import FGSM, predict
from detector.baselines.kd_bu import mc_dropout_uncertainty
from detector.method.features import extract
from detector.models.architectures import LeNet

LAYERS = ["fc1", "relu3", "logits"]  # after LeNet's first dropout: dropout on changes all of them


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    module = LeNet().eval()
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def _run_beside(module, work, rounds: int = 4):
    """Run ``work()`` in a thread, over and over, while this thread extracts features ``rounds`` times;
    return each extraction and each result of ``work`` (re-raising what either thread raised)."""
    images = np.random.default_rng(0).random((400, 1, 28, 28), dtype=np.float32)
    done, started, errors, results = threading.Event(), threading.Event(), [], []

    def other():
        try:
            while True:
                started.set()
                results.append(work())
                if done.is_set():
                    break
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
            started.set()

    thread = threading.Thread(target=other)
    thread.start()
    started.wait()
    extractions = []
    try:
        for _ in range(rounds):
            extractions.append(extract(module, images, LAYERS, batch_size=50))
    finally:
        done.set()
        thread.join()
    if errors:
        raise errors[0]
    return images, extractions, results


def test_mc_dropout_and_attacks_beside_extraction_change_nothing_of_it():
    module = _model()
    probe = np.random.default_rng(1).random((60, 1, 28, 28), dtype=np.float32)
    labels = predict(module, probe)
    solo_bu = mc_dropout_uncertainty(module, probe, samples=5)
    solo_fgsm = FGSM(module, eps=0.1)(torch.from_numpy(probe), torch.from_numpy(labels)).numpy()
    assert solo_bu.std() > 0  # the dropout is on in its passes

    def bu_then_fgsm():
        bu = mc_dropout_uncertainty(module, probe, samples=5)
        fgsm = FGSM(module, eps=0.1)(torch.from_numpy(probe), torch.from_numpy(labels)).numpy()
        return bu, fgsm

    images, extractions, results = _run_beside(module, bu_then_fgsm)
    solo = extract(module, images, LAYERS, batch_size=50)
    for features in extractions:
        for name in LAYERS:
            np.testing.assert_array_equal(features[name], solo[name], err_msg=name)
    for bu, fgsm in results:  # and the other way round: extraction beside them leaves their numbers alone
        np.testing.assert_array_equal(bu, solo_bu)
        np.testing.assert_array_equal(fgsm, solo_fgsm)
    assert not any(m.training for m in module.modules())
    assert not any(p.requires_grad for p in module.parameters())


def test_mc_dropout_leaves_the_global_random_state_alone():
    module = _model()
    torch.manual_seed(123)
    expected = torch.rand(5)
    torch.manual_seed(123)
    first = mc_dropout_uncertainty(module, np.random.default_rng(2).random((20, 1, 28, 28), dtype=np.float32), samples=4)
    np.testing.assert_array_equal(torch.rand(5).numpy(), expected.numpy())
    torch.rand(100)  # another caller's draws do not change its numbers either
    again = mc_dropout_uncertainty(module, np.random.default_rng(2).random((20, 1, 28, 28), dtype=np.float32), samples=4)
    np.testing.assert_array_equal(first, again)



# ---------------------------------------------------------------- the model's code in the cache keys
MODEL_FILE = '''
import torch
import torch.nn as nn


class Net(nn.Module):
    input_shape = (1, 28, 28)

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.net({inputs})


def make():
    torch.manual_seed(0)
    return Net()
'''


def _user_model(path, inputs: str):
    from detector.models.classifiers import load_user_model

    path.write_text(MODEL_FILE.format(inputs=inputs))
    return load_user_model(f"{path}:make")


def test_a_changed_forward_with_the_same_class_and_weights_gets_new_features_and_attacks(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from detector.anomalies import load_anomaly
    from detector.anomalies.adversarial import generate_adversarial
    from detector.data.datasets import Dataset
    from detector.method.features import FeatureExtractor

    monkeypatch.setenv("ANOMALY_CACHE_DIR", str(tmp_path / "cache"))
    images = np.random.default_rng(4).random((300, 1, 28, 28), dtype=np.float32)
    old = _user_model(tmp_path / "net.py", "x")
    new = _user_model(tmp_path / "net.py", "x * 0.8")  # the same file, edited: same class, same weights
    assert new.weights_hash == old.weights_hash and new.fingerprint != old.fingerprint
    # inputs both versions classify alike, labelled so: the attacked set and its key's data are the same
    agree = predict(old.module, images) == predict(new.module, images)
    images = images[agree]
    labels = predict(old.module, images)

    for model in (old, new):  # old first: its entries are in the cache when the new version asks
        features = FeatureExtractor(model).features(images, ["net.1", "logits"])
        fresh = extract(model.module, images, ["net.1", "logits"])
        for name in fresh:
            np.testing.assert_array_equal(features[name], fresh[name], err_msg=name)
        experiment = SimpleNamespace(model=model, test=Dataset("probe", "test", images, labels), bars=False,
                                     id_dataset=None)
        attacked = load_anomaly("fgsm", experiment).images
        np.testing.assert_array_equal(attacked, generate_adversarial("fgsm", model.module, images, labels,
                                                                     progress=False).images)


def test_the_fingerprint_sees_an_edited_builtin_forward_and_changes_nothing(monkeypatch):
    from detector.models.architectures import LeNet
    from detector.models.classifiers import prepare_classifier
    from detector.models.fingerprint import fingerprint

    before = prepare_classifier("lenet", _model(), (1, 28, 28), "mnist")
    original = LeNet.forward
    monkeypatch.setattr(LeNet, "forward", lambda self, x: original(self, x.clamp(0.1, 1)))
    after = prepare_classifier("lenet", _model(), (1, 28, 28), "mnist")
    assert after.weights_hash == before.weights_hash and after.fingerprint != before.fingerprint

    module = _model().train()  # neither its mode nor torch's random state moves
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    assert fingerprint(module, (1, 28, 28), "w") == fingerprint(module, (1, 28, 28), "w")
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())
    assert all(m.training for m in module.modules())


def test_a_private_copy_shares_the_weights_but_not_their_gradient_flags():
    """A method that asks for gradients on its copy (an attack's input gradient) must neither switch the
    shared weights' requires_grad nor accumulate .grad on them, whatever another thread does meanwhile."""
    from detector.runtime import private_copy

    module = _model().requires_grad_(True)
    private = private_copy(module)
    for shared, own in zip(module.parameters(), private.parameters()):
        assert own.data_ptr() == shared.data_ptr()  # no copy of the weights
        assert shared.requires_grad and not own.requires_grad
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    private(x).sum().backward()
    assert x.grad is not None and all(p.grad is None for p in module.parameters())
