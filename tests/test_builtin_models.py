"""Built-in models: their training recipes, the small residual network's candidate layers and
the first-use estimate (issue 17). Training is tested on scikit-learn's digits, in seconds."""

import json
import logging

import numpy as np
import pytest
import torch

from detector import cache
from detector.evaluation.first_use import estimate_first_use
from detector.method.features import block_layers
from detector.models import checkpoints, classifiers as models, training
from detector.models.architectures import SmallResNet
from tests.test_app import few_points, navigation_pages  # noqa: F401  (AppTest fixtures)
from tests.test_hostile_input import SmallNet


@pytest.fixture
def quick_builtin(monkeypatch):
    """A built-in trained with the fast recipe's settings on digits (1,079 images), in a second."""
    recipe = models.Recipe(SmallNet, "digits", (1, 28, 28), epochs=2, batch_size=128, lr=3e-3,
                           schedule="one-cycle", augment="flip")
    monkeypatch.setitem(models.BUILTIN, "quick-digits", recipe)
    path = models.builtin_checkpoint_path("quick-digits")
    for stale in (path, path.with_name(path.name + ".sha256")):  # each test starts untrained
        stale.unlink(missing_ok=True)
    return "quick-digits"


def test_each_builtin_has_its_own_checkpoint_entry_versioned_by_the_training_code(monkeypatch):
    assert models.builtin_checkpoint_path("lenet-fashion-mnist") != models.builtin_checkpoint_path("resnet-fashion-mnist")
    before = models.builtin_checkpoint_path("lenet-mnist")
    code_hash = cache.code_hash
    monkeypatch.setattr(cache, "code_hash", lambda module: "edited" if module == models.__name__ else code_hash(module))
    assert models.builtin_checkpoint_path("lenet-mnist") != before


def test_one_cycle_training_learns_and_reports_every_step(digits):
    seen = []
    torch.manual_seed(0)
    module = training.train_classifier(SmallNet(), digits["train"].images, digits["train"].labels, epochs=3,
                                     batch_size=128, lr=3e-3, schedule="one-cycle", augment="none", progress=False,
                                     on_step=lambda done, total: seen.append((done, total)))
    total = 3 * len(digits["train"])
    assert seen[-1] == (total, total) and all(a[0] < b[0] for a, b in zip(seen, seen[1:]))
    with torch.no_grad():
        accuracy = (module(torch.from_numpy(digits["test"].images)).argmax(1).numpy() == digits["test"].labels).mean()
    assert accuracy > 0.8  # a broken schedule (lr stuck at 0 or diverging) stays near 0.1


def test_unknown_schedule_or_augmentation_is_refused(digits):
    for bad in ({"schedule": "step"}, {"augment": "mixup"}):
        with pytest.raises(ValueError, match="schedule|augment"):
            training.train_classifier(SmallNet(), digits["train"].images[:8], digits["train"].labels[:8], epochs=1,
                                    progress=False, **bad)


