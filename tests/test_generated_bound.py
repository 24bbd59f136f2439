"""ours+conf's beta is chosen on boundary blends started from a bounded, seeded subset of the validation
inputs: at most BOUNDARY_PER_CLASS per predicted class, drawn as before when every class is under it."""

import numpy as np
import pytest

from detector.anomalies.noise import BOUNDARY_PER_CLASS, boundary_blends, boundary_firsts
from detector.method.uniform import UniformDetector


@pytest.fixture(scope="module")
def fitted(tiny_model, digits):
    return UniformDetector(tiny_model, layer="features.4").fit(digits["train"].images, digits["val"].images)


def _counting(predict, sizes: list):
    def counted(images):
        sizes.append(len(images))
        return predict(images)
    return counted


def _two_classes(n_dark: int, n_bright: int, seed: int = 0) -> tuple[np.ndarray, callable]:
    rng = np.random.default_rng(seed)
    images = np.concatenate([rng.uniform(0, 0.2, (n_dark, 1, 4, 4)), rng.uniform(0.4, 1, (n_bright, 1, 4, 4))])
    return images.astype(np.float32), lambda x: (x.mean(axis=(1, 2, 3)) > 0.3).astype(int)


def test_a_large_class_gives_at_most_the_bound_of_first_images_seeded_and_without_repeats():
    predicted = np.r_[np.zeros(450, int), np.ones(150, int)]
    first = boundary_firsts(predicted, np.random.default_rng(5), per_class=100)
    assert np.bincount(predicted[first]).tolist() == [100, 100] and len(np.unique(first)) == 200
    np.testing.assert_array_equal(first, boundary_firsts(predicted, np.random.default_rng(5), per_class=100))
    assert not np.array_equal(first, boundary_firsts(predicted, np.random.default_rng(6), per_class=100))
    small = np.r_[np.zeros(30, int), np.ones(80, int)]  # every class under the bound: drawn as before the bound
    np.testing.assert_array_equal(boundary_firsts(small, np.random.default_rng(5), per_class=100),
                                  np.random.default_rng(5).choice(len(small), len(small)))


def test_the_bisection_runs_on_the_bounded_subset_and_reports_its_progress():
    images, predict = _two_classes(450, 150)
    sizes, reported = [], []
    blends = boundary_blends(images, _counting(predict, sizes), seed=3, steps=10, per_class=100,
                             progress=lambda done, total, what: reported.append((done, total, what)))
    assert sizes[0] == 600 and sizes[1:] == [200] * 11  # the predictions of all, then 11 passes over 200
    assert 0 < len(blends) <= 200
    assert [done for done, _, _ in reported] == [200 * k for k in range(1, 12)]
    assert {(total, what) for _, total, what in reported} == {(2200, "boundary blends")}
    np.testing.assert_array_equal(blends, boundary_blends(images, predict, seed=3, steps=10, per_class=100))
    known = boundary_blends(images, _counting(predict, sizes := []), seed=3, per_class=100, predicted=predict(images))
    assert sizes == [200] * 11  # given the predictions, no pass over every image
    np.testing.assert_array_equal(known, blends)


def test_ours_conf_picks_beta_on_a_bounded_seeded_set_of_boundary_blends(fitted, digits):
    """Sixty copies of the digits' validation split put the classes over the bound: at most BOUNDARY_PER_CLASS
    blends per class (without it, ~18 x 60 first images per class, and most of them cross)."""
    val = digits["val"]
    images, labels = np.tile(val.images, (60, 1, 1, 1)), np.tile(val.labels, 60)
    parts = fitted.generated_anomalies(images, labels)
    counts = np.bincount(fitted.extractor.logits(images, cached=False).argmax(1))
    assert counts.max() > BOUNDARY_PER_CLASS
    assert 0 < len(parts["boundary blends"]) <= BOUNDARY_PER_CLASS * np.count_nonzero(counts)
    again = fitted.generated_anomalies(images, labels)
    for name, part in parts.items():
        np.testing.assert_array_equal(part, again[name])
    assert fitted.beta_from_generated(images, labels, steps=5) == fitted.beta_from_generated(images, labels, steps=5)


@pytest.mark.parametrize("progress", [False, True])
def test_beta_from_generated_with_the_validation_split_it_was_fitted_on_needs_no_pass_over_it(fitted, digits,
                                                                                              progress, monkeypatch):
    """Its predictions were kept at fit time (val_predicted_): the bisection's passes are all it runs."""
    val = digits["val"]
    seen = []
    logits = type(fitted.extractor).logits
    monkeypatch.setattr(type(fitted.extractor), "logits",
                        lambda self, images, cached=True: seen.append(len(images)) or logits(self, images, cached))
    fitted.generated_anomalies(val.images, val.labels, progress=progress)
    assert len(seen) == 11  # 12 with a pass over the validation images to predict them again
