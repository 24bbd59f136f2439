"""Why MSP trails the paper on Fashion-MNIST: where its 95 %-TPR threshold falls.

    .venv/bin/python scripts/msp_confidence.py [--model lenet-mnist] [--anomaly fashion-mnist]

Prints the share of ID test inputs and of anomalies whose maximum softmax probability
reaches a few levels, and the threshold that keeps 95 % of the ID test inputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from detector.evaluation.experiment import load_experiment
    from detector.evaluation.registry import fit_method

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet-mnist")
    parser.add_argument("--anomaly", default="fashion-mnist")
    args = parser.parse_args()
    experiment = load_experiment(args.model)
    msp = fit_method(experiment, "msp")
    normal = msp.score_samples(experiment.test.images)
    anomalous = msp.score_samples(experiment.anomaly(args.anomaly).images)
    threshold = np.quantile(normal, 0.05)
    print(f"{args.model}: MSP threshold at 95 % TPR of the ID test inputs: {threshold:.4f}")
    print(f"{args.anomaly} accepted at that threshold: {100 * (anomalous >= threshold).mean():.1f} %")
    for level in (0.9, 0.99, 0.999, 0.9999):
        print(f"MSP >= {level}: ID test {100 * (normal >= level).mean():5.1f} %, "
              f"{args.anomaly} {100 * (anomalous >= level).mean():5.1f} %")


if __name__ == "__main__":
    main()
