"""Plotly figures of the dashboard and of notebooks (the projections' Altair charts are in
:mod:`dashboard.projection_charts`): drawing only, every number comes from detector/ or dashboard.views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .messages import chart_text
from .tables import BEST, best_marked  # noqa: F401 - the tables pages and notebooks draw beside the figures

ID_COLOUR = "#2ca02c"  # the paper's figures: ID green, anomalies yellow
SET_COLOURS = ["#f5c518", "#d62728", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#1f77b4"]
# Tableau's ten with navy for its grey: class 7 in grey could not be told from the anomalies' light grey
CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#000075", "#bcbd22", "#17becf"]
TOOLBAR_PX = 36  # Streamlit shows Plotly's toolbar over the top 30 px of a chart's right end: titles go below it


def _top(text: str, height: int) -> dict:
    """The title under the toolbar's band (``<br>`` between lines) and a top margin that leaves room for both."""
    return dict(title=dict(text=text, yref="container", y=1 - TOOLBAR_PX / height, yanchor="top"),
                margin=dict(l=10, r=10, t=TOOLBAR_PX + 22 * (text.count("<br>") + 1) + 8, b=10))


def set_colours(sets: list[str]) -> dict[str, str]:
    colours, k = {}, 0
    for name in sets:
        if name.endswith("(ID)"):
            colours[name] = ID_COLOUR
        else:
            colours[name] = SET_COLOURS[k % len(SET_COLOURS)]
            k += 1
    return colours


