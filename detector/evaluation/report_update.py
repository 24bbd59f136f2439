"""A committed report with some methods' rows computed again: ``report --update REPORT.md --methods NAME``.

When one method changes, only its rows need computing again: every other method's rows are kept
as the report has them (in its order, with their recorded times and notes), and the report's notes
say which rows are new and which report the others come from.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import DataError
from .benchmark import Benchmark
from .evaluate import Row


def read_report(report: str | Path) -> dict:
    """The committed report's JSON twin, each row also as a :class:`Row` (``row``); DataError when it does not read."""
    path = Path(report).with_suffix(".json")
    try:
        data = json.loads(path.read_text())
        data["rows"] = [{**record, "row": Row.from_report(record)} for record in data["rows"]]
        return data
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"--update {report}: cannot read its rows from {path} ({error}); give a report written by "
                        "`python -m detector report`") from error


def _merged_rows(old: list[Row], fresh: list[Row], methods: set[str]) -> list[Row]:
    """``old`` in its order, with each of ``methods``' rows replaced by its ``fresh`` ones where the old ones
    stood; a method the old rows lack goes at the end."""
    by_method: dict[str, list[Row]] = {}
    for row in fresh:
        by_method.setdefault(row.method, []).append(row)
    merged, placed = [], set()
    for row in old:
        if row.method not in methods:
            merged.append(row)
        elif row.method not in placed:
            merged += by_method.get(row.method, [])
            placed.add(row.method)
    return merged + [row for method, rows in by_method.items() if method not in placed for row in rows]


def update_report(report: str | Path, benches: list[Benchmark], methods: list[str]) -> list[Benchmark]:
    """``benches`` (``methods`` computed again, one benchmark per protocol) merged into the committed
    ``report``'s rows: ready for :func:`.report.write_report`. Raises DataError when the report is of
    another model or network, or has one of ``methods`` on a set the new rows lack."""
    report = Path(report)
    data = read_report(report)
    experiment = benches[0].experiment
    weights = experiment.model.weights_hash
    if (data.get("model") != benches[0].model or data.get("weights_hash", weights) != weights
            or data.get("test_accuracy") != round(experiment.test_accuracy, 4)):
        raise DataError(f"--update {report}: it was made on {data.get('model')!r} at test accuracy "
                        f"{data.get('test_accuracy')}, not on {benches[0].model!r} at {round(experiment.test_accuracy, 4)}; "
                        "regenerate the whole report instead")
    wanted = set(methods)
    generated = re.search(r"Generated (.+?) in \d+ s", report.read_text()) if report.is_file() else None
    notes = [note for note in data.get("notes", []) if note.split(":")[0] not in wanted]
    merged = []
    for bench in benches:
        old = [record["row"] for record in data["rows"] if record.get("protocol", "held-out") == bench.protocol]
        fresh_sets = {(row.method, row.anomaly) for row in bench.rows}
        lost = sorted({f"{row.method} on {row.anomaly}" for row in old
                       if row.method in wanted and (row.method, row.anomaly) not in fresh_sets})
        if lost:
            raise DataError(f"--update {report}: the report has {', '.join(lost)} ({bench.protocol} protocol), which "
                            "this run did not compute; pass the report's anomaly sets with --anomalies")
        seconds = {**data.get("method_seconds", {}).get(bench.protocol, {}), **bench.method_seconds}
        merged.append(Benchmark(bench.model, experiment, _merged_rows(old, bench.rows, wanted), [], bench.seconds,
                                bench.protocol, bench.oe_experiment,
                                {m: float("nan") if s is None else s for m, s in seconds.items()}))
    new_notes = [note for bench in benches for note in bench.notes]
    source = f", generated {generated.group(1)}" if generated else ""
    merged[0].notes = notes + new_notes + [
        f"Rows of {', '.join(methods)} computed again with this command; every other method's rows are those of the "
        f"report before it{source}, on the same network."]
    return merged
