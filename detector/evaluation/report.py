"""Report writing: benchmark rows as Markdown tables shaped like the paper's (Tables 2-7), CSV and JSON.

Output only: the rows come from :func:`detector.evaluation.benchmark.run_benchmark`, the paper's
figures from :mod:`detector.evaluation.paper`. The Markdown report opens with each method's mean per
kind of anomaly (near-OOD, far-OOD, noise, adversarial; :func:`detector.anomalies.report_kind` says
which set is which), then has one table per kind and metric (methods as rows, anomaly sets as
columns and their mean, the best value of each column in bold, the paper's figure in parentheses)
and says where ``ours`` loses.
"""

from __future__ import annotations

import csv
import datetime
import json
import platform
from pathlib import Path

from ..anomalies import REPORT_KINDS, report_kind
from .authors import DESCRIPTIONS
from .benchmark import Benchmark
from .paper import paper_figure
from .registry import OURS, MethodName

KIND_TITLES = {"near-ood": "Near-OOD (look-alike inputs)", "far-ood": "Far-OOD (other datasets, paper Tables 2 and 5)",
               "noise": "Noise (NS, paper Tables 4 and 7)", "adversarial": "Adversarial (AD, paper Tables 3 and 6)",
               "file": "User files"}
KIND_SHORT = {"near-ood": "near-OOD", "far-ood": "far-OOD", "noise": "noise", "adversarial": "adversarial",
              "file": "user files"}
METRICS = (("tnr_at_95_tpr", "TNR at 95 % TPR"), ("auroc", "AUROC"))


