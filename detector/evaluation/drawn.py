"""How detectors judge drawings: the share of drawn doodles flagged and of drawn digits that pass.

The drawn set (:func:`detector.anomalies.doodles.drawn_set`) is judged as ``check`` judges a
user's drawing (:class:`.judging.Judge`): the verdict at the thresholds that keep 95 % of the
held-out ID inputs of each predicted class. ``scripts/drawn_set.py`` prints the figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..anomalies.doodles import DrawnSet
from .judging import Judge


def flagged(judge: Judge, drawn: DrawnSet) -> np.ndarray:
    """(N,) True where the drawing is judged an anomaly."""
    return np.array([verdict.is_anomaly for verdict in judge.judge(drawn.images)])


def drawn_figures(judge: Judge, drawn: DrawnSet) -> dict[str, float]:
    """Doodles flagged, digits passing and digits read as the digit drawn, in percent."""
    anomaly = flagged(judge, drawn)
    doodle = drawn.is_doodle
    predicted = judge.experiment.predictions(drawn.images)
    return {"doodles flagged %": 100 * anomaly[doodle].mean(), "digits pass %": 100 * (~anomaly[~doodle]).mean(),
            "digits read right %": 100 * (predicted[~doodle] == drawn.digit[~doodle]).mean(),
            "doodles": int(doodle.sum()), "digits": int((~doodle).sum())}


def by_pen(judge: Judge, drawn: DrawnSet) -> pd.DataFrame:
    """The same shares for each pen width (doodles and digits are drawn with different pens)."""
    anomaly = flagged(judge, drawn)
    rows = []
    for pen in np.unique(drawn.pen):
        doodles, digits = (drawn.pen == pen) & drawn.is_doodle, (drawn.pen == pen) & ~drawn.is_doodle
        rows.append({"pen": int(pen), "doodles flagged %": 100 * anomaly[doodles].mean() if doodles.any() else np.nan,
                     "digits pass %": 100 * (~anomaly[digits]).mean() if digits.any() else np.nan})
    return pd.DataFrame(rows)


def missed(judge: Judge, drawn: DrawnSet) -> dict[str, int]:
    """How many doodles of each shape passed as normal, and how many digits of each were flagged."""
    anomaly = flagged(judge, drawn)
    names = np.where(drawn.is_doodle & ~anomaly, drawn.names, "")
    names = np.where(~drawn.is_doodle & anomaly, drawn.names, names)
    kept = names[names != ""]
    return dict(zip(*np.unique(kept, return_counts=True))) if len(kept) else {}
