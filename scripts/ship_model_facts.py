"""Compute what each shipped network always gives and write it beside its weights
(``detector/models/weights/<model>.facts.json``): the default detector's MDL choice with the mix-set
error of every candidate layer, and the classifier's accuracy on its ID test split.

    .venv/bin/python scripts/ship_model_facts.py [--models lenet-mnist resnet-fashion-mnist]

Run it after shipping new weights (``python -m detector train NAME --ship``): a facts file made for other
weights is refused by its hash, and the first use then chooses the MDL itself (minutes for the ResNet).
Everything is computed anew (the MDL choice never read from a facts file or the detector cache).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.evaluation import shipped  # noqa: E402
from detector.evaluation.experiment import _detector_key, compute_accuracy, fit_uniform_here, load_experiment  # noqa: E402
from detector.models.classifiers import BUILTIN, shipped_weights  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=[name for name in BUILTIN if shipped_weights(name)],
                        choices=list(BUILTIN))
    args = parser.parse_args()
    for name in args.models:
        if shipped_weights(name) is None:
            sys.exit(f"{name} has no shipped weights: its facts would hold for weights trained here only")
        started = time.perf_counter()
        experiment = load_experiment(name)
        facts = shipped.compute_facts(experiment, lambda detector: _detector_key(experiment, detector),
                                      lambda: fit_uniform_here(experiment), compute_accuracy)
        path = shipped.write_facts(name, facts)
        print(f"{name}: MDL {facts['mdl']['layer']} of {len(facts['mdl']['errors'])}, test accuracy "
              f"{100 * facts['accuracy']['check']['accuracy']:.2f} % -> {path} ({time.perf_counter() - started:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
