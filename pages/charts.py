"""Plotly figures for the pages: drawing only, every number comes from detector.dashboard_data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

ID_COLOUR = "#2ca02c"  # the paper's figures: ID green, anomalies yellow
SET_COLOURS = ["#f5c518", "#d62728", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#1f77b4"]
CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
HOVER = ("<b>%{customdata[1]}</b> #%{customdata[2]}<br>predicted %{customdata[3]} · true %{customdata[4]}"
         "<br>score %{customdata[5]:.3f} (MDL %{customdata[6]:.3f}, logit %{customdata[7]:.3f})<extra></extra>")


def set_colours(sets: list[str]) -> dict[str, str]:
    colours, k = {}, 0
    for name in sets:
        if name.endswith("(ID)"):
            colours[name] = ID_COLOUR
        else:
            colours[name] = SET_COLOURS[k % len(SET_COLOURS)]
            k += 1
    return colours


def _customdata(df: pd.DataFrame, names: list[str]) -> np.ndarray:
    true = [names[t] if t >= 0 else "–" for t in df["true"]]
    pred = [names[p] for p in df["predicted"]]
    return np.column_stack([df.index.to_numpy(), df["set"], df["index"], pred, true, df["score"], df["mdl"], df["logit"]])


def _traces(df: pd.DataFrame, colour_by: str, names: list[str], size: int, showlegend: bool, score_range):
    """Scattergl traces of one panel; ``df`` has x, y, set, true, predicted, score, mdl, logit."""
    traces = []
    if colour_by == "score":
        traces.append(go.Scattergl(
            x=df["x"], y=df["y"], mode="markers", customdata=_customdata(df, names), hovertemplate=HOVER,
            marker=dict(size=size, color=df["score"], colorscale="RdYlGn", cmin=score_range[0], cmax=score_range[1],
                        colorbar=dict(title="score", thickness=10) if showlegend else None, showscale=showlegend,
                        symbol=[("circle" if k == "id" else "x") for k in df["kind"]]),
            name="score", showlegend=False))
        return traces
    if colour_by == "true class":
        groups = [(names[t] if t >= 0 else "anomaly", df[df["true"] == t]) for t in sorted(df["true"].unique())]
        colours = {names[i]: CLASS_COLOURS[i % 10] for i in range(len(names))} | {"anomaly": "#bbbbbb"}
    else:
        groups = [(s, df[df["set"] == s]) for s in df["set"].unique()]
        colours = set_colours([g for g, _ in groups])
    for label, part in groups:
        traces.append(go.Scattergl(
            x=part["x"], y=part["y"], mode="markers", name=label, legendgroup=label, showlegend=showlegend,
            customdata=_customdata(part, names), hovertemplate=HOVER,
            marker=dict(size=size, color=colours[label], opacity=0.75, line=dict(width=0))))
    return traces


def scatter(df: pd.DataFrame, colour_by: str, names: list[str], title: str, height: int = 430) -> go.Figure:
    fig = go.Figure(_traces(df, colour_by, names, 5, True, (df["score"].quantile(0.02), df["score"].quantile(0.98))))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10), dragmode="lasso",
                      legend=dict(orientation="h", y=-0.05), xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False))
    return fig


def placed(df: pd.DataFrame, names: list[str], title: str) -> go.Figure:
    """A projection with one extra input (the last row) drawn as a black star."""
    shown, extra = df.iloc[:-1].assign(score=0.0), df.iloc[-1]
    fig = go.Figure(_traces(shown, "set", names, 5, True, (0, 1)))
    fig.add_trace(go.Scatter(x=[extra["x"]], y=[extra["y"]], mode="markers", name="this input",
                             marker=dict(size=18, symbol="star", color="black")))
    fig.update_layout(title=title, height=430, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.05),
                      xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False))
    return fig


def class_grid(df: pd.DataFrame, colour_by: str, names: list[str], title: str, cols: int = 5) -> go.Figure:
    """One panel per predicted class, each with its own projection (paper Figs 3, 5, 6)."""
    classes = list(range(len(names)))
    rows = -(-len(classes) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"predicted {names[c]}" for c in classes],
                        horizontal_spacing=0.02, vertical_spacing=0.08)
    score_range = (df["score"].quantile(0.02), df["score"].quantile(0.98))
    for k, c in enumerate(classes):
        part = df[df["predicted"] == c]
        for trace in _traces(part, colour_by, names, 5, k == 0, score_range):
            fig.add_trace(trace, row=k // cols + 1, col=k % cols + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(title=title, height=230 * rows + 60, margin=dict(l=10, r=10, t=60, b=10), dragmode="lasso",
                      legend=dict(orientation="h", y=-0.04))
    return fig


def roc(curves: dict[str, pd.DataFrame], points: dict[str, tuple[float, float]]) -> go.Figure:
    colours = set_colours(list(curves))
    traces = [dict(type="scatter", x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"), showlegend=False,
                   hoverinfo="skip")]
    for name, curve in curves.items():
        traces.append(dict(type="scatter", x=curve["FPR"].to_numpy(), y=curve["TPR"].to_numpy(), mode="lines", name=name,
                           line=dict(color=colours[name])))
        fpr, tpr = points[name]
        traces.append(dict(type="scatter", x=[fpr], y=[tpr], mode="markers", showlegend=False, name=f"{name}: per-class τ",
                           marker=dict(size=10, symbol="star", color=colours[name]),
                           hovertemplate="per-class thresholds τ_i<br>FPR %{x:.3f}, TPR %{y:.3f}<extra></extra>"))
    layout = dict(title=dict(text="ROC (global ranking; ★ = per-class thresholds)"), height=380,
                  xaxis=dict(title=dict(text="anomalies accepted (FPR)")), yaxis=dict(title=dict(text="ID accepted (TPR)")),
                  margin=dict(l=10, r=10, t=40, b=10))
    return go.Figure(data=traces, layout=layout)


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


def histograms(scores: pd.DataFrame, tau: np.ndarray, names: list[str], cols: int = 5) -> go.Figure:
    """Score histograms per predicted class, ID vs each anomaly set, with the class threshold tau_i.

    Built in one constructor call (no make_subplots / add_vline): a beta move redraws it.
    """
    rows = -(-len(names) // cols)
    layout, ids = _grid_axes(len(names), cols)
    colours = set_colours(list(scores["set"].unique()))
    lo, hi = float(np.nanquantile(scores["score"], 0.01)), max(1.0, float(scores["score"].max()))
    bins = dict(start=lo, end=hi, size=(hi - lo) / 30)
    traces, shapes, titles = [], [], []
    for c, (xa, ya) in enumerate(ids):
        part = scores[scores["predicted"] == c]
        for name, group in part.groupby("set", sort=False):
            traces.append(dict(type="histogram", x=group["score"].clip(lower=lo).to_numpy(), xbins=bins, name=name,
                               legendgroup=name, marker=dict(color=colours[name]), opacity=0.6,
                               showlegend=bool(c == 0), histnorm="probability", xaxis=xa, yaxis=ya))
        shapes.append(dict(type="line", xref=xa, yref=f"{ya} domain", x0=tau[c], x1=tau[c], y0=0, y1=1,
                           line=dict(color="black", dash="dash", width=1)))
        domain = layout[f"xaxis{xa[1:]}"]["domain"]
        top = layout[f"yaxis{ya[1:]}"]["domain"][1]
        titles.append(dict(text=f"{names[c]}: τ={tau[c]:.2f}", x=sum(domain) / 2, y=top, xref="paper", yref="paper",
                           xanchor="center", yanchor="bottom", showarrow=False))
    layout.update(barmode="overlay", height=200 * rows + 80, margin=dict(l=10, r=10, t=50, b=10), shapes=shapes,
                  annotations=titles, legend=dict(orientation="h", y=-0.08),
                  title=dict(text="g_i(x) per predicted class (dashed: τ_i)"))
    return go.Figure(data=traces, layout=layout)


def beta_curve(curve: pd.DataFrame, weight: float, weighting: str) -> go.Figure:
    part = curve[curve["weighting"] == weighting]
    colours = set_colours(list(part["anomaly set"].unique()))
    fig = go.Figure()
    for name, group in part.groupby("anomaly set", sort=False):
        fig.add_trace(go.Scatter(x=group["logit weight"], y=group["AUROC"], mode="lines+markers", name=name,
                                 line=dict(color=colours[name])))
    fig.add_vline(x=weight, line=dict(color="black", dash="dash"))
    fig.update_layout(title=f"AUROC against β₂ (paper Fig. 7; {weighting})", xaxis_title="β₂ = logit weight (β₁ = 1 − β₂)",
                      yaxis_title="AUROC %", height=380, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def layer_bars(table: pd.DataFrame) -> go.Figure:
    part = table.dropna(subset=["mix error %"])
    colours = ["#d62728" if m else "#1f77b4" for m in part["MDL"]]
    fig = go.Figure(go.Bar(x=part["layer"], y=part["mix error %"], marker_color=colours,
                           text=[f"{v:.1f}" for v in part["mix error %"]], textposition="outside"))
    fig.update_layout(title="Errors on held-out ID + mix set per layer (red: the MDL)", yaxis_title="error %",
                      height=320, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def layer_aurocs(table: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    cols = [c for c in table.columns if c.startswith("AUROC ")]
    colours = set_colours([c[6:] for c in cols])
    for col in cols:
        fig.add_trace(go.Scatter(x=table["layer"], y=table[col], mode="lines+markers", name=col[6:],
                                 line=dict(color=colours[col[6:]])))
    fig.update_layout(title="AUROC of each layer's SVDD alone (per-class weighted)", yaxis_title="AUROC %",
                      height=340, margin=dict(l=10, r=10, t=40, b=10))
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
        fig.add_trace(go.Scattergl(x=x, y=y, mode="markers", name=name,
                                   customdata=np.column_stack([group["MDL score"], group["logit score"]]),
                                   hovertemplate="MDL %{customdata[0]:.3f}, logit %{customdata[1]:.3f}<extra></extra>",
                                   marker=dict(size=5, color=colours[name], opacity=0.7,
                                               symbol=np.where(clipped, "x", "circle"))))
    if line is not None:
        fig.add_trace(go.Scatter(x=line[0], y=line[1], mode="lines", name="g = τ", line=dict(color="black", dash="dash")))
    if marker is not None:
        fig.add_trace(go.Scatter(x=[max(marker[0], floor)], y=[max(marker[1], floor)], mode="markers", name="this input",
                                 marker=dict(size=16, symbol="star", color="black")))
    fig.update_layout(title=title, xaxis_title=f"MDL score (normalised; below {floor} drawn at {floor})",
                      yaxis_title="logit score (normalised)", xaxis_range=[floor - 0.1, 1.15],
                      yaxis_range=[floor - 0.1, 1.15], height=440, margin=dict(l=10, r=10, t=40, b=10))
    return fig


BEST = "font-weight:bold;color:#1b5e20"


def best_marked(table: pd.DataFrame, precision: int = 2, columns: list[str] | None = None):
    """A table as text ("–" where a number is missing) with the highest value of each of ``columns``
    (default: every numeric column) in bold."""
    numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    columns = numeric if columns is None else columns
    text = table.copy()
    for c in numeric:
        integer = pd.api.types.is_integer_dtype(table[c])
        text[c] = [("–" if pd.isna(v) else str(v) if integer else f"{v:.{precision}f}") for v in table[c]]
    text = text.astype({c: str for c in numeric})
    best = {c: table[c].max() for c in columns}

    def mark(col):
        if col.name not in best:
            return [""] * len(col)
        return [BEST if (not pd.isna(v) and v == best[col.name]) else "" for v in table[col.name]]

    return text.style.apply(mark, axis=0)
