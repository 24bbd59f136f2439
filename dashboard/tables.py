"""Tables of numbers as the dashboard shows them: text with the best value of each column marked."""

from __future__ import annotations

import pandas as pd

BEST = "font-weight:bold;color:#1b5e20"


def best_marked(table: pd.DataFrame, precision: int = 2, columns: list[str] | None = None, marked=frozenset()):
    """A table as text ("–" where a number is missing) with the highest value of each of ``columns``
    (default: every numeric column) in bold; the cells (row, column) of ``marked`` end with " †"."""
    numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    columns = numeric if columns is None else columns
    text = table.copy()
    for c in numeric:
        integer = pd.api.types.is_integer_dtype(table[c])
        text[c] = [("–" if pd.isna(v) else str(v) if integer else f"{v:.{precision}f}") for v in table[c]]
    text = text.astype({c: str for c in numeric})
    for row, col in (cell for cell in marked if cell[0] in text.index and cell[1] in text.columns):
        text.loc[row, col] += " †"
    best = {c: table[c].max() for c in columns}

    def mark(col):
        if col.name not in best:
            return [""] * len(col)
        return [BEST if (not pd.isna(v) and v == best[col.name]) else "" for v in table[col.name]]

    return text.style.apply(mark, axis=0)
