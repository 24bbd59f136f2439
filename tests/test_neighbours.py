"""ours+knn (issue 27): the uniform detector with a k-NN term, on the tiny digits CNN; and the
generated look-alike sets."""

import numpy as np
import pytest

from detector.anomalies import anomaly_kinds, report_kind
from detector.anomalies.lookalikes import distorted_images, generated_lookalikes, rendered_letters
from detector.baselines.posthoc_features import KNN
from detector.evaluation.benchmark import METHODS, fit_method, run_benchmark
from detector.evaluation.experiment import Experiment, fit_uniform
from detector.evaluation.ours import OursKNN, fit_uniform_knn
from detector.method.features import LOGITS
from detector.method.neighbours import KNN_KS, UniformKNNDetector, penultimate_layer
from detector.method.scores import LayerScores, check_beta, simplex_grid
from detector.method.uniform import UniformDetector

LAYER = "features.4"  # a fixed MDL: no mix-set search, fast


@pytest.fixture(scope="module")
def fitted(tiny_model, digits):
    return UniformKNNDetector(tiny_model, layer=LAYER, k=5).fit(digits["train"].images, digits["val"].images)


def test_the_knn_term_is_pytorch_oods_knn_score(fitted, tiny_experiment, digits, noise):
    assert fitted.penultimate_ == penultimate_layer(fitted.extractor) == "head.2"  # the final Linear's input
    images = np.concatenate([digits["test"].images[:50], noise[:50]])
    feats = fitted.extractor.features(images, fitted._scored_layers(), cached=False)
    raw = fitted._raw_scores(feats, feats[LOGITS].argmax(1))
    np.testing.assert_allclose(raw[:, 3], KNN(k=5).fit(tiny_experiment).score_samples(images), rtol=1e-5, atol=1e-6)
    scores = fitted.layer_scores(images)
    assert scores.n_terms == 4 and scores.knn.mean() > -1 and np.median(scores.knn[:50]) > np.median(scores.knn[50:])
    # normalised per predicted class on validation ID: its own range is [0, 1]
    val = fitted.val_scores_.knn
    for i in np.unique(fitted.val_predicted_):
        rows = val[fitted.val_predicted_ == i]
        if len(rows) >= fitted.min_samples:
            assert rows.min() == pytest.approx(0) and rows.max() == pytest.approx(1)


def test_from_detector_equals_a_fresh_fit(fitted, tiny_model, digits):
    base = fit_uniform(Experiment(tiny_model, "digits", digits["train"], digits["val"], digits["test"]), layer=LAYER)
    rebuilt = UniformKNNDetector.from_detector(base, digits["train"].images, digits["val"].images, k=5)
    np.testing.assert_allclose(rebuilt.norm_min_, fitted.norm_min_)
    np.testing.assert_allclose(rebuilt.norm_max_, fitted.norm_max_)
    images = digits["test"].images[:100]
    np.testing.assert_allclose(rebuilt.score_samples(images), fitted.score_samples(images))
    np.testing.assert_allclose(rebuilt.norm_min_[:, :3], base.norm_min_)  # the three terms stay ours+conf's


def test_the_four_term_detector_saves_and_loads(fitted, tiny_model, digits, tmp_path):
    """The k-NN term's training features go into the file and its KNN is rebuilt from them; a file of
    the plain detector is refused as a four-term one, and the reverse."""
    path = tmp_path / "knn.skops"
    fitted.with_beta((0.1, 0.2, 0.3, 0.4)).save(path)
    loaded = UniformKNNDetector.load(path, tiny_model)
    assert loaded.get_params() == {**fitted.get_params(), "beta": (0.1, 0.2, 0.3, 0.4)}
    images = np.concatenate([digits["test"].images[:60], np.random.default_rng(0).uniform(size=(20, 1, 28, 28))])
    images = images.astype(np.float32)
    np.testing.assert_allclose(loaded.score_samples(images), fitted.with_beta((0.1, 0.2, 0.3, 0.4)).score_samples(images))
    np.testing.assert_array_equal(loaded.thresholds_, fitted.with_beta((0.1, 0.2, 0.3, 0.4)).thresholds_)
    with pytest.raises(ValueError, match="not a UniformDetector"):
        UniformDetector.load(path, tiny_model)
    plain = tmp_path / "plain.skops"
    UniformDetector(tiny_model, layer=LAYER).fit(digits["train"].images, digits["val"].images).save(plain)
    with pytest.raises(ValueError, match="not a UniformKNNDetector"):
        UniformKNNDetector.load(plain, tiny_model)


