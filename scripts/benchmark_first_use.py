"""First use of each built-in model with an empty cache: training, then the detector fit
(features of every candidate layer, MDL choice, per-class SVDDs), as the dashboard's first
view and `evaluate` need them. Prints the estimate given beforehand beside the measured times.

    python scripts/benchmark_first_use.py [--models lenet-mnist resnet-fashion-mnist]

Each model runs in its own process with a fresh temporary cache (datasets parsed anew too).
Goal (issue 17, this 2-core CPU when idle): LeNets <= 2 min, the residual network <= 4 min.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = {"lenet-mnist": 120, "lenet-fashion-mnist": 120, "resnet-fashion-mnist": 240}


def first_use(name: str) -> dict:
    """Run in the child: time the stages of a first use of ``name``."""
    sys.path.insert(0, str(ROOT))
    from detector.evaluation.experiment import fit_uniform, load_experiment
    from detector.evaluation.first_use import estimate_first_use
    from detector.models.classifiers import load_model

    started = time.perf_counter()
    estimate = estimate_first_use(name)
    estimated = time.perf_counter()
    load_model(name, progress=False)
    trained = time.perf_counter()
    experiment = load_experiment(name)
    detector = fit_uniform(experiment)
    fitted = time.perf_counter()
    accuracy = experiment.test_accuracy
    return {"model": name, "estimate_s": estimate.total_s, "estimating_s": estimated - started,
            "training_s": trained - estimated, "detector_s": fitted - trained, "accuracy": accuracy,
            "mdl": detector.mdl_, "candidates": len(detector.layer_errors_)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(GOAL_S))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(first_use(args.child)))
        return
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    print(f"{'model':<22} {'estimate':>9} {'training':>9} {'detector':>9} {'total':>9} {'goal':>6} {'accuracy':>9}  MDL")
    for name in args.models:
        with tempfile.TemporaryDirectory() as cache_dir:
            env = {**os.environ, "ANOMALY_CACHE_DIR": cache_dir}
            out = subprocess.run([sys.executable, __file__, "--child", name], env=env, check=True,
                                 capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        total = r["estimating_s"] + r["training_s"] + r["detector_s"]
        print(f"{name:<22} {r['estimate_s']:>8.0f}s {r['training_s']:>8.0f}s {r['detector_s']:>8.0f}s {total:>8.0f}s "
              f"{GOAL_S.get(name, 0):>5}s {100 * r['accuracy']:>8.2f}%  {r['mdl']} (of {r['candidates']})", flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
