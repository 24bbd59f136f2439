"""Notebooks: docs/tour.ipynb runs top to bottom, the figure functions on small inputs, and the
live-tuning widget (dashboard/notebook.py) shows the same numbers as detector.evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard import figures
from detector.evaluation import evaluate as ev
from detector.method.scores import LayerScores

ROOT = Path(__file__).resolve().parent.parent
TOUR = ROOT / "docs" / "tour.ipynb"


# --------------------------------------------------------------------------- the tour
def test_tour_is_committed_without_outputs():
    import nbformat

    nb = nbformat.read(TOUR, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.slow
def test_tour_runs_top_to_bottom(test_cache):
    """On the built-in default, with the project's own kernel (ipykernel in this venv), started in
    docs/ as JupyterLab does; it inherits ANOMALY_CACHE_DIR (tests/conftest.py). Any cell error fails."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(TOUR, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(TOUR.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    kinds = {kind for out in outputs for kind in out.get("data", {})}
    assert {"application/vnd.plotly.v1+json", "application/vnd.jupyter.widget-view+json"} <= kinds
    pages = [out["data"]["text/html"] for out in outputs if "text/html" in out.get("data", {})]
    assert sum("vegaEmbed('#vega-" in page for page in pages) == 4  # the UMAP charts, drawn offline
    assert not [page for page in pages if "cdn.jsdelivr.net/npm/vega" in page]
    text = "".join(out.get("text", "") for out in outputs)
    assert "MDL:" in text and "seven: predicted" in text and str(test_cache) not in text
    assert any("a static copy, kept in exported pages" in page for page in pages)  # the tuner, for HTML exports
    assert "n_jobs" not in text  # UMAP, seeded on purpose, says nothing (issue 28)


# --------------------------------------------------------------------------- figures on small inputs
def _scores(rng, n: int, predicted, shift: float = 0.0) -> LayerScores:
    return LayerScores(np.asarray(predicted), rng.uniform(0, 1, n) - shift, rng.uniform(0, 1, n) - shift,
                       rng.uniform(0, 1, n) - shift)


@pytest.fixture
def small_data() -> ev.ScoreData:
    """Two classes, 40 validation and 40 test ID inputs, two anomaly sets of 20 (lower scores)."""
    rng = np.random.default_rng(0)
    both = np.repeat([0, 1], 20)
    val = ev.ScoreSet("validation", "id", _scores(rng, 40, both), both)
    test = ev.ScoreSet("digits (ID)", "id", _scores(rng, 40, both), both)
    sets = {name: ev.ScoreSet(name, "noise", _scores(rng, 20, np.repeat([0, 1], 10), 0.5)) for name in ("noise", "blobs")}
    return ev.ScoreData("conv1", 0.1, 2, val, test, sets)


def test_roc_traces_and_axes(small_data):
    beta = (0.5, 0.5, 0.0)
    curves = {name: ev.roc_points(small_data, beta, name) for name in small_data.anomalies}
    points = {name: ev.operating_point(small_data, beta, name) for name in small_data.anomalies}
    fig = figures.roc(curves, points)
    assert len(fig.data) == 1 + 2 * len(curves)  # the diagonal, then a curve and a star per set
    assert [t.name for t in fig.data[1::2]] == ["noise", "blobs"]
    assert fig.data[2].x[0] == points["noise"][0] and fig.data[2].marker.symbol == "star"
    assert fig.layout.xaxis.title.text.endswith("(FPR)") and fig.layout.yaxis.title.text.endswith("(TPR)")


def test_histograms_one_panel_per_class_with_tau(small_data):
    beta = (0.5, 0.5, 0.0)
    tau = small_data.thresholds(beta)
    fig = figures.histograms(ev.scores_frame(small_data, beta, ["a", "b"]), tau, ["a", "b"], cols=2)
    assert len(fig.data) == 2 * 3  # two classes x (ID + two anomaly sets)
    assert sum(t.showlegend for t in fig.data) == 3  # one legend entry per set
    assert [s.x0 for s in fig.layout.shapes] == pytest.approx(list(tau))
    assert [a.text for a in fig.layout.annotations if "τ=" in a.text] == [f"a: τ={tau[0]:.2f}", f"b: τ={tau[1]:.2f}"]
    assert {t.xaxis for t in fig.data} == {"x", "x2"}
    assert sum(t.customdata.sum() for t in fig.data) == 40 + 20 + 20  # every input counted once
    assert all(abs(sum(t.y) - 1) < 1e-9 for t in fig.data)


