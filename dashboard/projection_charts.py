"""The UMAP projections as Altair (Vega-Lite) charts: Plotly's hover labels cannot hold an
image, Vega-Lite's can. Drawing only; the points and scores come from dashboard.views."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from .figures import CLASS_COLOURS, set_colours

#: Draw projections on a canvas: thousands of points stay fast (SVG makes a DOM node per point).
CANVAS = {"embedOptions": {"renderer": "canvas"}}


#: Colours of the detector's verdict (and the two ends of the g - tau scale)
VERDICT_COLOURS = {"normal": "#1a9850", "anomaly": "#d73027"}
#: Colour options of a projection: what each colours by
COLOUR_BY = {"set": "the set each input comes from", "true class": "the ID label (anomalies grey)",
             "verdict": "the detector's verdict at the current β: anomaly when g < τ of the predicted class",
             "score": "distance past the threshold, g − τ of the predicted class: white at τ, red below (anomaly), "
                      "green above; the ends are clipped (see the legend)"}
#: The g - tau scale's colours at its low end, at 0 (= tau) and at its high end: a diverging scale
#: pinned at tau (a colour scheme spread over [low, high] put its midpoint near -0.7)
MARGIN_COLOURS = ("#d73027", "#f7f7f7", "#1a9850")
#: The anomalies' colour when points are coloured by their true class (the only grey of that scale)
ANOMALY_GREY = "#bbbbbb"
#: Legends list every entry (10 classes + "anomaly" were cut after the 7th) in rows of this many
LEGEND_COLUMNS = 6


def in_words(margin: float, verdict: str, predicted: str) -> str:
    """A point's verdict as a student reads it (hover).

    >>> in_words(-0.25, "anomaly", "7")
    'anomaly: 0.25 below the threshold of class 7'
    """
    if not np.isfinite(margin):
        return ""
    return f"{verdict}: {abs(margin):.2f} {'below' if margin < 0 else 'above'} the threshold of class {predicted}"


def _terms_line(mdl: float, logit: float, conf: float) -> str:
    """The three normalised scores on one line (1 = the most typical held-out ID input, below 0 = unlike any)."""
    return " · ".join(f"{name} {value:.2f}" for name, value in (("MDL", mdl), ("logit", logit), ("confidence", conf))
                      if np.isfinite(value))


def _projection_data(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """What a projection chart draws and shows on hover (``df`` needs the columns of
    :func:`dashboard.views.with_scores` and an ``image`` column of :func:`dashboard.views.image_urls`);
    ``row`` identifies a point in the selection."""
    return pd.DataFrame({
        "row": df.index, "x": df["x"], "y": df["y"], "set": df["set"], "input": df["index"],
        "predicted": [names[p] for p in df["predicted"]],
        "true class": [names[t] if t >= 0 else "anomaly" for t in df["true"]],
        "g": df["score"], "τ": df["tau"], "g − τ": df["margin"], "verdict": df["verdict"],
        "MDL score": df["mdl"], "logit score": df["logit"], "confidence score": df["conf"],
        "in words": [in_words(m, v, names[p]) for m, v, p in zip(df["margin"], df["verdict"], df["predicted"])],
        "scores": [_terms_line(*t) for t in zip(df["mdl"], df["logit"], df["conf"])],
        "set kind": np.where(df["kind"] == "id", "ID", "anomaly"), "class": df["predicted"],
        "selected": df["selected"] if "selected" in df else False,
        "image": df["image"],  # data URLs: vega-tooltip draws a field titled "image" as the picture
    })


def margin_domain(margin: pd.Series) -> tuple[float, float]:
    """Ends of the g - tau colour scale, centred on 0 (= tau): the 2nd and 98th percentiles, and
    at most 4x the upper end below tau. On LeNet-MNIST, ID inputs lie within +-0.6 of tau and
    Fashion-MNIST mostly within -5, but noise lies at -15 to -30: without the floor every
    anomaly and most ID inputs would share a colour."""
    values = margin.dropna()
    if values.empty:
        return -1.0, 1.0
    hi = max(float(values.quantile(0.98)), 1e-3)
    return max(float(values.quantile(0.02)), -4 * hi), hi


def _encodings(data: pd.DataFrame, colour_by: str, names: list[str]) -> dict:
    legend = alt.Legend(orient="bottom", title=None, columns=LEGEND_COLUMNS, symbolLimit=0, labelLimit=0)
    if colour_by == "score":
        lo, hi = margin_domain(data["g − τ"])
        # on two lines, unlimited: one line was cut at Vega-Lite's 180 px, losing "g − τ" and "0 = τ"
        title = ["g − τ: distance past the threshold", f"(0 = τ; clipped to {lo:.2f} … {hi:.2f})"]
        colour = alt.Color("g − τ:Q", legend=alt.Legend(orient="bottom", title=title, titleLimit=0),
                           scale=alt.Scale(domain=[lo, 0.0, hi], range=list(MARGIN_COLOURS), clamp=True))
    elif colour_by == "verdict":
        colour = alt.Color("verdict:N", legend=alt.Legend(orient="bottom", title="verdict"),
                           scale=alt.Scale(domain=list(VERDICT_COLOURS), range=list(VERDICT_COLOURS.values())))
    elif colour_by == "true class":
        colour = alt.Color("true class:N", legend=legend,
                           scale=alt.Scale(domain=[*names, "anomaly"], range=[*CLASS_COLOURS[:len(names)], ANOMALY_GREY]))
    else:
        colours = set_colours(list(dict.fromkeys(data["set"])))
        colour = alt.Color("set:N", legend=legend, scale=alt.Scale(domain=list(colours), range=list(colours.values())))
    # few lines, in words (12 numeric lines ran off the screen's bottom); scores: 1 = the most typical ID input
    tooltip = ["image:N", "set:N", alt.Tooltip("input:Q", title="#"), alt.Tooltip("predicted:N", title="predicted class"),
               "true class:N", alt.Tooltip("in words:N", title="verdict"),
               alt.Tooltip("g:Q", format=".2f", title="score g (1 = typical)"),
               alt.Tooltip("scores:N", title="its three scores")]
    # with a verdict colour, the shape tells the set apart: crosses that stay green are missed anomalies
    shape = (alt.Shape("set kind:N", scale=alt.Scale(domain=["ID", "anomaly"], range=["circle", "cross"]),
                       legend=alt.Legend(orient="bottom", title="set: ID / anomaly", symbolLimit=0))
             if colour_by in ("score", "verdict") else alt.value("circle"))
    # the selection kept by the page, drawn in every chart (the other layer's too): selected points
    # large and opaque, the rest faded; linked on the server, as Streamlit returns each chart's selection
    marks = dict(opacity=alt.condition("datum.selected", alt.value(0.95), alt.value(0.12)),
                 size=alt.condition("datum.selected", alt.value(70), alt.value(18))) if data["selected"].any() else {}
    return dict(x=alt.X("x:Q", axis=None, scale=alt.Scale(zero=False)),
                y=alt.Y("y:Q", axis=None, scale=alt.Scale(zero=False)),
                color=colour, tooltip=tooltip, shape=shape, **marks)


def _panel(data: pd.DataFrame, encodings: dict, suffix: str, title: str, width, height: int) -> alt.Chart:
    """One projection with click (``pick``) and box (``box``) selections named by ``suffix``."""
    pick = alt.selection_point(f"pick{suffix}", fields=["row"], on="click")
    box = alt.selection_interval(f"box{suffix}")
    return (alt.Chart(data, title=title, width=width, height=height)
            .mark_point(filled=True, size=22, opacity=0.75).encode(**encodings).add_params(pick, box))


def projection(df: pd.DataFrame, colour_by: str, names: list[str], title: str, by_class: bool = False,
               cols: int = 2) -> alt.TopLevelMixin:
    """A UMAP projection (paper Figs 2, 4), or one panel per predicted class, each with its own
    projection (Figs 3, 5, 6). Hover shows the input image; click or drag a box to select."""
    data = _projection_data(df, names)
    encodings = _encodings(data, colour_by, names)
    if not by_class:
        return _panel(data, encodings, "", title, "container", 430).properties(usermeta=CANVAS)
    panels = [_panel(data[data["class"] == c], encodings, f"_{c}", f"predicted {names[c]}", 170, 150)
              for c in range(len(names))]
    return (alt.concat(*panels, columns=cols, title=title).resolve_scale(x="independent", y="independent")
            .properties(usermeta=CANVAS))


def selected_rows(selection, frame: pd.DataFrame) -> list[int]:
    """Rows of ``frame`` clicked or boxed on its :func:`projection` chart (``st.altair_chart``'s
    selection state). A box comes back as x / y ranges of its panel: the rows inside are looked up."""
    rows: list[int] = []
    for name, state in selection.items():
        if not state:
            continue
        if name.startswith("pick"):
            rows += [int(point["row"]) for point in state if "row" in point]
        elif name.startswith("box") and "x" in state and "y" in state:
            part = frame if name == "box" else frame[frame["predicted"] == int(name.removeprefix("box_"))]
            (x0, x1), (y0, y1) = sorted(state["x"]), sorted(state["y"])
            rows += part.index[part["x"].between(x0, x1) & part["y"].between(y0, y1)].tolist()
    return rows


def placed(df: pd.DataFrame, names: list[str], title: str) -> alt.TopLevelMixin:
    """A projection with one extra input (the last row) drawn as a black star."""
    shown, extra = df.iloc[:-1], df.iloc[-1:]
    data = _projection_data(shown, names)
    encodings = _encodings(data, "set", names)
    star = (alt.Chart(pd.DataFrame({"x": extra["x"], "y": extra["y"], "what": ["this input"]}))
            .mark_point(shape="M0,-1L0.3,-0.3L1,-0.3L0.45,0.15L0.6,0.9L0,0.45L-0.6,0.9L-0.45,0.15L-1,-0.3L-0.3,-0.3Z",
                        filled=True, size=400, color="black")
            .encode(x="x:Q", y="y:Q", tooltip=["what:N"]))
    points = alt.Chart(data, title=title, width="container", height=430).mark_point(filled=True, size=22, opacity=0.75)
    return alt.layer(points.encode(**encodings), star).properties(usermeta=CANVAS)
