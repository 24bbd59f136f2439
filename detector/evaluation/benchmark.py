"""The benchmark runner: every method on every anomaly set, one cached cell at a time.

A *cell* is one method on one anomaly set under one protocol: its two rows (per-class and
global weighting). Cells are cached on disk, keyed by the model, the data, the method's
parameters and the version of the detection code, so ``report``, ``evaluate`` and the
dashboard's Benchmark page share them, and only missing cells are computed.

Method names are read by :class:`~detector.evaluation.registry.MethodName` (the one registry and parser).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import cache
from ..method.api import NotApplicable
from .authors import check_protocol, evaluate_authors
from .evaluate import METRIC_COLUMNS, Row, evaluate_method
from .experiment import Experiment
from .registry import METHODS, OURS, MethodName, expand_methods, fit_method, make_method, method_params

__all__ = ["METHODS", "OURS", "Benchmark", "MethodName", "cached_cell", "expand_methods", "fit_method",
           "run_benchmark", "wide_tables"]


# --------------------------------------------------------------------------- the cell cache
def _cell_entries(experiment: Experiment, method: str, anomaly, protocol: str, params: dict) -> tuple[cache.Entry, cache.Entry]:
    """Where a cell's rows lie (stale after any change of the code behind the benchmark) and where the
    seconds it took when it was first computed lie (kept across code changes: a cell recomputed from
    cached attacks, features or scores takes a fraction of the time of the first computation)."""
    key = {"what": "benchmark-cell", "method": method, "model": experiment.model.fingerprint,
           "id": experiment.id_dataset, "train": cache.hash_array(experiment.train.images),
           "test": cache.hash_array(experiment.test.images), "anomaly": anomaly.name,
           "data": cache.hash_array(anomaly.images), "protocol": protocol, "params": params}
    return (cache.entry("benchmark", key, code=__name__),
            # the weights, not the fingerprint: a cost outlives a change of the model's code too
            cache.entry("benchmark", {**key, "what": "benchmark-cell-seconds", "model": experiment.model.weights_hash},
                        code=None))


def cached_cell(experiment: Experiment, method: str, anomaly, protocol: str = "held-out",
                params: dict | None = None) -> list[Row] | None:
    """The two rows of one cell, or None when it was never computed with this code."""
    found = _load_cell(_cell_entries(experiment, method, anomaly, protocol, params or {}), method, anomaly)
    return None if found is None else found[0]


def _load_cell(entries: tuple[cache.Entry, cache.Entry], method: str, anomaly) -> tuple[list[Row], float] | None:
    """The cell's rows and the seconds it took when it was first computed (NaN: not recorded)."""
    arrays = entries[0].load()
    if arrays is None:
        return None
    rows = [Row(method, anomaly.name, anomaly.kind, str(w), float(tnr), float(auc), float(tpr), int(left))
            for w, tnr, auc, tpr, left in zip(arrays["weighting"], arrays["tnr"], arrays["auroc"], arrays["tpr"],
                                              arrays["left_out"])]
    first = entries[1].load() or arrays
    return rows, float(first["seconds"])


def _save_cell(entries: tuple[cache.Entry, cache.Entry], rows: list[Row], seconds: float) -> float:
    """Write the cell; returns the seconds of its first computation (these, unless an earlier code did it)."""
    arrays = {"weighting": np.array([r.weighting for r in rows]), "tnr": np.array([r.tnr_at_95_tpr for r in rows]),
              "auroc": np.array([r.auroc for r in rows]), "tpr": np.array([r.tpr for r in rows]),
              "left_out": np.array([r.classes_left_out for r in rows]), "seconds": np.float64(seconds)}
    entries[0].save(arrays)
    first = entries[1].load()
    if first is None:
        entries[1].save({"seconds": np.float64(seconds)})
        return seconds
    return float(first["seconds"])


# --------------------------------------------------------------------------- running
@dataclass
class Benchmark:
    """The rows of one benchmark run and what is needed to describe it."""

    model: str
    experiment: Experiment
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    protocol: str = "held-out"
    oe_experiment: Experiment | None = None
    #: method -> seconds its cells took when they were computed (fit and scoring; NaN when a cell did not record it),
    #: so that a report built from cached cells still says what each method costs
    method_seconds: dict[str, float] = field(default_factory=dict)


def _fit(experiment: Experiment, method: MethodName, protocol: str, params: dict, attack: str | None):
    detector = make_method(method.plain, **params, **({"attack": attack} if method.known else {}))
    return detector.fit_authors(experiment) if protocol == "authors" else detector.fit(experiment)


