"""The drawn set (detector/anomalies/doodles.py): seeded, two parts that differ, and judged by the default detector."""

from __future__ import annotations

import numpy as np
import pytest

from detector.anomalies.doodles import DIGIT_PENS, DOODLE_PENS, drawn_set, mouse_strokes, render
from detector.anomalies.glyphs import DIGITS, SHAPES


def test_the_drawn_set_is_deterministic_and_its_parts_differ():
    first, again = drawn_set("held-out", per_shape=1, per_digit=1), drawn_set("held-out", per_shape=1, per_digit=1)
    assert np.array_equal(first.images, again.images) and list(first.names) == list(again.names)
    tuning = drawn_set("tuning", per_shape=1, per_digit=1)
    assert list(tuning.names) == list(first.names)
    assert not any(np.array_equal(a, b) for a, b in zip(tuning.images, first.images))  # no drawing in both parts
    assert first.images.shape == (len(SHAPES) + len(DIGITS), 1, 28, 28) and first.images.dtype == np.float32
    assert 0 <= first.images.min() and first.images.max() <= 1
    assert first.is_doodle.sum() == len(SHAPES) and sorted(first.digit[~first.is_doodle]) == list(range(10))
    assert set(first.pen[first.is_doodle]) <= set(DOODLE_PENS) and set(first.pen[~first.is_doodle]) <= set(DIGIT_PENS)
    # drawn as MNIST's digits were made: the ink fills a 20-pixel box and its centre of mass is at the centre
    for image in first.images[:, 0]:
        rows, cols = np.nonzero(image > 0.1)
        assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 in (19, 20, 21)
    with pytest.raises(ValueError, match="valid parts: tuning, held-out"):
        drawn_set("test")


def test_strokes_wobble_as_a_mouse_draws_them_and_pens_set_their_width():
    rng = np.random.default_rng(0)
    straight = [np.array([[0.0, 0.5], [1.0, 0.5]])]
    (points,) = mouse_strokes(straight, rng, 200, (140, 140), 0.0)
    assert len(points) > 20 and 0.3 < np.std(points[:, 1]) < 4  # a line, not a ruler's
    thin, thick = render([points], 8), render([points], 30)
    assert 3 * thin.sum() < thick.sum() and thin.shape == (280, 280)


@pytest.mark.slow  # the real LeNet-MNIST and the default detector (cached after its first fit)
def test_the_default_detector_flags_most_held_out_doodles_and_passes_most_digits():
    from detector.evaluation.drawn import drawn_figures
    from detector.evaluation.experiment import load_experiment
    from detector.evaluation.judging import DEFAULT_METHOD, fit_judge

    judge = fit_judge(load_experiment("lenet-mnist"), DEFAULT_METHOD)
    figures = drawn_figures(judge, drawn_set("held-out", per_shape=2, per_digit=3))
    assert figures["doodles flagged %"] >= 80 and figures["digits pass %"] >= 80, figures


@pytest.mark.parametrize("method", ["ours", "knn", "msp"])
def test_judging_with_any_method_agrees_with_its_scores_and_thresholds(tiny_experiment, method):
    """check --method NAME: the ours family term by term, a baseline (which may hold a detector_ of its own,
    as pytorch-ood's KNN) by its one score against the per-class tau of the held-out inputs."""
    from detector.evaluation.judging import TERMWISE, fit_judge

    judge = fit_judge(tiny_experiment, method)
    images = np.concatenate([tiny_experiment.test.images[:20], np.random.default_rng(0).random((5, 1, 28, 28),
                                                                                              dtype=np.float32)])
    verdicts = judge.judge(images)
    scores = judge.fitted.score_samples(images)
    assert np.allclose([v.score for v in verdicts], scores, atol=1e-6)
    assert [v.is_anomaly for v in verdicts] == [s < judge.thresholds[v.predicted] for s, v in zip(scores, verdicts)]
    assert (judge.detector is not None) == (method in TERMWISE)
    assert all(np.isnan(v.mdl) and v.terms == [] for v in verdicts) == (method not in TERMWISE)
