"""What each benchmarked method is, in one line with its reference (from the method's class, see
:class:`detector.method.api.MethodInfo`), and why our figure may be far from the paper's (no
Streamlit). The Benchmark page shows both; the numbers come from detector/."""

from __future__ import annotations

import pandas as pd

from detector.evaluation.registry import MethodName

README = "documentation: docs/comparison.md, *Comparison with other detectors*"
FAR = 5.0  # points between our figure and the paper's beyond which a note says why

#: why a method's figure may differ from the paper's (docs/comparison.md has the measurements)
WHY = {
    "msp": "our LeNet saw 3,500 MNIST training images, not 60,000: it is unsure of more of its own test images, so "
           "the threshold keeping 95 % of them (MSP ≥ 0.914) lets many anomalies through",
    "odin": "as MSP (our smaller training set); its tuning on the mix set chose T = 1, ε = 0, i.e. MSP",
}
DEFAULT_WHY = ("our protocol fits thresholds on held-out ID data only and our LeNet saw 3,500 training images, "
               "not 60,000; the paper's own protocol is loose here")


def describe(method: str) -> str:
    """``method``: what it scores (reference)."""
    name = MethodName.parse(method)
    what, ref = name.cls.info.description, name.cls.info.reference  # each method's class says it
    suffix = ", trained on the evaluated attack" if name.known else ""
    suffix += ", on the classifier fine-tuned with Outlier Exposure" if name.oe else ""
    return f"**{method}**: {what}{suffix} ({ref})" if ref else f"**{method}**: {what}{suffix}"


def far_from_paper(ours: pd.DataFrame, paper: pd.DataFrame, far: float = FAR) -> list[str]:
    """Notes for every cell where our figure and the paper's differ by more than ``far`` points."""
    notes = []
    for method in ours.index.intersection(paper.index):
        for anomaly in ours.columns.intersection(paper.columns):
            mine, theirs = ours.at[method, anomaly], paper.at[method, anomaly]
            if pd.notna(mine) and pd.notna(theirs) and abs(mine - theirs) > far:
                why = WHY.get(method.split("+")[0], DEFAULT_WHY)
                notes.append(f"**{method} × {anomaly}**: {mine:.1f} here vs {theirs:.1f} in the paper; {why} "
                             f"({README}).")
    return notes
