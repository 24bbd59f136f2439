"""Adversarial and fooling generators on a tiny CNN trained here on sklearn's digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from detector.anomalies import adversarial, attacks
from detector.anomalies.adversarial import cached_adversarial, generate_adversarial
from detector.anomalies.attack_params import attack_params
from detector.anomalies.attacks import ATTACKS
from detector.anomalies.fooling import cached_fooling, generate_fooling
from detector.anomalies.grid import save_grid

N_ATTACK = 40


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.fc = nn.Linear(16 * 5 * 5, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: tiny models gain nothing from two, and on a shared, busy CPU
    two threads per process make the many small ART/torch calls crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits(one_thread):
    """(model, test images, test labels): 28x28 digits, a CNN trained in ~2 s."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.tensor(data.target, dtype=torch.long)
    torch.manual_seed(0)
    model = TinyCNN()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    train_x, train_y = x[:1500], y[:1500]
    for _ in range(10):
        for i in torch.randperm(len(train_x)).split(64):
            optimiser.zero_grad()
            F.cross_entropy(model(train_x[i]), train_y[i]).backward()
            optimiser.step()
    model.eval()
    test_x, test_y = x[1500:].numpy(), y[1500:].numpy()
    assert (attacks.predict(model, test_x) == test_y).mean() > 0.85
    return model, test_x[:N_ATTACK], test_y[:N_ATTACK]


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ANOMALY_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


# Cheaper CW for the tiny model; every other attack runs with its defaults.
FAST = {"cw": {"steps": 30}}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_fools_within_budget(digits, name):
    model, x, y = digits
    result = generate_adversarial(name, model, x, y, batch_size=20, progress=False, params=FAST.get(name))
    params = attack_params(name, x.shape[1:], **FAST.get(name, {}))
    assert result.params == params
    assert result.success_rate >= 0.6  # "most": JSMA is the weakest here (~67 %)
    assert len(result) == len(result.source_index) >= 0.6 * result.n_attacked
    assert result.images.dtype == np.float32 and result.images.shape[1:] == x.shape[1:]
    assert result.images.min() >= 0 and result.images.max() <= 1
    # Every kept example really is misclassified, and its source was classified correctly.
    assert (attacks.predict(model, result.images) != result.labels).all()
    assert (result.labels == y[result.source_index]).all()
    assert (result.predictions == attacks.predict(model, result.images)).all()
    delta = np.abs(result.images - x[result.source_index]).reshape(len(result), -1)
    if "eps" in params:
        assert delta.max() <= params["eps"] + 1e-6
    if name == "jsma":  # at most a fraction gamma of the pixels changed
        assert ((delta > 1e-6).mean(axis=1) <= params["gamma"] + 2 / delta.shape[1]).all()
    assert result.mean_linf == pytest.approx(delta.max(axis=1).mean(), rel=1e-4)


def test_attack_class_interface(digits):
    model, x, y = digits
    model.train()
    adversarial = ATTACKS["fgsm"](model, eps=0.1)(torch.from_numpy(x), torch.from_numpy(y))
    assert model.training, "the attack restores the model's mode"
    assert all(p.requires_grad for p in model.parameters())
    model.eval()
    assert adversarial.shape == x.shape and adversarial.dtype == torch.float32
    assert (adversarial - torch.from_numpy(x)).abs().max() <= 0.1 + 1e-6


def test_bim_a_stops_at_first_success(digits):
    model, x, y = digits
    a = generate_adversarial("bim-a", model, x, y, progress=False)
    b = generate_adversarial("bim-b", model, x, y, progress=False)
    assert a.mean_l2 < b.mean_l2 and a.mean_linf <= b.mean_linf
    # BIM-a keeps each input at its first fooling iterate: inputs that a 10-step BIM
    # already fools must have been stopped within 10 steps of size 0.01.
    ten = attacks.BIMb(model, eps=0.4, alpha=0.01, steps=10)(torch.from_numpy(x), torch.from_numpy(y))
    fooled_by_ten = np.flatnonzero(attacks.predict(model, ten.numpy()) != y)
    both = np.intersect1d(fooled_by_ten, a.source_index)
    assert len(both) > 0
    linf_a = dict(zip(a.source_index, np.abs(a.images - x[a.source_index]).reshape(len(a), -1).max(1)))
    assert all(linf_a[i] <= 10 * 0.01 + 1e-6 for i in both)