def _figure(traces: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts, not validated: Plotly checks every property of every trace,
    which took half of a beta update (the Tune page redraws these figures at each move);
    the dicts here are fixed in code and the tests render every figure."""
    return go.Figure(data=traces, layout=layout, _validate=False)


def roc(curves: dict[str, pd.DataFrame], points: dict[str, tuple[float, float]]) -> go.Figure:
    colours = set_colours(list(curves))
    traces = [dict(type="scatter", x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"), showlegend=False,
                   hoverinfo="skip")]
    for name, curve in curves.items():
        traces.append(dict(type="scatter", x=curve["FPR"].to_numpy(), y=curve["TPR"].to_numpy(), mode="lines",
                           name=chart_text(name), line=dict(color=colours[name])))
        fpr, tpr = points[name]
        traces.append(dict(type="scatter", x=[fpr], y=[tpr], mode="markers", showlegend=False,
                           name=f"{chart_text(name)}: per-class τ",
                           marker=dict(size=10, symbol="star", color=colours[name]),
                           hovertemplate="per-class thresholds τ_i<br>FPR %{x:.3f}, TPR %{y:.3f}<extra></extra>"))
    layout = dict(height=380, **_top("ROC (global ranking; ★ = per-class thresholds)", 380),
                  xaxis=dict(title=dict(text="anomalies accepted (FPR)")), yaxis=dict(title=dict(text="ID accepted (TPR)")))
    return _figure(traces, layout)


def _grid_axes(n: int, cols: int, hgap: float = 0.03, vgap: float = 0.12) -> tuple[dict, list[tuple[str, str]]]:
    """Layout axes of an n-panel grid (what make_subplots builds, without its cost) and each panel's axis ids."""
    rows = -(-n // cols)
    width, height = (1 - hgap * (cols - 1)) / cols, (1 - vgap * (rows - 1)) / rows
    layout, ids = {}, []
    for k in range(n):
        r, c = divmod(k, cols)
        x0, y1 = c * (width + hgap), 1 - r * (height + vgap)
        suffix = "" if k == 0 else str(k + 1)
        clip = lambda v: float(min(1.0, max(0.0, round(v, 6))))  # noqa: E731
        layout[f"xaxis{suffix}"] = dict(domain=[clip(x0), clip(x0 + width)], anchor=f"y{suffix}")
        layout[f"yaxis{suffix}"] = dict(domain=[clip(y1 - height), clip(y1)], anchor=f"x{suffix}")
        ids.append((f"x{suffix}", f"y{suffix}"))
    return layout, ids


def histogram_range(scores: pd.Series, tau: np.ndarray) -> tuple[float, float]:
    """x-range of the score histograms: up to the highest score, kept within 1 (the most normal
    held-out ID value) and 1.5, and down to twice that span below the lowest tau, or the 1st
    percentile if it is higher. On LeNet-MNIST noise scores reach -40 while ID scores lie in
    0 ... 1: on a full axis the ID bars were squashed against tau. Scores beyond the range go
    to overflow bins."""
    values = scores.dropna()
    hi = float(np.clip(values.max(), 1.0, 1.5)) if len(values) else 1.0
    low_tau = float(np.min(tau))
    lo = max(float(values.quantile(0.01)) if len(values) else low_tau - 1, low_tau - 2 * (hi - low_tau))
    return min(lo, low_tau - 0.1), hi


def _ticks(lo: float, hi: float, size: float, under: bool, over: bool) -> tuple[list[float], list[str]]:
    """At most three round ticks inside [lo, hi], plus "≤ lo" / "≥ hi" at the overflow bins
    (few and short: a panel of a five-column grid is about 200 px wide)."""
    step = next(s for s in (0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 1e9) if (hi - lo) / s <= 3)
    keep = 0.2 * (hi - lo)  # no round tick that close to an overflow label
    vals = [v for v in np.arange(np.ceil(lo / step) * step, hi + 1e-9, step)
            if (not under or v - lo > keep) and (not over or hi - v > keep)]
    text = [f"{v:g}" for v in np.round(vals, 6)]
    if under:
        vals, text = [lo - size / 2, *vals], [f"≤ {lo:.1f}", *text]
    if over:
        vals, text = [*vals, hi + size / 2], [*text, f"≥ {hi:.1f}"]
    return [float(v) for v in vals], text


def histograms(scores: pd.DataFrame, tau: np.ndarray, names: list[str], cols: int = 5, bins: int = 30) -> go.Figure:
    """Score histograms per predicted class, ID vs each anomaly set, with the class threshold tau_i.

    The x-axis is :func:`histogram_range`, with overflow bins for what lies beyond it; a bar
    that rises above the panel (far anomalies piled in an overflow bin) is cut and its share
    written over it, so that the ID bars keep their height. Bars are counted here (numpy) and
    drawn in one constructor call (no make_subplots / add_vline): a beta move redraws it.
    """
    rows = -(-len(names) // cols)
    layout, ids = _grid_axes(len(names), cols, hgap=0.045)
    colours = set_colours(list(scores["set"].unique()))
    lo, hi = histogram_range(scores["score"], tau)
    size = (hi - lo) / bins
    edges = np.r_[lo - size, np.linspace(lo, hi, bins + 1), hi + size]  # first and last: the overflow bins
    centres = (edges[:-1] + edges[1:]) / 2
    values = scores["score"].to_numpy()
    under, over = bool((values < lo).any()), bool((values > hi).any())
    tickvals, ticktext = _ticks(lo, hi, size, under, over)
    traces, shapes, notes, seen = [], [], [], set()
    predicted, set_of = scores["predicted"].to_numpy(), scores["set"].to_numpy()
    sets = list(dict.fromkeys(set_of))  # arrays, not pandas selections: this runs at every beta move
    for c, (xa, ya) in enumerate(ids):
        heights, cut = [], []
        for name in sets:
            chosen = values[(predicted == c) & (set_of == name)]
            if not len(chosen):
                continue
            counts = np.histogram(np.clip(chosen, edges[0], edges[-1]), edges)[0]
            share = counts / max(1, counts.sum())
            traces.append(dict(type="bar", x=centres, y=share, width=size, customdata=counts, name=chart_text(name),
                               legendgroup=name, marker=dict(color=colours[name]), opacity=0.6,
                               showlegend=name not in seen, xaxis=xa, yaxis=ya,
                               hovertemplate="%{fullData.name}<br>%{customdata} inputs (%{y:.1%})<extra></extra>"))
            seen.add(name)  # one legend entry per set, wherever it is first drawn
            heights.append(share[1:-1].max())
            cut += [(k, name, share[k]) for k in (0, len(share) - 1) if share[k] > 0]
        top = 1.15 * max([*heights, 0.05])
        layout[f"yaxis{ya[1:]}"].update(range=[0, top], tickformat=".0%", nticks=3, tickfont=dict(size=10))
        layout[f"xaxis{xa[1:]}"].update(range=[edges[0], edges[-1]], tickvals=tickvals, ticktext=ticktext, tickangle=0,
                                         tickfont=dict(size=10))
        for k in (0, len(edges) - 2):
            tall = [f"<span style='color:{colours[n]}'>{v:.0%}</span>" for j, n, v in cut if j == k and v > top]
            if tall:
                notes.append(dict(text="↑" + " ".join(tall), x=centres[k], y=top, xref=xa, yref=ya, showarrow=False,
                                  xanchor="left" if k == 0 else "right", yanchor="top", font=dict(size=10)))
        shapes.append(dict(type="line", xref=xa, yref=f"{ya} domain", x0=tau[c], x1=tau[c], y0=0, y1=1,
                           line=dict(color="black", dash="dash", width=1)))
        domain = layout[f"xaxis{xa[1:]}"]["domain"]
        panel_top = layout[f"yaxis{ya[1:]}"]["domain"][1]
        notes.append(dict(text=f"{chart_text(names[c])}: τ={tau[c]:.2f}", x=sum(domain) / 2, y=panel_top, xref="paper",
                          yref="paper", xanchor="center", yanchor="bottom", showarrow=False))
    height = 200 * rows + 130
    layout.update(barmode="overlay", height=height, shapes=shapes, annotations=notes,
                  legend=dict(orientation="h", y=-0.12, title=dict(text="set")),
                  **_top("g_i(x) per predicted class (dashed: τ_i)<br>share of each set's inputs predicted as that "
                         "class; ≤ / ≥: overflow bins", height))
    return _figure(traces, layout)


def beta_curve(curve: pd.DataFrame, weight: float, weighting: str) -> go.Figure:
    part = curve[curve["weighting"] == weighting]
    colours = set_colours(list(part["anomaly set"].unique()))
    traces = [dict(type="scatter", x=group["logit weight"].to_numpy(), y=group["AUROC"].to_numpy(), mode="lines+markers",
                   name=chart_text(name), line=dict(color=colours[name]))
              for name, group in part.groupby("anomaly set", sort=False)]
    layout = dict(**_top(f"AUROC against β₂ (Fig. 7; {weighting})<br>along the paper's edge, β₃ = 0", 400),
                  xaxis=dict(title=dict(text="β₂ = logit weight (β₁ = 1 − β₂)")), yaxis=dict(title=dict(text="AUROC %")),
                  height=400,
                  shapes=[dict(type="line", x0=weight, x1=weight, y0=0, y1=1, xref="x", yref="y domain",
                               line=dict(color="black", dash="dash"))])
    return _figure(traces, layout)


def ternary(grid: pd.DataFrame, beta, anomaly: str | None, weighting: str = "per-class") -> go.Figure:
    """AUROC over the beta simplex (a grid from :func:`detector.evaluation.evaluate.auroc_over_simplex`):
    one anomaly set, or the mean over the sets when ``anomaly`` is None. The paper's edge
    (beta_3 = 0) is drawn as a line; the current beta as a star."""
    part = grid[grid["weighting"] == weighting]
    if anomaly is not None:
        part = part[part["anomaly set"] == anomaly]
    corners = ["β₁ MDL", "β₂ logit", "β₃ confidence"]
    mean = part.groupby(corners, as_index=False)["AUROC"].mean()
    edge = mean[mean["β₃ confidence"] == 0].sort_values("β₂ logit")
    def corner_values(frame: pd.DataFrame) -> dict:
        return dict(a=frame[corners[0]].to_numpy(), b=frame[corners[1]].to_numpy(), c=frame[corners[2]].to_numpy())

    traces = [
        dict(type="scatterternary", **corner_values(mean), mode="markers", name="AUROC",
             marker=dict(size=14, color=mean["AUROC"].to_numpy(), colorscale="Viridis", showscale=True,
                         colorbar=dict(title=dict(text="AUROC %"))),
             hovertemplate="β = (%{a:.2f}, %{b:.2f}, %{c:.2f})<br>AUROC %{marker.color:.2f}<extra></extra>"),
        dict(type="scatterternary", **corner_values(edge), mode="lines", name="the paper (β₃ = 0)",
             line=dict(color="black", dash="dot"), hoverinfo="skip"),
        dict(type="scatterternary", a=[beta[0]], b=[beta[1]], c=[beta[2]], mode="markers", name="β now",
             marker=dict(size=18, symbol="star", color="red", line=dict(color="white", width=1))),
    ]
    title = f"AUROC over β ({'mean over the sets' if anomaly is None else chart_text(anomaly)}; {weighting})"
    top = _top(title, 450)
    layout = dict(title=top["title"], height=450, margin=dict(l=40, r=40, t=top["margin"]["t"] + 30, b=30),
                  ternary=dict(aaxis=dict(title=dict(text="β₁ MDL")), baxis=dict(title=dict(text="β₂ logit")),
                               caxis=dict(title=dict(text="β₃ conf."))),
                  legend=dict(orientation="h", y=-0.05))
    return _figure(traces, layout)


def layer_bars(table: pd.DataFrame) -> go.Figure:
    part = table.dropna(subset=["mix error %"])
    colours = ["#d62728" if m else "#1f77b4" for m in part["MDL"]]
    fig = go.Figure(go.Bar(x=part["layer"].map(chart_text), y=part["mix error %"], marker_color=colours,
                           text=[f"{v:.1f}" for v in part["mix error %"]], textposition="outside"))
    fig.update_layout(**_top("Errors on held-out ID + mix set per layer (red: the MDL)", 330), yaxis_title="error %",
                      height=330)
    return fig


def layer_aurocs(table: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    cols = [c for c in table.columns if c.startswith("AUROC ")]
    colours = set_colours([c[6:] for c in cols])
    for col in cols:
        fig.add_trace(go.Scatter(x=table["layer"].map(chart_text), y=table[col], mode="lines+markers", name=chart_text(col[6:]),
                                 line=dict(color=colours[col[6:]])))
    fig.update_layout(**_top("AUROC of each layer's SVDD alone (per-class weighted)", 350), yaxis_title="AUROC %",
                      height=350)
    return fig


def score_plane(scores: pd.DataFrame, line, title: str, marker: tuple[float, float] | None = None,
                floor: float = -1.5) -> go.Figure:
    """Inputs in the (MDL score, logit score) plane with the decision line beta . s = tau_i.

    Scores below ``floor`` (far outside the SVDD sphere) are drawn on the floor, as crosses.
    """
    colours = set_colours(list(scores["set"].unique()))
    fig = go.Figure()
    for name, group in scores.groupby("set", sort=False):
        x, y = group["MDL score"].clip(lower=floor), group["logit score"].clip(lower=floor)
        clipped = (group["MDL score"] < floor) | (group["logit score"] < floor)
        fig.add_trace(go.Scattergl(x=x, y=y, mode="markers", name=chart_text(name),
                                   customdata=np.column_stack([group["MDL score"], group["logit score"]]),
                                   hovertemplate="MDL %{customdata[0]:.3f}, logit %{customdata[1]:.3f}<extra></extra>",
                                   marker=dict(size=5, color=colours[name], opacity=0.7,
                                               symbol=np.where(clipped, "x", "circle"))))
    if line is not None:
        fig.add_trace(go.Scatter(x=line[0], y=line[1], mode="lines", name="g = τ", line=dict(color="black", dash="dash")))
    if marker is not None:
        fig.add_trace(go.Scatter(x=[max(marker[0], floor)], y=[max(marker[1], floor)], mode="markers", name="this input",
                                 marker=dict(size=16, symbol="star", color="black")))
    fig.update_layout(**_top(title, 460), xaxis_title=f"MDL score (normalised; below {floor} drawn at {floor})",
                      yaxis_title="logit score (normalised)", xaxis_range=[floor - 0.1, 1.15],
                      yaxis_range=[floor - 0.1, 1.15], height=460)
    return fig


def term_bars(values: list[float], taus: list[float], names: list[str], weights: list[float] | None = None,
              floor: float = -1.5) -> go.Figure:
    """One bar per term (and g) with its own threshold τ as a black tick: red below it, green above;
    a term of weight 0 (``weights``, one per bar) is grey and named as not counting, whatever its value.

    Values below ``floor`` are drawn at the floor (the hover tells the true value)."""
    weights = [1.0] * len(values) if weights is None else list(weights)
    names = [chart_text(name) for name in names]
    shown = [max(v, floor) for v in values]
    below = [v < t for v, t in zip(values, taus)]
    words = [f"{v:.3f}, {'below' if b else 'above'} its τ {t:.3f} by {abs(v - t):.3f}"
             + ("" if w else "; weight 0: does not count")
             for v, t, b, w in zip(values, taus, below, weights)]
    colours = [IGNORED_COLOUR if not w else "#d62728" if b else ID_COLOUR for b, w in zip(below, weights)]
    labels = [name if w else f"{name} (weight 0: does not count)" for name, w in zip(names, weights)]
    fig = go.Figure([
        go.Bar(y=labels, x=shown, orientation="h", name="value", customdata=words, hovertemplate="%{customdata}<extra></extra>",
               marker_color=colours, text=[f"{v:.2f}" for v in values], textposition="outside", cliponaxis=False),
        go.Scatter(y=labels, x=taus, mode="markers", name="its τ_i", hoverinfo="skip",
                   marker=dict(symbol="line-ns", size=26, line=dict(width=3, color="black"))),
    ])
    fig.update_layout(**_top("Each term against its own threshold (red: below it; grey: weight 0)", 110 + 45 * len(names)),
                      height=110 + 45 * len(names),
                      xaxis=dict(range=[min(floor, *shown) - 0.1, 1.3], title="normalised score (1 = most typical)"),
                      yaxis=dict(autorange="reversed"), showlegend=True,
                      legend=dict(orientation="h", y=-0.35))
    return fig


IGNORED_COLOUR = "#bdbdbd"  # a term that does not count (weight 0)
