"""Properties of the dashboard's figures that a student sees: titles clear of the chart toolbar, legends
that keep their words, colours that can be told apart."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard import figures, projection_charts


def _title_clear_of_toolbar(fig) -> None:
    layout = fig.layout
    height = layout.height
    title = layout.title
    assert title.yref == "container" and title.yanchor == "top"
    assert (1 - title.y) * height >= figures.TOOLBAR_PX - 1  # the title's top is under the toolbar's band
    lines = title.text.count("<br>") + 1
    assert layout.margin.t >= figures.TOOLBAR_PX + 20 * lines  # and the plot starts under the title


def test_fig7_and_histograms_titles_sit_under_the_toolbar():
    curve = pd.DataFrame({"weighting": "per-class", "anomaly set": "noise", "logit weight": np.linspace(0, 1, 5),
                          "AUROC": np.linspace(90, 99, 5)})
    _title_clear_of_toolbar(figures.beta_curve(curve, 0.5, "per-class"))
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"set": ["mnist (ID)"] * 40 + ["noise"] * 40, "predicted": rng.integers(0, 10, 80),
                           "score": rng.normal(size=80)})
    _title_clear_of_toolbar(figures.histograms(scores, np.zeros(10), [str(k) for k in range(10)]))
    roc = {"noise": pd.DataFrame({"FPR": [0, 1], "TPR": [0, 1]})}
    _title_clear_of_toolbar(figures.roc(roc, {"noise": (0.1, 0.9)}))


def _lab(colour: str) -> np.ndarray:
    """CIE L*a*b* of an sRGB hex colour (D65)."""
    rgb = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    f = np.cbrt(np.maximum(xyz / np.array([0.95047, 1.0, 1.08883]), 0.008856 ** 3))
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_true_class_colours_are_told_apart_from_each_other_and_the_anomalies():
    frame = pd.DataFrame({"x": [0.0], "y": [0.0], "set": ["a"], "index": [0], "predicted": [0], "true": [0],
                          "score": [0.1], "tau": [0.0], "margin": [0.1], "verdict": ["normal"], "mdl": [0.5],
                          "logit": [0.5], "conf": [0.5], "kind": ["id"], "image": [""]})
    names = [str(k) for k in range(10)]
    scale = projection_charts.projection(frame, "true class", names, "t").to_dict()["encoding"]["color"]["scale"]
    colours = dict(zip(scale["domain"], scale["range"]))
    labs = {name: _lab(c) for name, c in colours.items()}
    greys = [name for name, lab in labs.items() if np.hypot(lab[1], lab[2]) < 10]
    assert greys == ["anomaly"]  # class 7 was a grey beside the anomalies' grey
    closest = min(np.linalg.norm(labs[a] - labs[b]) for a in labs for b in labs if a < b)
    assert closest > 25


def test_the_score_legend_keeps_its_words():
    frame = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0], "set": ["a", "b"], "index": [0, 1], "predicted": [0, 0],
                          "true": [0, -1], "score": [0.1, -2.0], "tau": [0.0, 0.0], "margin": [0.1, -2.0],
                          "verdict": ["normal", "anomaly"], "mdl": [0.5, -1], "logit": [0.5, 0.0], "conf": [0.5, 0.1],
                          "kind": ["id", "ood"], "image": ["", ""]})
    legend = projection_charts.projection(frame, "score", ["0"], "t").to_dict()["encoding"]["color"]["legend"]
    title = " ".join(legend["title"]) if isinstance(legend["title"], list) else legend["title"]
    assert "g − τ" in title and "0 = τ" in title
    assert legend.get("titleLimit") == 0  # Vega-Lite cuts a title at 180 px otherwise
    assert all(len(line) <= 40 for line in legend["title"])  # lines a narrow chart's legend can hold
