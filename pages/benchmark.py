"""Benchmark: every detection method that exists against the chosen anomaly sets, paper figures beside."""

import streamlit as st

from dashboard import benchmark_view, figures, methods
from dashboard.messages import literal
from dashboard.page_helpers import need_anomalies
from dashboard.sidebar import context
from detector.evaluation.benchmark import METHODS, cached_cell, run_benchmark, wide_tables
from detector.evaluation.paper import paper_table

ctx = context()
need_anomalies(ctx)
st.title("Benchmark")
st.caption("Methods are read from the registry (ours plus the baselines in `detector/baselines`). Cells are computed "
           "on request and cached on disk, shared with `python -m detector report`; values in %, best per column in "
           "bold green. Ours here is the default detector (MDL chosen on the mix set, β = (0.5, 0.5), ν = 0.1).")

chosen = st.multiselect("Methods", list(METHODS), default=[m for m in ("ours", "msp", "odin", "mahalanobis", "elo")
                                                            if m in METHODS], key="bench_methods")
weighting = st.radio("Weighting", ["per-class", "global"], horizontal=True, key="bench_weighting",
                     help="per-class: the paper's weighted metrics with per-class thresholds; global: one threshold.")
report = benchmark_view.builtin_report(ctx.ids)  # the committed report's cells: shown at once, marked
rows, missing, from_report = [], [], set()
for method in chosen:
    for name, anomaly in ctx.anomalies.items():
        cell = cached_cell(ctx.experiment, method, anomaly)
        if cell is None and report is not None and (cell := report.cell(method, name)):
            from_report.add((method, name))
        if cell:
            rows += cell
        else:
            missing.append((method, name))
if from_report:
    st.caption(f"† {len(from_report)} cell(s) come from the committed report of {report.date or 'this project'} "
               f"(docs/{report.path.name}), made with the same shipped network; the others are computed here.")

with st.expander("What each method is"):
    st.markdown("  \n".join(methods.describe(m) for m in chosen) or "Choose methods above.")


def compute(cells: list[tuple[str, str]]) -> None:
    """Compute ``cells`` (method, set) into the disk cache; rerun when all worked."""
    failed = 0
    with st.status(f"Computing {len(cells)} cell(s)…", expanded=True) as status:
        bar = st.progress(0.0)
        for k, (method, name) in enumerate(cells):
            bar.progress(k / len(cells), text=literal(f"{method} on {name} ({k + 1}/{len(cells)})"))
            try:
                folder = dict(ctx.ids.anomaly_files).get(name)  # an image folder is given by its path
                notes = run_benchmark(ctx.experiment, [method], [] if folder else [name],
                                      anomaly_files=[(name, folder)] if folder else [], echo=lambda _: None).notes
            except Exception as error:  # a method that fails must not take the page down
                notes = [f"{method} on {name}: {type(error).__name__}: {error}"]
            failed += bool(notes)
            for note in notes:
                st.warning(note)
        bar.progress(1.0, text="done")
        status.update(label=f"Cells computed ({failed} failed)" if failed else "Cells computed",
                      state="error" if failed else "complete")
    if not failed:
        st.rerun()


if missing:
    st.info(f"{len(missing)} cell(s) not computed yet (each takes seconds to minutes; attacks and fooling images the "
            "longest).")
    left, mid, right = st.columns([2, 1, 1], vertical_alignment="bottom")
    cell = left.selectbox("Missing cell", missing, format_func=lambda c: f"{c[0]} × {c[1]}", key="bench_cell")
    if mid.button("Compute this cell", key="bench_compute_one"):
        compute([cell])
    if right.button(f"Compute all {len(missing)}", key="bench_compute", type="primary"):
        compute(missing)

tables = wide_tables(rows, weighting)
paper = paper_table(ctx.ids.model, list(ctx.anomalies), chosen)
for metric in ("TNR@95TPR", "AUROC"):
    st.subheader(metric)
    left, right = st.columns(2) if paper else (st.container(), None)
    left.caption(f"Measured here ({weighting})")
    if metric in tables:
        left.dataframe(figures.best_marked(tables[metric], marked=from_report), key=f"bench_{metric}")
    else:
        left.caption("No cell computed yet.")
    if right is not None:
        right.caption("The paper's figures (LeNet, MNIST; Tables 2-4)")
        right.dataframe(figures.best_marked(paper[metric]), key=f"paper_{metric}")
        if metric in tables and weighting == "per-class":  # the paper's figures are per-class
            for note in methods.far_from_paper(tables[metric], paper[metric]):
                st.caption(note)
