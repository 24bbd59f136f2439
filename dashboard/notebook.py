"""Live tuning of beta and nu in a Jupyter notebook: the Tune page as an ipywidgets widget.

Sliders for beta_2 (logit), beta_3 (confidence) and nu drive a metrics table and Plotly
``FigureWidget``s (ROC curves, the paper's Fig. 7 curve, per-class score histograms with
tau_i). Every number comes from :mod:`detector.evaluation.evaluate` and every figure from
:mod:`dashboard.figures`, exactly as on the Tune page, so the two always agree. A new nu
refits the SVDDs through :func:`detector.evaluation.experiment.fit_uniform` (cached on disk), with
the MDL of the detector given, as the dashboard does.

Example (in a notebook cell)::

    from dashboard.notebook import render_offline, tuner
    render_offline()       # figures that need no internet, in JupyterLab and in exported HTML
    widget = tuner(experiment, detector, {"gaussian": experiment.anomaly("gaussian")})
    widget                 # shows the sliders, the table and the figures
    widget.table           # the metrics table now shown (a DataFrame)
"""

from __future__ import annotations

import functools
import html
import json
import uuid

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from detector.evaluation import evaluate as ev
from detector.evaluation.experiment import fit_uniform

from . import figures, views

_WIDE = widgets.Layout(width="48%")
_STYLE = {"description_width": "initial"}


def render_offline() -> None:
    """Put the JavaScript that draws the figures inside the notebook instead of fetching it from a CDN,
    so that they render with no internet, in JupyterLab and in exported HTML.

    Plotly: its mimetype (drawn by JupyterLab's extension) plus HTML, with plotly.js inlined
    once per kernel. Altair 6's own HTML loads Vega from jsDelivr and JupyterLab 4 draws
    Vega-Lite 5 only, so charts go through :func:`vega_html` instead.
    """
    import altair as alt
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype+notebook"
    alt.renderers.register("offline", vega_html)
    alt.renderers.enable("offline")


@functools.cache
def _vega_bundle() -> str:
    """vega-embed, Vega-Lite and Vega in one script (about 0.9 MB), from the vl-convert package."""
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    return vl_convert.javascript_bundle(vl_version=vl_version_for_vl_convert())


def vega_html(spec: dict, **_) -> dict:
    """An Altair renderer: the chart as HTML that carries Vega with it. Every output holds the
    bundle (a cleared or exported output still draws) but runs it only when the page has no
    ``vegaEmbed`` yet, inside a function so that its names do not clash between outputs."""
    div = f"vega-{uuid.uuid4().hex}"
    data = json.dumps(spec).replace("</", "<\\/")
    script = (f"if (!window.vegaEmbed) {{ (function () {{ {_vega_bundle()}\n }})(); }}\n"
              f"vegaEmbed('#{div}', {data}).catch(console.error);")
    return {"text/html": f'<div id="{div}" style="width: 100%"></div>\n<script type="text/javascript">{script}</script>'}


def redraw(widget: go.FigureWidget, figure: go.Figure) -> None:
    """Show ``figure`` in ``widget``, which keeps its place in the notebook's layout."""
    with widget.batch_update():
        widget.data = ()
        widget.add_traces(figure.data)
        widget.layout = figure.layout