def test_histograms_keep_id_readable_beside_far_noise():
    """Noise 40 below tau goes to an overflow bin labelled "≤ lo": the axis stays near the ID
    scores, the noise bar that rises above the panel is cut and its share written; a set drawn
    only in a later panel still has its legend entry; ticks are few."""
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"set": ["ID"] * 200 + ["noise"] * 50 + ["fashion"] * 30,
                          "predicted": np.r_[np.repeat([0, 1], 100), np.zeros(50, int), np.ones(30, int)],
                          "score": np.r_[rng.uniform(0.2, 1.0, 200), rng.uniform(-45, -35, 50), rng.uniform(-1.0, 0.3, 30)]})
    tau = np.array([0.4, 0.5])
    fig = figures.histograms(frame, tau, ["a", "b"], cols=2)
    lo, hi = figures.histogram_range(frame["score"], tau)
    assert lo == pytest.approx(0.4 - 2 * (hi - 0.4)) and hi >= 1.0  # about -0.8, not -45
    assert {t.name for t in fig.data if t.showlegend} == {"ID", "noise", "fashion"}  # fashion: panel b only
    noise = next(t for t in fig.data if t.name == "noise")
    assert noise.y[0] == 1.0 and noise.customdata[0] == 50  # all of it in the overflow bin
    axis = fig.layout.xaxis
    assert axis.ticktext[0] == f"≤ {lo:.1f}" and axis.tickvals[0] < lo and len(axis.ticktext) <= 4
    assert fig.layout.yaxis.range[1] < 0.5  # the ID bars set the height, not the noise pile
    assert any(a.text.startswith("↑") and "100%" in a.text for a in fig.layout.annotations)
    fashion = next(t for t in fig.data if t.name == "fashion")
    assert fashion.customdata.sum() == 30 and fashion.customdata[0] == sum(frame.score[250:] < lo)


def test_beta_curve_and_ternary(small_data):
    curve = ev.auroc_vs_beta(small_data, steps=5)
    fig = figures.beta_curve(curve, 0.25, "per-class")
    assert [t.name for t in fig.data] == ["noise", "blobs"] and all(len(t.x) == 5 for t in fig.data)
    assert fig.layout.shapes[0].x0 == 0.25  # the current beta_2
    assert fig.layout.xaxis.title.text.startswith("β₂") and fig.layout.yaxis.title.text == "AUROC %"
    grid = ev.auroc_over_simplex(small_data, steps=3)
    fig = figures.ternary(grid, (0.2, 0.3, 0.5), "noise")
    assert [t.name for t in fig.data] == ["AUROC", "the paper (β₃ = 0)", "β now"]
    assert len(fig.data[0].a) == 6  # 3 + 2 + 1 points of the simplex
    assert list(fig.data[1].c) == [0, 0, 0]  # the paper's edge
    assert (fig.data[2].a[0], fig.data[2].b[0], fig.data[2].c[0]) == (0.2, 0.3, 0.5)
    assert "noise" in fig.layout.title.text and "mean over the sets" in figures.ternary(grid, (1, 0, 0), None).layout.title.text


def test_layer_figures():
    table = pd.DataFrame({"layer": ["conv1", "relu1", "logits", "confidence"], "MDL": ["", "★", "", ""],
                          "mix error %": [12.0, 8.5, 20.0, np.nan], "AUROC noise": [90.0, 95.0, 80.0, 70.0],
                          "AUROC blobs": [85.0, 99.0, 75.0, 60.0]})
    bars = figures.layer_bars(table)
    assert len(bars.data) == 1 and list(bars.data[0].x) == ["conv1", "relu1", "logits"]  # no error: no bar
    assert list(bars.data[0].marker.color) == ["#1f77b4", "#d62728", "#1f77b4"]  # the MDL in red
    assert bars.layout.yaxis.title.text == "error %"
    lines = figures.layer_aurocs(table)
    assert [t.name for t in lines.data] == ["noise", "blobs"] and len(lines.data[0].x) == 4
    assert lines.layout.yaxis.title.text == "AUROC %"
    styled = figures.best_marked(table, columns=["AUROC noise"]).to_html()
    assert "95.00" in styled and "–" in styled  # numbers as text, a dash where one is missing
    assert styled.count("font-weight: bold") == 1 and "_row1_col3 {" in styled  # relu1's AUROC noise only