def test_low_success_rate_raises(digits):
    model, x, y = digits
    with pytest.raises(RuntimeError, match="fooled the model on only"):
        generate_adversarial("fgsm", model, x, y, progress=False, params={"eps": 1e-4})


def test_unknown_parameter_or_attack(digits):
    with pytest.raises(KeyError):
        attack_params("fgsm", (1, 28, 28), epsilon=0.1)
    with pytest.raises(KeyError):
        attack_params("deepfool", (1, 28, 28))
    assert attack_params("fgsm", (3, 32, 32))["eps"] == 0.05
    assert attack_params("bim-b", (3, 32, 32), dataset="svhn")["eps"] == 0.13


def test_cache_keyed_on_params(digits, tmp_cache, monkeypatch):
    model, x, y = digits
    calls = []
    real = adversarial.generate_adversarial

    def counting(*args, **kw):
        calls.append(kw.get("params"))
        return real(*args, **kw)

    monkeypatch.setattr(adversarial, "generate_adversarial", counting)
    first = cached_adversarial("fgsm", model, "model-a", x, y, progress=False)
    again = cached_adversarial("fgsm", model, "model-a", x, y, progress=False)
    assert len(calls) == 1 and not first.cached and again.cached
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.source_index, again.source_index)
    assert (again.success_rate, again.mean_l2, again.params) == (first.success_rate, first.mean_l2, first.params)
    assert len(list((tmp_cache / "adversarial").glob("*.npz"))) == 1

    cached_adversarial("fgsm", model, "model-a", x, y, progress=False, params={"eps": 0.3})
    cached_adversarial("fgsm", model, "model-b", x, y, progress=False)
    cached_adversarial("fgsm", model, "model-a", x[:-1], y[:-1], progress=False)
    assert len(calls) == 4
    assert len(list((tmp_cache / "adversarial").glob("*.npz"))) == 4


def test_fooling_raises_confidence_and_is_seeded(digits, tmp_cache):
    model, _, _ = digits
    kw = dict(max_generations=25, progress=False)
    first = generate_fooling(model, 20, (1, 28, 28), 10, seed=1, **kw)
    assert first.images.shape == (20, 1, 28, 28) and first.images.dtype == np.float32
    assert first.images.min() >= 0 and first.images.max() <= 1
    assert set(first.target_class) == set(range(10))
    # The model's own verdict matches the recorded confidence.
    with torch.no_grad():
        prob = torch.softmax(model(torch.from_numpy(first.images)), 1).numpy()
    np.testing.assert_allclose(prob[np.arange(20), first.target_class], first.confidence, rtol=1e-3, atol=1e-6)
    assert (first.reached == (first.confidence >= 0.9999)).all()
    assert len(first.confident_images()) == first.reached.sum()

    # Starting noise (generation 0 only) is far less confident.
    start = generate_fooling(model, 20, (1, 28, 28), 10, seed=1, max_generations=0, progress=False)
    assert first.confidence.mean() > start.confidence.mean() + 0.1
    assert (first.confidence >= start.confidence).all()

    again = generate_fooling(model, 20, (1, 28, 28), 10, seed=1, **kw)
    np.testing.assert_array_equal(first.images, again.images)
    other = generate_fooling(model, 20, (1, 28, 28), 10, seed=2, **kw)
    assert not np.array_equal(first.images, other.images)

    cached = cached_fooling(model, "m", 20, (1, 28, 28), 10, seed=1, **kw)
    loaded = cached_fooling(model, "m", 20, (1, 28, 28), 10, seed=1, **kw)
    assert not cached.cached and loaded.cached
    np.testing.assert_array_equal(cached.images, first.images)
    np.testing.assert_array_equal(loaded.images, first.images)
    cached_fooling(model, "m", 20, (1, 28, 28), 10, seed=1, max_generations=20, progress=False)
    assert len(list((tmp_cache / "fooling").glob("*.npz"))) == 2


def test_save_grid_writes_png(tmp_path, digits):
    from PIL import Image

    _, x, _ = digits
    path = save_grid(x[:12], [f"pred {i} (99.9%)" for i in range(12)], tmp_path / "sub" / "grid.png", ncols=5)
    image = Image.open(path)
    assert image.format == "PNG" and image.size[0] > 5 * 28 and image.size[1] > 3 * 28
    rgb = np.random.default_rng(0).random((3, 3, 32, 32)).astype(np.float32)
    save_grid(rgb, ["a", "b", "c"], tmp_path / "rgb.png")
    with pytest.raises(ValueError):
        save_grid(x[:3], ["only one"], tmp_path / "bad.png")