def test_beta_and_k_are_chosen_on_generated_anomalies_and_on_the_simplex(fitted, digits):
    beta, sizes = fitted.beta_from_generated(digits["val"].images, digits["val"].labels, steps=5)
    assert len(beta) in (3, 4) and sum(beta) == pytest.approx(1) and min(beta) >= 0
    assert set(sizes) == {"pixel-shuffled", "blobs", "inverted", "tile-shuffled", "blends", "boundary blends",
                          "mirrored", "chimeras"}
    assert check_beta(fitted.beta) == (0.25, 0.25, 0.25, 0.25)  # not changed
    k, objective = fitted.k_from_generated(digits["val"].images, digits["val"].labels)
    assert set(objective) == set(KNN_KS) and objective[k] == max(objective.values()) and 50 < objective[k] <= 100


def test_three_terms_stay_three():
    assert check_beta((0.5, 0.5, 0.0, 0.0)) == (0.5, 0.5, 0.0)
    assert check_beta((0.1, 0.2, 0.3, 0.4)) == (0.1, 0.2, 0.3, 0.4)
    with pytest.raises(ValueError, match="two to four"):
        check_beta((0.2,) * 5)
    three = LayerScores(np.zeros(2, int), np.array([0.2, 0.4]), np.array([0.6, 0.8]), np.array([1.0, 0.0]))
    assert three.n_terms == 3 and three.terms().shape == (2, 3)
    with pytest.raises(ValueError, match="no k-NN term"):
        three.combine((0.25, 0.25, 0.25, 0.25))
    four = LayerScores(*(getattr(three, f) for f in ("predicted", "mdl", "logit", "conf")), knn=np.array([0.5, 1.0]))
    np.testing.assert_allclose(four.combine((0.1, 0.2, 0.3, 0.4)), [0.1 * 0.2 + 0.2 * 0.6 + 0.3 + 0.2,
                                                                     0.1 * 0.4 + 0.2 * 0.8 + 0.4])
    np.testing.assert_array_equal(four.combine((0.5, 0.5)), three.combine((0.5, 0.5)))
    grid = simplex_grid(10, 4)
    assert len(grid) == 286 and all(sum(b) == pytest.approx(1) and min(b) >= 0 for b in grid)
    assert grid[:66] == [(*b, 0.0) for b in simplex_grid(10)]


def test_ours_knn_is_registered_and_chooses_without_evaluated_sets(tiny_experiment, monkeypatch):
    assert METHODS["ours+knn"] is OursKNN and "Sun et al." in OursKNN.info.reference
    monkeypatch.setattr(Experiment, "anomaly", lambda *a, **k: pytest.fail("an evaluated set was read"))
    method = fit_method(tiny_experiment, "ours+knn", layer=LAYER)
    detector = method.detector_
    assert isinstance(detector, UniformKNNDetector) and detector.k in KNN_KS
    beta = check_beta(detector.beta)
    assert sum(beta) == pytest.approx(1) and min(beta) >= 0
    assert method.score_samples(tiny_experiment.test.images[:10]).shape == (10,)
    # the choice is cached: a second fit picks neither k nor beta again
    monkeypatch.setattr(UniformKNNDetector, "beta_from_generated", lambda *a, **k: pytest.fail("beta chosen again"))
    monkeypatch.setattr(UniformKNNDetector, "k_from_generated", lambda *a, **k: pytest.fail("k chosen again"))
    again = fit_uniform_knn(tiny_experiment, layer=LAYER)
    assert again.beta == detector.beta and again.k == detector.k


