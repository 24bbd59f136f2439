"""Evaluation tables and the benchmark runner, on the tiny digits CNN: the dashboard's numbers
for any beta must be the detector's own, and cached cells must equal fresh ones."""

import numpy as np
import pandas as pd
import pytest

from detector.anomalies import AnomalySet
from detector.evaluation import evaluate as ev
from detector.evaluation.authors import renormalised_on
from detector.evaluation.benchmark import MethodName, cached_cell, fit_method, run_benchmark, wide_tables
from detector.evaluation.experiment import fit_uniform
from detector.method.uniform import LayerScores

BETAS = [(1.0, 0.0), (0.75, 0.25), (0.5, 0.5), (0.0, 1.0)]


@pytest.fixture(scope="module")
def detector(tiny_experiment):
    return fit_uniform(tiny_experiment, layer="features.4")


@pytest.fixture(scope="module")
def sets(tiny_experiment):
    rng = np.random.default_rng(7)
    return {"gaussian": tiny_experiment.anomaly("gaussian"),
            "blend": AnomalySet("blend", "ood", (0.5 * tiny_experiment.test.images[:100]
                                                 + 0.5 * rng.uniform(0, 1, (100, 1, 28, 28))).astype(np.float32))}


@pytest.fixture(scope="module")
def data(tiny_experiment, detector, sets):
    return ev.score_data(tiny_experiment, detector, sets)


@pytest.mark.parametrize("beta", BETAS)
def test_tables_for_any_beta_equal_the_detector_with_that_beta(tiny_experiment, detector, sets, data, beta):
    tuned = detector.with_beta(beta)
    np.testing.assert_array_equal(data.thresholds(beta), tuned.thresholds_)
    np.testing.assert_array_equal(data.test.combine(beta), tuned.score_samples(tiny_experiment.test.images))
    table = ev.metrics_table(data, beta)
    rows = ev.evaluate_method(tiny_experiment, "ours", tuned, list(sets.values()))
    for row in rows:
        mine = table[(table["anomaly set"] == row.anomaly) & (table["weighting"] == row.weighting)].iloc[0]
        assert round(mine["AUROC"], 2) == row.auroc and round(mine["TNR@95TPR"], 2) == row.tnr_at_95_tpr
    assert detector.check_beta(detector.beta) == (0.5, 0.5, 0.0)  # with_beta left the shared detector alone


def test_per_class_table_adds_up(data):
    table = ev.per_class_table(data, (0.5, 0.5), "blend")
    assert len(table) == data.n_classes
    assert table["gamma %"].sum() == pytest.approx(100)
    assert table["ID inputs"].sum() == len(data.test) and table["anomalies"].sum() == len(data.anomalies["blend"])
    np.testing.assert_array_equal(table["tau"], data.thresholds((0.5, 0.5)))


def test_fig7_curve_ends_are_the_single_layers(data):
    curve = ev.auroc_vs_beta(data, steps=5)
    assert len(curve) == 5 * 2 * len(data.anomalies)
    for weight, beta in ((0.0, (1.0, 0.0)), (1.0, (0.0, 1.0))):
        ends = curve[curve["logit weight"] == weight].reset_index(drop=True)
        expected = ev.metrics_table(data, beta)[list(ends.columns[1:])]
        pd.testing.assert_frame_equal(ends.drop(columns="logit weight"), expected)


def test_roc_and_operating_point(data):
    roc = ev.roc_points(data, (0.5, 0.5), "gaussian")
    assert roc["FPR"].is_monotonic_increasing and roc["TPR"].iloc[-1] == 1
    fpr, tpr = ev.operating_point(data, (0.5, 0.5), "gaussian")
    assert 0 <= fpr <= 1 and tpr >= 0.8


def test_summary_means_over_sets():
    table = pd.DataFrame({"anomaly set": ["a", "b", "a"], "kind": "ood", "weighting": ["per-class", "per-class", "global"],
                          "TNR@95TPR": [90.0, 80.0, 10.0], "AUROC": [99.0, 97.0, 50.0], "ID TPR": 95.0})
    assert ev.summary(table) == {"TNR@95TPR": 85.0, "AUROC": 98.0}
    assert np.isnan(ev.summary(table.iloc[:0])["AUROC"])


