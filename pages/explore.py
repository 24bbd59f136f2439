"""Explore layers: UMAP of the MDL and the logits, ID vs anomalies, overall and per class (Figs 2-6)."""

import streamlit as st

from dashboard import loaders, projection_charts, shared, views
from dashboard.glossary import explain
from dashboard.messages import literal
from dashboard.page_helpers import enlarge_tooltip_images, need_anomalies
from dashboard.sidebar import context
from dashboard.state import EXPLORE_CHARTS, EXPLORE_SEEN, EXPLORE_SELECTION, chart_selection
from detector.evaluation import projection
from detector.inputs.images import image_file_bytes as images_npz
from detector.method.features import LOGITS

ctx = context()
need_anomalies(ctx)
enlarge_tooltip_images()
st.title("Explore layers")
st.caption(f"UMAP of layer features: {literal(ctx.experiment.id_dataset)} test inputs (ID, green) against the chosen "
           f"anomaly sets, {ctx.points} of each. Each projection is fitted on all the points it shows; the per-class views are "
           "fitted per predicted class, as in the paper's Figs 2-6. Hover over a point to see the input; click it "
           "(shift-click for more) or drag a box to show the selected inputs below, highlighted in both layers; "
           "double-click clears. Verdicts and g − τ use β from the Tune page.")
with st.expander("What do ID, OOD, MDL and UMAP mean?"):
    st.markdown(explain("ID", "OOD", "MDL", "UMAP"))

c1, c2, c3 = st.columns([2, 1, 1])
colour_by = c1.radio("Colour by", list(projection_charts.COLOUR_BY), horizontal=True, key="explore_colour",
                     help="  \n".join(f"**{k}**: {v}" for k, v in projection_charts.COLOUR_BY.items()))
n_neighbors = c2.slider("n_neighbors", 5, 50, projection.DEFAULT_NEIGHBORS, 5, key="explore_neighbors",
                        help="UMAP: how many neighbours shape each point's place; larger keeps more global structure")
min_dist = c3.slider("min_dist", 0.0, 0.99, projection.DEFAULT_MIN_DIST, 0.05, key="explore_min_dist",
                     help="UMAP: how tightly points may pack; smaller gives denser clusters")

layers = (ctx.detector.mdl_, LOGITS)
points = loaders.explore_points(ctx.ids, layers, ctx.points)
model = shared.fingerprint(ctx.ids)  # the scored points and their places are shared by the sessions that ask for the same
meta = shared.explore_scores(ctx.ids, model, layers, ctx.points, ctx.beta)  # beta from Tune
images = loaders.explore_image_urls(ctx.ids, layers, ctx.points)
VIEWS = ["Overall (Figs 2, 4)", "Per predicted class (Figs 3, 5, 6)"]
view = st.segmented_control("View", VIEWS, default=VIEWS[0], key="explore_view",
                            help="Figure numbers of the paper (Zhao et al.) that each view reproduces") or VIEWS[0]


def projected(layer: str, by_class: bool):
    feats = points.features[layer]
    args = (points.key, layer, n_neighbors, min_dist)
    if not projection.is_cached(points.key, layer, feats, n_neighbors, min_dist, per_class=by_class):
        what = "one projection per class" if by_class else "one projection"
        slot = st.empty()
        with slot.status(f"UMAP of {literal(layer)}: {what} of {len(feats)} points (first time only; cached)…", expanded=True):
            bar = st.progress(0.0)
            report = lambda f, text: bar.progress(min(1.0, f), text=literal(text))  # noqa: E731
            if by_class:
                projection.project_per_class(feats, meta["predicted"].to_numpy(), *args, progress=report)
            else:
                projection.project(feats, *args)
        slot.empty()
    return shared.explore_frame(ctx.ids, model, layers, ctx.points, ctx.beta, layer, n_neighbors, min_dist, by_class)


# The selection lives in session_state, not in the charts: each view draws other charts (their
# selections start empty), and every chart highlights it, so a box in one layer shows the same
# inputs in the other. A chart's selection (read before it is drawn) counts only when it changed
# since that chart's last run; another set of points (sidebar) starts a new selection.
by_class = view == VIEWS[1]
frames = {layer: projected(layer, by_class) for layer in layers}
# "Clear selection" starts new charts (another key): a chart keeps drawing its own box otherwise
drawn = EXPLORE_CHARTS.get()
keys = {layer: f"umap_{'class_' if by_class else ''}{layer}" + (f"_{drawn}" if drawn else "") for layer in layers}
points_id = repr(points.key)
kept = EXPLORE_SELECTION.get()
selection = set(kept.get("rows", ())) if kept.get("points") == points_id else set()
seen, last_seen = {}, EXPLORE_SEEN.get()
for layer, key in keys.items():
    seen[key] = sorted(set(projection_charts.selected_rows(chart_selection(key).get("selection", {}), frames[layer])))
    if seen[key] != last_seen.get(key, []):
        selection = set(seen[key])
EXPLORE_SEEN.set(seen)  # charts not drawn this run start empty when drawn again
EXPLORE_SELECTION.set({"points": points_id, "rows": sorted(selection)})

for col, layer in zip(st.columns(2), layers):
    name = f"{layer} (MDL)" if layer == ctx.detector.mdl_ else layer
    frame = frames[layer]
    chart = projection_charts.projection(frame.assign(image=images, selected=frame.index.isin(selection)), colour_by,
                                         ctx.class_names, f"{name} per predicted class" if by_class else name,
                                         by_class=by_class)
    col.altair_chart(chart, key=keys[layer], on_select="rerun", width="content" if by_class else "stretch")

st.subheader("Selected inputs")
if not selection:
    st.caption("Nothing selected yet: click a point, or drag a box on any projection. The selection is kept "
               "when you switch views and is highlighted in both layers.")
else:
    rows = meta.loc[sorted(selection)]
    shown, counts = views.sample_selection(rows, 60)
    left, mid, right = st.columns([3, 1, 1])
    left.caption(f"{len(rows)} selected ({', '.join(f'{literal(name)}: {n}' for name, n in counts.items())}); "
                 + (f"showing {len(shown)}, drawn from every set in proportion; " if len(shown) < len(rows) else "")
                 + f"verdicts at β = ({', '.join(f'{b:.2f}' for b in ctx.beta)}): ✓ normal, ✗ anomaly (g < τ).")
    mid.download_button("Images (.npz)", images_npz(points.images[rows.index.to_numpy()]), "selection.npz",
                        help="an .npz with an array 'images' (N, C, H, W) as `check --images` reads", key="explore_npz",
                        on_click="ignore")
    right.download_button("Table (.csv)", views.selection_table(rows, ctx.class_names).to_csv(index=False),
                          "selection.csv", help="set, classes, normalised scores, τ and verdict of each input",
                          key="explore_csv", on_click="ignore")
    if st.button("Clear selection", key="explore_clear"):
        EXPLORE_SELECTION.set({})
        EXPLORE_CHARTS.set(drawn + 1)
        st.rerun()
    st.image(views.display_images(points.images[shown.index.to_numpy()]), width=84,
             caption=[f"{'✗' if r.verdict == 'anomaly' else '✓'} {literal(r.set)} #{r.index}: "
                      f"pred {literal(ctx.class_names[r.predicted])}, "
                      f"g={r.score:.2f} {'<' if r.verdict == 'anomaly' else '≥'} τ={r.tau:.2f}" for r in shown.itertuples()])
