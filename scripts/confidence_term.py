"""Which confidence should the third term use? Prints per-class AUROC of ``ours`` and of the
three-term detector with each candidate confidence, on every anomaly set of the report.

    .venv/bin/python scripts/confidence_term.py [--model lenet-mnist] [--anomalies ...]

The held-out protocol throughout (thresholds and ranges on the validation split); the
three-term rows use equal weights (1/3 each), as ``ours+conf`` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.evaluation.evaluate import evaluate_method  # noqa: E402
from detector.evaluation.experiment import fit_uniform, load_experiment  # noqa: E402
from detector.method.scores import CONF_BETA, CONFIDENCES  # noqa: E402

SETS = ["fashion-mnist", "gaussian", "uniform", "fooling", "fgsm", "bim-a", "bim-b", "jsma", "cw"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet-mnist")
    parser.add_argument("--anomalies", nargs="+", default=SETS)
    args = parser.parse_args()
    experiment = load_experiment(args.model, progress=True)
    others = {"lenet-fashion-mnist": "mnist"}
    names = [others.get(args.model, name) if name == "fashion-mnist" else name for name in args.anomalies]
    sets = [experiment.anomaly(name) for name in names]
    variants = {"ours": fit_uniform(experiment)}
    variants.update({f"conf={name}": fit_uniform(experiment, beta=CONF_BETA, confidence=name) for name in CONFIDENCES})
    print(f"{'':<16}" + "".join(f"{name:>10}" for name in names) + f"{'mean':>10}")
    for label, detector in variants.items():
        rows = [r for r in evaluate_method(experiment, label, detector, sets) if r.weighting == "per-class"]
        values = [r.auroc for r in rows]
        print(f"{label:<16}" + "".join(f"{v:>10.2f}" for v in values) + f"{sum(values) / len(values):>10.2f}")
    print("per-class AUROC, %; held-out protocol")


if __name__ == "__main__":
    main()