def _method_rows(experiment: Experiment, method: MethodName, sets: list, protocol: str, params: dict) -> tuple[list[Row], float]:
    """Rows of one method on ``sets`` (cached cells, then the missing ones, fitting the method once)
    and the seconds all its cells took to compute."""
    evaluate = evaluate_method if protocol == "held-out" else evaluate_authors
    rows: dict[str, list[Row]] = {}
    missing, seconds = [], 0.0
    entries = {anomaly.name: _cell_entries(experiment, str(method), anomaly, protocol, params) for anomaly in sets}
    for anomaly in sets:
        found = _load_cell(entries[anomaly.name], str(method), anomaly)
        if found is None:
            missing.append(anomaly)
        else:
            rows[anomaly.name], cell_seconds = found
            seconds += cell_seconds
    tic = time.perf_counter()
    if method.known:  # one detector per attack, trained on that very attack
        fresh = [row for anomaly in missing for row in evaluate(
            experiment, str(method), _fit(experiment, method, protocol, params, anomaly.name), [anomaly])]
    elif missing:  # one fit, and the ID scores computed once for all missing sets
        fresh = evaluate(experiment, str(method), _fit(experiment, method, protocol, params, None), missing)
    else:
        fresh = []
    share = (time.perf_counter() - tic) / max(1, len(missing))  # one fit serves every missing cell
    for anomaly in missing:
        rows[anomaly.name] = [row for row in fresh if row.anomaly == anomaly.name]
        seconds += _save_cell(entries[anomaly.name], rows[anomaly.name], share)
    return [row for anomaly in sets for row in rows[anomaly.name]], seconds


def run_benchmark(experiment: Experiment, methods: list[str], anomaly_names: list[str], *, model_name: str = "",
                  anomaly_files: list[tuple[str, str]] = (), ours_params: dict | None = None,
                  protocol: str = "held-out", echo=print) -> Benchmark:
    """Evaluate every method on every anomaly set (both weightings), with progress lines.

    ``NAME+known`` (KD+BU, LID) is trained on the evaluated attack, made from the
    validation split, and evaluated on that attack only. ``NAME+oe`` runs ``NAME`` on the
    Outlier-Exposure fine-tuned model (:func:`detector.evaluation.oe.outlier_exposure`); the attacks
    are regenerated against that model, the other sets (fooling images included) are reused.
    A method that does not apply to the model is skipped with a note.
    """
    started = time.time()
    check_protocol(protocol)
    bench = Benchmark(model_name or experiment.model.name, experiment, protocol=protocol)
    plain_sets = [experiment.anomaly(name) for name in anomaly_names]
    plain_sets += [experiment.anomaly(name, path) for name, path in anomaly_files]
    oe_sets = None
    for text in expand_methods(methods):
        method = MethodName.parse(text)
        exp, sets = experiment, plain_sets
        if method.oe:
            if bench.oe_experiment is None:
                from .oe import outlier_exposure

                echo("fine-tuning the model with Outlier Exposure ...")
                bench.oe_experiment = outlier_exposure(experiment)
            if oe_sets is None:  # attacks target the model they fool: regenerate them; other sets stay
                oe_sets = [bench.oe_experiment.anomaly(a.name) if a.kind == "adversarial" else a for a in plain_sets]
            exp, sets = bench.oe_experiment, oe_sets
        if method.known:
            sets = [a for a in sets if a.kind == "adversarial"]
            if not sets:
                bench.notes.append(f"{method}: no adversarial set evaluated, nothing to train on")
                continue
        params = method_params(method.base, ours_params or {})
        if protocol == "authors":  # the authors' fitting chooses the layer itself
            params = {k: v for k, v in params.items() if k in ("beta", "nu")}
        tic = time.time()
        try:
            rows, bench.method_seconds[str(method)] = _method_rows(exp, method, sets, protocol, params)
            bench.rows += rows
        except NotApplicable as error:
            bench.notes.append(f"{method}: not applicable to this model ({error})")
            echo(f"{str(method):<20} skipped: {error}")
            continue
        echo(f"{str(method):<20} {time.time() - tic:6.1f} s")
    bench.seconds = time.time() - started
    return bench


def wide_tables(rows: list[Row], weighting: str = "per-class") -> dict[str, pd.DataFrame]:
    """Wide tables (method x anomaly set) of TNR@95TPR and AUROC for one weighting."""
    chosen = [row for row in rows if row.weighting == weighting]
    if not chosen:
        return {}
    frame = pd.DataFrame({"method": [r.method for r in chosen], "anomaly set": [r.anomaly for r in chosen],
                          "TNR@95TPR": [r.tnr_at_95_tpr for r in chosen], "AUROC": [r.auroc for r in chosen]})
    return {metric: frame.pivot_table(index="method", columns="anomaly set", values=metric, aggfunc="first").astype(float)
            for metric in METRIC_COLUMNS}
