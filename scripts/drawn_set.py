"""Drawn doodles and digits judged by each detector on LeNet-MNIST (docs/drawn-inputs.md).

    .venv/bin/python scripts/drawn_set.py [--methods ours ours+knn ...] [--per-shape 10] [--per-digit 20]

For each method and each part of the drawn set (``tuning``, ``held-out``): the share of non-digit
doodles flagged as anomalies and of drawn digits that pass, at the thresholds that keep 95 % of the
held-out ID inputs of each predicted class (as ``check`` judges); then, for the default detector,
the shares per pen width and what it missed. ``--grid FILE`` also writes a picture of the held-out part.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.anomalies.doodles import PARTS, drawn_set  # noqa: E402
from detector.evaluation.drawn import by_pen, drawn_figures, missed  # noqa: E402
from detector.evaluation.experiment import load_experiment  # noqa: E402
from detector.evaluation.judging import DEFAULT_METHOD, fit_judge  # noqa: E402

METHODS = list(dict.fromkeys([DEFAULT_METHOD, "ours", "ours+conf", "ours+knn", "knn", "fdbd", "msp", "mahalanobis"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet-mnist")
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--per-shape", type=int, default=10, help="drawings of each doodle shape per part")
    parser.add_argument("--per-digit", type=int, default=20, help="drawings of each digit per part")
    parser.add_argument("--grid", help="write a picture of the held-out part to this PNG file")
    args = parser.parse_args()
    started = time.time()
    experiment = load_experiment(args.model)
    sets = {part: drawn_set(part, args.per_shape, args.per_digit) for part in PARTS}
    held = sets["held-out"]
    print(f"{args.model}: {held.is_doodle.sum()} doodles ({args.per_shape} of each of {len(set(held.names[held.is_doodle]))} "
          f"shapes) and {(~held.is_doodle).sum()} digits per part; verdicts at 95 % TPR per class, in percent")
    print(f"{'method':<14} {'part':<9} {'doodles flagged':>16} {'digits pass':>12} {'digits read right':>18}")
    for method in args.methods:
        judge = fit_judge(experiment, method)
        for part, drawn in sets.items():
            figures = drawn_figures(judge, drawn)
            print(f"{method:<14} {part:<9} {figures['doodles flagged %']:>16.1f} {figures['digits pass %']:>12.1f} "
                  f"{figures['digits read right %']:>18.1f}", flush=True)
        if method == DEFAULT_METHOD:
            default = judge
    if DEFAULT_METHOD in args.methods:
        print(f"\n{DEFAULT_METHOD} (the default) on the held-out part, per pen width (px on the 280x280 canvas):")
        print(by_pen(default, held).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
        print("doodles judged normal and digits flagged, held-out part:",
              ", ".join(f"{name} {count}" for name, count in missed(default, held).items()) or "none")
    if args.grid:
        from detector.anomalies.grid import save_grid

        save_grid(held.images, list(held.names), args.grid)
        print(f"wrote {args.grid}")
    print(f"done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