def test_ours_knn_runs_through_the_benchmark(tiny_experiment):
    bench = run_benchmark(tiny_experiment, ["ours+knn", "ours+conf"], ["gaussian", "letters"], echo=lambda _: None,
                          ours_params={"layer": LAYER})
    rows = {(r.method, r.anomaly, r.weighting): r for r in bench.rows}
    assert rows["ours+knn", "gaussian", "per-class"].auroc > 95
    assert rows["ours+knn", "letters", "per-class"].kind == "near-ood" and not bench.notes


def test_look_alike_sets(digits):
    assert anomaly_kinds()["distorted"] == anomaly_kinds()["letters"] == "near-ood"
    assert report_kind("letters", "near-ood", "mnist") == "near-ood"
    images = digits["train"].images[:20]
    bent = distorted_images(images, 30, seed=0)
    assert bent.shape == (30, 1, 28, 28) and bent.min() >= 0 and bent.max() <= 1
    np.testing.assert_array_equal(bent, distorted_images(images, 30, seed=0))  # seeded
    unbent = distorted_images(images, 30, seed=0, alpha=0.0)  # the same picks, no displacement
    assert all(any(np.allclose(u, image, atol=1e-4) for image in images) for u in unbent)
    assert np.abs(bent - unbent).mean() > 0.05  # the strokes moved
    letters = rendered_letters(12, seed=1)
    assert letters.shape == (12, 1, 28, 28) and letters.max() == pytest.approx(1)
    ink = letters[:, 0] > 0.1
    for glyph in ink:  # fitted into MNIST's 20x20 box (then moved by its centre of mass)
        rows, cols = np.nonzero(glyph)
        assert max(np.ptp(rows), np.ptp(cols)) in range(15, 21)
    parts = generated_lookalikes(images, digits["train"].labels[:20])
    assert all(any(np.array_equal(m, image[..., ::-1]) for image in images) for m in parts["mirrored"])
    top, bottom = parts["chimeras"][:, :, :14], parts["chimeras"][:, :, 14:]
    assert all(any(np.array_equal(t, image[:, :14]) for image in images) for t in top)
    assert all(any(np.array_equal(b, image[:, 14:]) for image in images) for b in bottom)
    assert parts["mirrored"].shape == parts["chimeras"].shape == (10, 1, 28, 28)


def test_ours_knn_under_the_authors_protocol_is_a_note(tiny_experiment):
    bench = run_benchmark(tiny_experiment, ["ours+knn"], ["gaussian"], protocol="authors", echo=lambda _: None)
    assert not bench.rows and "ours+knn: not applicable" in bench.notes[0] and "k-NN term" in bench.notes[0]


def test_evaluate_help_lists_ours_knn(capsys):
    from detector.cli.main import main

    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert f"ours+knn         {OursKNN.info.description}" in " ".join(capsys.readouterr().out.split("\n"))


@pytest.mark.slow
def test_evaluate_method_ours_knn_on_lenet_mnist(tmp_path, test_cache):
    """The command line end to end on the shipped LeNet: the held-out look-alike set, near-OOD."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "knn.json"
    done = subprocess.run([sys.executable, "-m", "detector", "evaluate", "--model", "lenet-mnist", "--method",
                           "ours+knn,knn", "--anomaly", "letters", "--anomaly", "distorted", "--json", str(out)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
                          env={**os.environ, "ANOMALY_CACHE_DIR": str(test_cache)})
    assert done.returncode == 0, done.stderr
    rows = {(r["method"], r["anomaly"]): r for r in json.loads(out.read_text())["rows"] if r["weighting"] == "per-class"}
    assert {r["kind"] for r in rows.values()} == {"near-ood"}
    assert rows["ours+knn", "letters"]["auroc"] >= rows["knn", "letters"]["auroc"] - 1  # issue 27's goal