def test_score_plane_clips_far_points_and_draws_the_line():
    scores = pd.DataFrame({"set": ["id", "id", "noise"], "MDL score": [0.9, 0.5, -4.0], "logit score": [0.8, 0.6, 0.1]})
    fig = figures.score_plane(scores, (np.array([-2.0, 1.2]), np.array([1.0, 0.0])), "t", marker=(0.3, -9.0))
    assert [t.name for t in fig.data] == ["id", "noise", "g = τ", "this input"]
    assert list(fig.data[1].x) == [-1.5] and list(fig.data[1].marker.symbol) == ["x"]  # drawn on the floor
    assert fig.data[3].y == (-1.5,)
    assert fig.layout.yaxis.title.text == "logit score (normalised)"


def test_set_colours_keep_id_green():
    colours = figures.set_colours(["mnist (ID)", "a", "b"])
    assert colours["mnist (ID)"] == figures.ID_COLOUR and len(set(colours.values())) == 3


# --------------------------------------------------------------------------- the live-tuning widget
@pytest.fixture(scope="module")
def tiny_tuner(tiny_experiment):
    from dashboard.notebook import tuner
    from detector.evaluation.experiment import fit_uniform

    detector = fit_uniform(tiny_experiment)
    anomalies = {name: tiny_experiment.anomaly(name) for name in ("gaussian", "uniform")}
    return tuner(tiny_experiment, detector, anomalies), detector, anomalies


def test_tuner_table_equals_the_evaluation_table(tiny_experiment, tiny_tuner):
    widget, detector, anomalies = tiny_tuner
    data = ev.score_data(tiny_experiment, detector, anomalies)
    for weight, conf, shown in ((0.5, 0.0, (0.5, 0.0)), (0.2, 0.0, (0.2, 0.0)), (0.3, 0.4, (0.3, 0.4)),
                                (0.8, 0.6, (0.4, 0.6))):  # beta_3 moved last: beta_2 gives way (issue 28)
        widget.beta_slider.value, widget.conf_slider.value = weight, conf
        assert (widget.beta_slider.value, widget.conf_slider.value) == shown  # the sliders read the beta in force
        assert widget.beta == (round(1 - sum(shown), 6), *shown)
        pd.testing.assert_frame_equal(widget.table, ev.metrics_table(data, widget.beta))
    assert "β = (0.00, 0.40, 0.60)" in widget.caption.value
    assert "<table" in widget.metrics.value and "per-class: TNR@95TPR" in widget.metrics.value


def test_tuner_snapshot_shows_the_table_and_roc_as_plain_outputs(tiny_tuner, monkeypatch):
    """Issue 28: the notebook exported to HTML showed a blank widget (no kernel, no widget state)."""
    import IPython.display
    import plotly.graph_objects as go

    widget, _, _ = tiny_tuner
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects: shown.extend(objects))
    widget.snapshot()
    assert isinstance(shown[0], IPython.display.HTML) and "<table" in shown[0].data and widget.caption.value in shown[0].data
    assert type(shown[1]) is go.Figure and len(shown[1].data) == len(widget.roc.data)  # a plain figure, not a widget


def test_seeded_umap_is_quiet(recwarn):
    """Issue 28: UMAP warned once per projection that a seed makes it single-threaded (22 boxes in the tour)."""
    from detector.evaluation.projection import fit_umap

    fit_umap(np.random.default_rng(0).normal(size=(40, 5)), n_neighbors=5)
    assert not [w for w in recwarn if "n_jobs" in str(w.message)]


def test_tuner_sliders_move_table_and_figures(tiny_experiment, tiny_tuner):
    widget, detector, _ = tiny_tuner
    widget.beta_slider.value, widget.conf_slider.value = 0.0, 0.0
    before, histogram = widget.table.copy(), widget.histograms.data[0].x
    widget.beta_slider.value = 1.0
    assert not widget.table[["TNR@95TPR", "AUROC"]].equals(before[["TNR@95TPR", "AUROC"]])
    assert not np.allclose(widget.histograms.data[0].x, histogram)  # g for the new beta
    assert widget.roc.data[2].x[0] == ev.operating_point(widget.data, widget.beta, "gaussian")[0]
    assert widget.fig7.layout.shapes[0].x0 == 1.0
    tau = widget.data.thresholds(widget.beta)
    assert [s.x0 for s in widget.histograms.layout.shapes] == pytest.approx(list(tau))

    moved = widget.table.copy()
    widget.nu_slider.value = 0.3  # a refit (cached on disk), the same MDL
    assert widget.data.nu == 0.3 and widget.data.mdl == detector.mdl_
    assert not widget.table[["TNR@95TPR", "AUROC"]].equals(moved[["TNR@95TPR", "AUROC"]])
    widget.nu_slider.value = float(detector.nu)  # back: the detector given, not a refit
    assert widget.data.nu == float(detector.nu)
