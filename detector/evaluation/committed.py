"""The committed reports (``docs/results-<model>.json``, made by ``python -m detector report``) read back as
benchmark rows, so that a built-in model's table can be shown without recomputing it."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .evaluate import Row

DOCS = Path(__file__).resolve().parents[2] / "docs"


@dataclass(frozen=True)
class CommittedReport:
    path: Path  # the JSON file
    date: str  # when it was generated (its Markdown twin's "Generated" line), "" when unknown
    rows: tuple[Row, ...]  # the held-out protocol's rows

    def cell(self, method: str, anomaly: str) -> list[Row]:
        """The rows (one per weighting) of one cell, empty when the report has none."""
        return [row for row in self.rows if row.method == method and row.anomaly == anomaly]


def committed_report(model: str, protocol: str = "held-out", docs: Path = DOCS,
                     weights_hash: str | None = None) -> CommittedReport | None:
    """The committed report of the built-in ``model`` (None when there is none, or it does not read, or it
    records another network than the one of ``weights_hash``)."""
    path = docs / f"results-{model}.json"
    try:
        data = json.loads(path.read_text())
        rows = tuple(Row.from_report(r) for r in data["rows"] if r.get("protocol", "held-out") == protocol)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if data.get("model") != model or data.get("weights_hash", weights_hash) != weights_hash:
        return None
    markdown = path.with_suffix(".md")
    found = re.search(r"Generated (\d{4}-\d{2}-\d{2})", markdown.read_text()) if markdown.is_file() else None
    return CommittedReport(path, found.group(1) if found else "", rows)
