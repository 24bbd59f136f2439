"""Speed figures of the detector core on the built-in default (LeNet, MNIST). Prints, never asserts.

    .venv/bin/python scripts/benchmark_core.py

- fit time (cold: empty feature cache in a temporary folder; warm: features cached),
- scoring cost as a ratio to a bare forward pass of the classifier (batch of 1,000),
- time to re-combine with a new beta (thresholds only),
- time to refit for a new nu (SVDDs only, the MDL kept).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.experiment import load_experiment  # noqa: E402
from detector.runtime import model_device  # noqa: E402
from detector.uniform import UniformDetector  # noqa: E402


def timed(function, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def main():
    experiment = load_experiment("lenet-mnist", progress=True)
    train, val, test = experiment.train.images, experiment.val.images, experiment.test.images
    with tempfile.TemporaryDirectory() as empty_cache:
        os.environ["ANOMALY_CACHE_DIR"] = empty_cache
        cold, detector = timed(lambda: UniformDetector(experiment.model).fit(train, val, val_labels=experiment.val.labels))
        warm, _ = timed(lambda: UniformDetector(experiment.model).fit(train, val, val_labels=experiment.val.labels))
        fixed, _ = timed(lambda: UniformDetector(experiment.model, layer=detector.mdl_).fit(train, val))
        print(f"fit, layer=auto ({len(detector.layer_errors_)} candidate layers), cold feature cache: {cold:6.2f} s")
        print(f"fit, layer=auto, warm feature cache:                        {warm:6.2f} s")
        print(f"fit, layer={detector.mdl_} given, warm feature cache:               {fixed:6.2f} s")

        batch = test[:1000]
        module = experiment.model.module
        device = model_device(module)
        inputs = torch.from_numpy(batch).to(device)  # on the model's device, as the detector's own batches are

        def forward_pass():
            with torch.no_grad():
                module(inputs)
            if device.type == "cuda":
                torch.cuda.synchronize()  # CUDA calls return before the work is done

        forward, _ = timed(forward_pass, repeat=5)
        os.environ["ANOMALY_CACHE_DIR"] = tempfile.mkdtemp(dir=empty_cache)  # no cached features: the full cost
        scoring, _ = timed(lambda: detector.score_samples(np.ascontiguousarray(batch)), repeat=1)
        print(f"bare forward pass, batch 1,000:   {1000 * forward:8.1f} ms")
        print(f"score_samples, batch 1,000:       {1000 * scoring:8.1f} ms  ({scoring / forward:.1f}x the forward pass; "
              "includes feature extraction, hashing and cache writes)")

        beta_time, _ = timed(lambda: detector.set_beta((0.3, 0.7)), repeat=20)
        parts = detector.layer_scores(batch)
        combine_time, _ = timed(lambda: parts.combine((0.3, 0.7)), repeat=20)
        nu_time, _ = timed(lambda: detector.set_nu(0.2))
        print(f"new beta: thresholds {1000 * beta_time:.2f} ms + re-combine 1,000 cached scores {1000 * combine_time:.3f} ms")
        print(f"new nu: refit both per-class SVDDs {nu_time:.2f} s")


if __name__ == "__main__":
    main()