def test_flip_augmentation_mirrors_some_images_only():
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4).repeat(16, 1, 1, 1)
    out = training._augment(x, torch.Generator().manual_seed(0), "flip")
    flipped = [(o == i.flip(-1)).all().item() for o, i in zip(out, x)]
    kept = [(o == i).all().item() for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_small_resnet_candidates_are_its_block_outputs():
    torch.manual_seed(0)
    layers = block_layers(SmallResNet(blocks=2).eval(), (1, 28, 28))
    assert [layer.name for layer in layers] == [f"layer{s}.{b}" for s in (1, 2, 3) for b in (0, 1)] + ["logits"]
    assert [layer.feature_dim for layer in layers[:-1]] == [16, 16, 32, 32, 64, 64]


def test_estimate_says_what_happens_and_drops_training_once_trained(quick_builtin):
    before = estimate_first_use(quick_builtin)
    assert before.training_s > 0 and before.detector_s > 0 and before.train_images == 2 * 1079
    assert "digits" in before.describe() and "2,158 images" in before.describe()
    assert not models.builtin_is_trained(quick_builtin)
    steps = []
    models.load_builtin(quick_builtin, progress=False, on_step=lambda done, total: steps.append(done))
    assert models.builtin_is_trained(quick_builtin) and steps[-1] == 2 * 1079
    after = estimate_first_use(quick_builtin)
    assert after.training_s == 0 and "is trained" in after.describe()


def test_layers_page_estimate_grows_with_the_layers_and_says_how_long(tiny_experiment, monkeypatch):
    """Issue 28: the Layers page says how long its table takes before it starts (130 s once came unannounced).
    Each timed run is held at 10 ms, so that the scaling is tested, not the load of the machine."""
    from dashboard.views import layers_to_fit
    from detector.evaluation import first_use
    from detector.evaluation.first_use import estimate_layer_table

    monkeypatch.setattr(first_use, "_seconds", lambda run, repeat, warm_up=True: 0.01)
    from detector.method.uniform import UniformDetector

    detector = UniformDetector(tiny_experiment.model, candidates=["features.1", "features.4", "head.2"]).fit(
        tiny_experiment.train.images, tiny_experiment.val.images)
    layers = layers_to_fit(tiny_experiment, detector)
    assert [info.name for info in layers] == [n for n in ("features.1", "features.4", "head.2") if n != detector.mdl_]
    one, both = (estimate_layer_table(tiny_experiment, layers[:k], 500) for k in (1, 2))
    assert 0 < one.fit_s < both.fit_s and 0 < one.scoring_s < both.scoring_s
    assert both.layers == 2 and "each of 2 layers" in both.describe() and "about " in both.describe()


def test_a_recipes_fit_limit_is_the_default_training_subset(quick_builtin, monkeypatch):
    from detector.evaluation.experiment import load_experiment

    monkeypatch.setitem(models.BUILTIN, quick_builtin, models.BUILTIN[quick_builtin].__class__(
        **{**models.BUILTIN[quick_builtin].__dict__, "fit_limit": 500}))
    experiment = load_experiment(quick_builtin)
    assert len(experiment.train) == 500 and experiment.subset_of == {"train": 1079}
    assert len(load_experiment(quick_builtin, train_limit=5000).train) == 1079  # asked for more: all of them


def test_estimate_leaves_the_random_state_alone(quick_builtin):
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    estimate_first_use(quick_builtin)
    assert torch.equal(torch.rand(3), expected)
    assert np.isfinite(estimate_first_use(quick_builtin).total_s)


@pytest.mark.slow
def test_resnet_fashion_mnist_first_use_from_an_empty_cache(test_cache):
    """Issue 17's command on first use (on a seeded 2,000-image test subset to keep CI short; the
    README gives the full split): the shipped network is loaded, not trained, then fitted on its
    block outputs and evaluated."""
    from tests.test_cli import run_cli

    shipped = models.shipped_weights("resnet-fashion-mnist") is not None
    assert models.builtin_is_trained("resnet-fashion-mnist") == shipped  # nothing else in the suite trains it
    done = run_cli("evaluate", "--model", "resnet-fashion-mnist", "--method", "ours", "--anomaly", "mnist",
                   "--anomaly", "gaussian", "--anomaly", "fgsm", "--test-limit", "2000", cache_dir=test_cache)
    assert done.returncode == 0, done.stderr
    if shipped:
        assert "trains it" not in done.stderr
    else:
        assert "First use of resnet-fashion-mnist: trains it on fashion-mnist (220,000 images over 4 epochs" in done.stderr
    accuracy = float(done.stdout.split("test accuracy ")[1].split(" %")[0])
    assert accuracy >= 90.0, done.stdout
    mdl = done.stdout.split("MDL ")[1].split(" ")[0]
    assert mdl in ("layer1.0", "layer2.0", "layer3.0"), done.stdout
    assert "mix-set error per layer: layer1.0" in done.stdout
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("ours ")]
    auroc = {row[1]: float(row[5]) for row in rows if row[3] == "per-class"}
    assert set(auroc) == {"mnist", "gaussian", "fgsm"} and min(auroc.values()) > 70, done.stdout