class Tuner(widgets.VBox):
    """The Tune page in a notebook: beta and nu sliders, the metrics table and live figures.

    Parameters
    ----------
    experiment : detector.evaluation.experiment.Experiment
    detector : UniformDetector
        A fitted detector; its MDL is kept when nu changes, and it is used as is for its own nu.
    anomalies : dict
        Anomaly set name -> :class:`detector.anomalies.AnomalySet`.
    beta_weight, conf_weight : float
        Initial beta_2 and beta_3 (beta = :func:`detector.evaluation.evaluate.beta_of` of the two).

    Attributes
    ----------
    table : pandas.DataFrame
        The metrics table shown: :func:`detector.evaluation.evaluate.metrics_table` for :attr:`beta`.
    beta_slider, conf_slider, nu_slider : ipywidgets sliders (set ``.value`` to move them).
    roc, fig7, histograms : plotly.graph_objects.FigureWidget
    """

    def __init__(self, experiment, detector, anomalies: dict, beta_weight: float = 0.5, conf_weight: float = 0.0):
        self.experiment, self.anomalies = experiment, dict(anomalies)
        self.mdl = detector.mdl_
        self.names = experiment.class_names  # an image folder's sub-folder names, or the dataset's
        self._detectors = {float(detector.nu): detector}
        self._data: dict[float, ev.ScoreData] = {}
        self._curves: dict[float, pd.DataFrame] = {}
        self.beta_slider = widgets.FloatSlider(beta_weight, min=0, max=1, step=0.05, description="β₂ logit weight",
                                               continuous_update=False, layout=_WIDE, style=_STYLE)
        self.conf_slider = widgets.FloatSlider(conf_weight, min=0, max=1, step=0.05, description="β₃ confidence weight",
                                               continuous_update=False, layout=_WIDE, style=_STYLE)
        self.nu_slider = widgets.SelectionSlider(options=sorted({*views.NU_CHOICES, float(detector.nu)}),
                                                 value=float(detector.nu),
                                                 description="ν (refits the SVDDs)", continuous_update=False,
                                                 layout=_WIDE, style=_STYLE)
        self.caption, self.metrics = widgets.HTML(), widgets.HTML()
        self.roc, self.fig7, self.histograms = go.FigureWidget(), go.FigureWidget(), go.FigureWidget()
        self.table = pd.DataFrame()
        super().__init__([widgets.HBox([self.beta_slider, self.conf_slider]), self.nu_slider, self.caption,
                          self.metrics, self.roc, self.fig7, self.histograms])
        for moved, other in ((self.beta_slider, self.conf_slider), (self.conf_slider, self.beta_slider)):
            moved.observe(functools.partial(self._weights_moved, other), names="value")
        self.nu_slider.observe(lambda _: self.update(), names="value")
        self.update()

    def _weights_moved(self, other: widgets.FloatSlider, change: dict) -> None:
        """The slider moved keeps its value and the other gives way (β₂ + β₃ ≤ 1), so that the sliders
        read the β in force, as on the Tune page; one update, once both have their values."""
        if change["new"] + other.value > 1:
            self._giving_way = True  # the other slider's own call below must not update half-way
            try:
                other.value = round(1.0 - change["new"], 2)
            finally:
                self._giving_way = False
        if not getattr(self, "_giving_way", False):
            self.update()

    @property
    def beta(self) -> tuple[float, float, float]:
        return ev.beta_of(self.beta_slider.value, self.conf_slider.value)

    @property
    def nu(self) -> float:
        return float(self.nu_slider.value)

    @property
    def data(self) -> ev.ScoreData:
        """The scores of every set under the detector of the current nu (fitted once, then kept)."""
        nu = self.nu
        if nu not in self._data:
            if nu not in self._detectors:
                self._detectors[nu] = fit_uniform(self.experiment, layer=self.mdl, nu=nu)
            self._data[nu] = ev.score_data(self.experiment, self._detectors[nu], self.anomalies)
            self._curves[nu] = ev.auroc_vs_beta(self._data[nu])
        return self._data[nu]

    def update(self) -> None:
        """Recompute the table and redraw the figures for the sliders' values."""
        data, beta = self.data, self.beta
        self.table = ev.metrics_table(data, beta)
        self.caption.value = html.escape(f"β = ({beta[0]:.2f}, {beta[1]:.2f}, {beta[2]:.2f}), ν = {self.nu}, MDL {self.mdl}")
        heads = [f"{w}: TNR@95TPR {h['TNR@95TPR']:.2f}, AUROC {h['AUROC']:.2f}"
                 for w, h in ((w, ev.summary(self.table, w)) for w in ("per-class", "global"))]
        self.metrics.value = (f"<b>{html.escape(' | '.join(heads))}</b> (means over the sets, %)"
                              + self.table.style.format(precision=2).hide(axis="index").to_html())
        curves = {name: ev.roc_points(data, beta, name) for name in data.anomalies}
        points = {name: ev.operating_point(data, beta, name) for name in data.anomalies}
        redraw(self.roc, figures.roc(curves, points))
        redraw(self.fig7, figures.beta_curve(self._curves[self.nu], self.beta_slider.value, "per-class"))
        redraw(self.histograms, figures.histograms(ev.scores_frame(data, beta, self.names), data.thresholds(beta),
                                                   self.names))

    def snapshot(self) -> None:
        """Show the caption, the metrics table and the ROC curves as they are now, as plain outputs: an
        exported HTML page has no kernel and no saved widget state, so the live widget is blank there."""
        from IPython.display import HTML, display

        display(HTML(f"<p><i>As the widget shows it now (a static copy, kept in exported pages)</i>: "
                     f"{self.caption.value}</p>{self.metrics.value}"))
        display(go.Figure(self.roc))


def tuner(experiment, detector, anomalies: dict, beta_weight: float = 0.5, conf_weight: float = 0.0) -> Tuner:
    """The live-tuning widget (see :class:`Tuner`); display it as a notebook cell's last value."""
    return Tuner(experiment, detector, anomalies, beta_weight, conf_weight)