def test_authors_renormalisation_maps_each_class_onto_0_1():
    id_scores = LayerScores(np.array([0, 0, 1, 1]), np.array([1.0, 3.0, -2.0, 0.0]), np.array([0.0, 1.0, 2.0, 4.0]))
    anomalies = LayerScores(np.array([0, 1]), np.array([-1.0, -4.0]), np.array([0.5, 0.0]))
    both = renormalised_on(id_scores, anomalies, n_classes=2)
    np.testing.assert_allclose(both.mdl, [0.5, 1.0, 0.5, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(both.logit, [0.0, 1.0, 0.5, 1.0, 0.5, 0.0])


def test_method_names_are_parsed_once():
    assert MethodName.parse("lid+known+oe") == MethodName("lid", known=True, oe=True)
    assert MethodName.parse("ours+conf+oe") == MethodName("ours+conf", oe=True)
    assert str(MethodName.parse("odin+pre+oe")) == "odin+pre+oe" and MethodName.parse("odin+pre+oe").plain == "odin+pre"
    for bad in ("msp+known", "nope", "ours+oe+known"):
        with pytest.raises(ValueError, match="valid methods"):
            MethodName.parse(bad)


def test_cached_cells_equal_fresh_ones_and_skip_the_fit(tiny_experiment, monkeypatch):
    from detector.evaluation import benchmark

    first = run_benchmark(tiny_experiment, ["msp"], ["gaussian"], echo=lambda _: None)
    cell = cached_cell(tiny_experiment, "msp", tiny_experiment.anomaly("gaussian"))
    assert cell == first.rows
    monkeypatch.setitem(benchmark.METHODS, "msp", lambda *a, **k: pytest.fail("a cached cell was recomputed"))
    again = run_benchmark(tiny_experiment, ["msp"], ["gaussian"], echo=lambda _: None)
    assert again.rows == first.rows
    # the time a method took is recorded with its cells, so a report from the cache still says it
    assert first.method_seconds["msp"] > 0 and again.method_seconds == first.method_seconds
    tables = wide_tables(again.rows, "global")
    assert tables["AUROC"].loc["msp", "gaussian"] == first.rows[1].auroc


def test_a_cell_recomputed_after_a_code_change_keeps_its_first_time(tiny_experiment, monkeypatch):
    # a code change makes every cell stale; recomputing one from cached attacks, features or scores
    # takes a fraction of the first computation, which is what "time per method" reports
    from detector import cache
    from detector.evaluation import benchmark

    first = run_benchmark(tiny_experiment, ["energy"], ["gaussian", "uniform"], echo=lambda _: None)
    code_hash = cache.code_hash
    monkeypatch.setattr(cache, "code_hash", lambda module: "another" if module == benchmark.__name__ else code_hash(module))
    fits = []
    fit = benchmark.METHODS["energy"]
    monkeypatch.setitem(benchmark.METHODS, "energy", lambda *a, **k: fits.append(1) or fit(*a, **k))
    monkeypatch.setattr(benchmark.time, "perf_counter", lambda: 1000.0 * len(fits))  # the refit "takes" 1000 s
    again = run_benchmark(tiny_experiment, ["energy"], ["gaussian", "uniform"], echo=lambda _: None)
    assert fits == [1] and again.rows == first.rows  # recomputed, same figures
    assert again.method_seconds["energy"] == pytest.approx(first.method_seconds["energy"])


def test_explore_scores_follow_beta(tiny_experiment, detector, sets):
    from dashboard import views

    points = views.explore_points(tiny_experiment, detector, sets, [detector.mdl_], per_set=20)
    assert len(points.meta) == 60 and points.features[detector.mdl_].shape[0] == 60
    beta = (0.25, 0.75)
    framed = views.with_scores(points.meta, points, beta, detector.thresholds_for(beta))
    np.testing.assert_array_equal(framed["score"], 0.25 * points.meta["mdl"] + 0.75 * points.meta["logit"])
    tuned = detector.with_beta(beta)  # the verdicts shown are the detector's own at that beta
    np.testing.assert_array_equal(framed["tau"], tuned.thresholds_[points.meta["predicted"]])
    np.testing.assert_allclose(framed["margin"], tuned.decision_function(points.images), atol=1e-9)
    assert (framed["verdict"] == "anomaly").tolist() == tuned.predict(points.images).tolist()
    assert {"anomaly", "normal"} == set(framed["verdict"])  # noise and digits: both verdicts occur
    extra = pd.concat([points.meta, points.meta.iloc[:1]], ignore_index=True)  # a row beyond the points: left blank
    padded = views.with_scores(extra, points, beta, detector.thresholds_for(beta))
    assert np.isnan(padded["margin"].iloc[-1]) and padded["verdict"].iloc[-1] == ""


def test_simplex_grid_covers_the_triangle_and_matches_the_tables(data):
    grid = ev.auroc_over_simplex(data, steps=5)
    corners = grid[["β₁ MDL", "β₂ logit", "β₃ confidence"]].drop_duplicates()
    assert len(corners) == 15  # 5 + 4 + 3 + 2 + 1 points
    np.testing.assert_allclose(corners.sum(axis=1), 1, atol=1e-5)
    beta = (0.25, 0.25, 0.5)
    rows = grid[(grid["β₁ MDL"] == 0.25) & (grid["β₃ confidence"] == 0.5)].reset_index(drop=True)
    expected = ev.metrics_table(data, beta)
    np.testing.assert_array_equal(rows["AUROC"], expected["AUROC"])


def test_beta_of_stays_on_the_simplex():
    assert ev.beta_of(0.5) == (0.5, 0.5, 0.0)
    assert ev.beta_of(0.25, 0.5) == (0.25, 0.25, 0.5)
    assert ev.beta_of(0.8, 0.8) == (0.0, 0.5, 0.5)


def test_ours_conf_takes_the_generated_beta_once_and_then_from_the_cache(tiny_experiment, monkeypatch):
    from detector.evaluation.experiment import fit_uniform_conf
    from detector.method.scores import CONF_BETA
    from detector.method.uniform import UniformDetector

    detector = fit_uniform_conf(tiny_experiment)
    fresh = fit_uniform(tiny_experiment).beta_from_generated(tiny_experiment.val.images, tiny_experiment.val.labels)[0]
    assert detector.beta == fresh
    monkeypatch.setattr(UniformDetector, "beta_from_generated", lambda *a, **k: pytest.fail("beta was chosen again"))
    assert fit_uniform_conf(tiny_experiment).beta == fresh
    assert fit_method(tiny_experiment, "ours+conf-equal").detector_.beta == CONF_BETA