# --------------------------------------------------------------------------- writing
def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("torch", "numpy", "scikit-learn", "pytorch-ood", "torchattacks", "adversarial-robustness-toolbox"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


def row_records(bench: Benchmark) -> list[dict]:
    """Rows as dictionaries: the ``evaluate --json`` fields plus the paper's figures."""
    records = []
    for row in bench.rows:
        record = row.as_json()
        record.update({"tpr": row.tpr, "classes_left_out": row.classes_left_out, "protocol": bench.protocol})
        paper = paper_figure(bench.model, row.anomaly, row.method) if row.weighting == "per-class" else None
        record["paper_tnr_at_95_tpr"], record["paper_auroc"] = paper if paper else (None, None)
        records.append(record)
    return records


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def _kinds(bench: Benchmark, rows) -> dict[str, list[str]]:
    """Report kind -> its anomaly sets (in the rows' order), kinds in :data:`REPORT_KINDS`' order."""
    id_dataset = bench.experiment.id_dataset if bench.experiment is not None else None
    sets: dict[str, list[str]] = {}
    for row in rows:
        same_kind = sets.setdefault(report_kind(row.anomaly, row.kind, id_dataset), [])
        if row.anomaly not in same_kind:
            same_kind.append(row.anomaly)
    return {kind: sets[kind] for kind in REPORT_KINDS if kind in sets}


def kind_means(bench: Benchmark, weighting: str = "per-class", metric: str = "auroc") -> dict[str, dict[str, float]]:
    """Method -> report kind -> mean of ``metric`` over the kind's sets; a method without a row for
    every set of a kind has no mean there (``+known`` rows exist for attacks only)."""
    rows = [row for row in bench.rows if row.weighting == weighting]
    value = {(row.method, row.anomaly): getattr(row, metric) for row in rows}
    means: dict[str, dict[str, float]] = {}
    for method in dict.fromkeys(row.method for row in rows):
        for kind, sets in _kinds(bench, rows).items():
            if all((method, a) in value for a in sets):
                means.setdefault(method, {})[kind] = sum(value[method, a] for a in sets) / len(sets)
    return means


def _table(rows_by_method: dict[str, dict[str, float | None]], columns: list[str], paper=None) -> list[str]:
    """A Markdown table, methods as rows; the best value of each column in bold; ``paper(method, column)``
    the figure shown in parentheses, or None."""
    best = {c: max((v[c] for v in rows_by_method.values() if v.get(c) is not None), default=None) for c in columns}
    lines = ["| method | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for method, values in rows_by_method.items():
        cells = []
        for column in columns:
            v = values.get(column)
            cell = _fmt(v)
            if v is not None and v == best[column]:
                cell = f"**{cell}**"
            figure = paper(method, column) if paper else None
            if figure is not None:
                cell += f" ({figure:.2f})"
            cells.append(cell)
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines + [""]


def markdown_tables(bench: Benchmark, weighting: str = "per-class") -> list[str]:
    """Each method's mean per kind, then one table per anomaly kind and metric: methods as rows, anomaly
    sets as columns, and their mean where the kind has several sets."""
    rows = [row for row in bench.rows if row.weighting == weighting]
    lines: list[str] = []
    kinds = _kinds(bench, rows)
    methods = list(dict.fromkeys(row.method for row in rows))
    for metric, title in METRICS:
        means = kind_means(bench, weighting, metric)
        columns = [KIND_SHORT[kind] for kind in kinds]
        table = {m: {KIND_SHORT[k]: v for k, v in means.get(m, {}).items()} for m in methods}
        lines += [f"### Mean per kind: {title} ({weighting})", "",
                  "Each kind's sets: " + "; ".join(f"{KIND_SHORT[k]}: {', '.join(sets)}" for k, sets in kinds.items())
                  + ".", ""] + _table(table, columns)
    for kind, anomalies in kinds.items():
        for metric, title in METRICS:
            index = 0 if metric == "tnr_at_95_tpr" else 1
            value = {(row.method, row.anomaly): getattr(row, metric) for row in rows if row.anomaly in anomalies}
            columns = anomalies + (["mean"] if len(anomalies) > 1 else [])
            mean = {m: v[kind] for m, v in kind_means(bench, weighting, metric).items() if kind in v}
            table = {method: {**{a: value[method, a] for a in anomalies if (method, a) in value},
                              **({"mean": mean[method]} if method in mean and "mean" in columns else {})}
                     for method in methods if any((method, a) in value for a in anomalies)}

            def paper(method, column, index=index):
                figure = paper_figure(bench.model, column, method) if weighting == "per-class" and column != "mean" else None
                return figure[index] if figure else None

            lines += [f"### {KIND_TITLES[kind]}: {title} ({weighting})", ""] + _table(table, columns, paper)
    return lines


def losses(bench: Benchmark, weighting: str = "per-class") -> list[str]:
    """Every anomaly set and metric where another method beats one of ours (``ours``, ``ours+conf``,
    ``ours+conf-equal``; their ``+oe`` rows: another ``+oe`` method), in words."""
    rows = [row for row in bench.rows if row.weighting == weighting]
    said = []
    own_rows = [name for name in dict.fromkeys(row.method for row in rows) if MethodName.parse(name).base in OURS]
    for ours in own_rows:
        mine = {row.anomaly: row for row in rows if row.method == ours}
        for anomaly, own in mine.items():
            for metric, title in (("tnr_at_95_tpr", "TNR@95TPR"), ("auroc", "AUROC")):
                # ours against the detectors on the same classifier; ours+oe against the other +oe rows
                others = [r for r in rows if r.anomaly == anomaly and r.method not in own_rows
                          and MethodName.parse(r.method).oe == MethodName.parse(ours).oe
                          and getattr(r, metric) > getattr(own, metric)]
                if others:
                    top = max(others, key=lambda r: getattr(r, metric))
                    names = ", ".join(sorted(r.method for r in others))
                    ahead = f" (all ahead: {names})" if len(others) > 1 else ""
                    said.append(f"- `{ours}` loses on **{anomaly}** ({title}): {getattr(own, metric):.2f} vs "
                                f"{getattr(top, metric):.2f} for `{top.method}`{ahead}")
    return said


def _header(benches: list[Benchmark], weighting: str, command: str, versions: dict, seconds: float) -> list[str]:
    """What the report's rows are: model, data, protocols, weighting, libraries."""
    bench, exp = benches[0], benches[0].experiment
    oe = next((b.oe_experiment for b in benches if b.oe_experiment is not None), None)
    oe_line = ([] if oe is None else [
        "- `+oe` rows: the classifier fine-tuned with Outlier Exposure (see `detector/evaluation/oe.py`), "
        f"test accuracy {100 * oe.test_accuracy:.2f} %; attacks regenerated against it, other sets "
        "(fooling images included) unchanged."])
    return [
        f"# Benchmark: {bench.model} (ID {exp.id_dataset})", "",
        f"- Generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
        + (f" by `{command}`" if command else "") + f" in {seconds:.0f} s (cached steps are reused).",
        f"- Data: ID {exp.id_dataset}, train {len(exp.train)} / validation {len(exp.val)} / test {len(exp.test)} images"
        + (" (" + "; ".join(f"{split}: a seeded subset of the {n:,}-image split" for split, n in exp.subset_of.items())
           + ")" if exp.subset_of else "") + "; "
        f"test accuracy {100 * exp.test_accuracy:.2f} %. Anomaly sets have as many images as the ID test split "
        "(attacks: the successful ones on correctly classified test images).",
        "- Protocols: " + "; ".join(f"**{b.protocol}**: {DESCRIPTIONS[b.protocol]}" for b in benches)
        + " KD+BU and LID are trained on FGSM examples made from the validation split (`+known`: on the evaluated "
        "attack, also made from the validation split).",
        f"- Weighting: **{weighting}**"
        + (" (the paper's: thresholds tau_i per predicted class, TNR over all anomalies, AUROC = sum_i gamma_i AUROC_i)."
           if weighting == "per-class" else " (one threshold and one ROC over all scores)."),
        "- Values in percent; **bold** = best in its column; "
        + ("(in parentheses) = the paper's figure for that method and set (LeNet-MNIST, Tables 2-7), where it has one. "
           "The paper's LeNet was trained on 60,000 MNIST images; ours on 3,500 (offline data), so the classifiers differ."
           if exp.id_dataset == "mnist" else "the paper reports no figures for this model."),
        "- Time per method (s; fitting it and scoring every set of its rows when its cells were first computed, on "
        "the machine that computed them, with other jobs sharing the CPU possibly; – = not recorded): "
        + "; ".join(f"{b.protocol}: " + ", ".join(f"`{m}` {_seconds(s)}" for m, s in b.method_seconds.items()) for b in benches)
        + ".",
        "- Libraries: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
    ] + oe_line


def _seconds(value: float) -> str:
    return "–" if value != value else f"{value:.0f}"  # NaN: a cell cached before times were recorded


def write_report(benches: Benchmark | list[Benchmark], output: str | Path, *, weighting: str = "per-class",
                 command: str = "") -> list[Path]:
    """Write ``output`` (.md) and the same rows as ``.csv`` and ``.json`` beside it.

    Several benchmarks of the same model (one per protocol) go into one report, one
    section each.
    """
    benches = [benches] if isinstance(benches, Benchmark) else list(benches)
    bench = benches[0]
    output = Path(output)
    exp = bench.experiment
    records = [record for b in benches for record in row_records(b)]
    versions = _versions()
    seconds = sum(b.seconds for b in benches)
    header = _header(benches, weighting, command, versions, seconds)
    lines = header + [""]
    for b in benches:
        title = f"## Tables, {b.protocol} protocol" if len(benches) > 1 else "## Tables"
        lines += [title, ""] + markdown_tables(b, weighting)
        lost = losses(b, weighting)
        lines += [f"### Where ours lose ({b.protocol} protocol)", ""] + (lost or ["- nowhere in these tables."]) + [""]
    notes = [note for b in benches for note in b.notes]
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in dict.fromkeys(notes)] + [""]
    lines += [f"Rows (both weightings{', both protocols' if len(benches) > 1 else ''}) are also in "
              f"`{output.with_suffix('.csv').name}` and `{output.with_suffix('.json').name}`.", ""]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines))
    csv_path, json_path = output.with_suffix(".csv"), output.with_suffix(".json")
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]) if records else ["method"])
        writer.writeheader()
        writer.writerows(records)
    json_path.write_text(json.dumps({
        "model": bench.model, "weights_hash": exp.model.weights_hash, "id_dataset": exp.id_dataset,
        "test_accuracy": round(exp.test_accuracy, 4),
        "protocols": [b.protocol for b in benches], "versions": versions, "seconds": round(seconds, 1),
        "method_seconds": {b.protocol: {m: None if s != s else round(s, 1) for m, s in b.method_seconds.items()}
                           for b in benches},
        "notes": notes, "rows": records}, indent=2))
    return [output, csv_path, json_path]