@pytest.mark.slow
def test_layers_and_explore_pages_work_on_the_residual_network(navigation_pages, few_points):
    """After the test above trained it: the MDL is one of its three block outputs."""
    from tests.test_app import open_page, problems

    at = open_page("layers")
    at.selectbox(key="_model").set_value("resnet-fashion-mnist").run()
    assert not problems(at), problems(at)
    table = at.dataframe[0].value  # the block outputs (the candidates), the MDL among them marked
    assert set(table["layer"]) == {"layer1.0", "layer2.0", "layer3.0", "logits", "confidence"}
    assert list(table.loc[table["MDL"] == "★", "layer"]) in (["layer1.0"], ["layer2.0"], ["layer3.0"])
    at.switch_page("pages/explore.py").run()
    assert not problems(at), problems(at)


def test_shipped_weights_load_without_training_and_match_the_manifest(monkeypatch):
    monkeypatch.setattr(models, "train_builtin", lambda *a, **k: pytest.fail("a shipped model was trained"))
    for name, entry in models.shipped_manifest().items():
        assert models.BUILTIN[name].architecture.__name__ == entry["recipe"]["architecture"]
        assert models.load_builtin(name, progress=False).weights_hash == entry["weights_hash"]
    assert set(models.shipped_manifest()) == set(models.BUILTIN)


@pytest.mark.parametrize("damage", ["flipped", "missing", "other weights"])
def test_damaged_shipped_weights_fall_back_to_training_with_a_warning(tmp_path, monkeypatch, caplog, damage):
    monkeypatch.setitem(models.BUILTIN, "small-digits", models.Recipe(SmallNet, "digits", (1, 28, 28), epochs=1))
    trained = models.train_builtin("small-digits", progress=False)
    monkeypatch.setattr(models, "SHIPPED_DIR", tmp_path)
    monkeypatch.setattr(models, "SHIPPED_MANIFEST", tmp_path / "manifest.json")
    checkpoints.save_checkpoint(trained, tmp_path / "small-digits.pt")
    entry = {"file": "small-digits.pt", "sha256": checkpoints.digest(tmp_path / "small-digits.pt"),
             "weights_hash": models.weights_hash(trained)}
    (tmp_path / "manifest.json").write_text(json.dumps({"small-digits": entry}))
    assert models.shipped_weights("small-digits") == tmp_path / "small-digits.pt"
    if damage == "flipped":
        data = bytearray((tmp_path / "small-digits.pt").read_bytes())
        data[-100] ^= 0xFF
        (tmp_path / "small-digits.pt").write_bytes(bytes(data))
    elif damage == "missing":
        (tmp_path / "small-digits.pt").unlink()
    else:  # the file is the manifest's, its weights are not: the manifest's weights hash is checked too
        entry["weights_hash"] = "0" * 20
        (tmp_path / "manifest.json").write_text(json.dumps({"small-digits": entry}))
        assert "weights hash: expected 00000000000000000000, found " in models.shipped_problem("small-digits")
    cached = models.builtin_checkpoint_path("small-digits")
    for stale in (cached, cached.with_name(cached.name + ".sha256")):  # trained by another test: not the fallback
        stale.unlink(missing_ok=True)
    calls = []
    monkeypatch.setattr(models, "train_builtin", lambda *a, **k: calls.append(1) or trained)
    with caplog.at_level(logging.WARNING):
        models.load_builtin("small-digits", progress=False)
    assert calls == [1] and "small-digits instead" in caplog.text


def test_lenet_mnist_accuracy_is_the_same_with_one_and_two_threads():
    from detector.data.loading import load_dataset
    from detector.runtime import batched, model_device

    model = models.load_builtin("lenet-mnist", progress=False)
    test = load_dataset("mnist", "test")
    threads = torch.get_num_threads()
    predictions = []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            logits = batched(lambda x: model.module(x).cpu().numpy(), test.images, model_device(model.module))
            predictions.append(logits.argmax(1))
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(predictions[0], predictions[1])
    expected = models.shipped_manifest()["lenet-mnist"]["test_accuracy"]
    assert float((predictions[0] == test.labels).mean()) == pytest.approx(expected, abs=1e-6)
