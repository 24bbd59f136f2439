"""Speed figures of the detector core on the built-in default (LeNet, MNIST). Prints, never asserts.

    .venv/bin/python scripts/benchmark_core.py

- fit time (cold: empty feature cache in a temporary folder; warm: features cached),
- scoring cost as a ratio to a bare forward pass of the classifier (batches of 1,000 and 10,000;
  on the CPU, and on CUDA when there is a GPU; the goal is at most 1.5x),
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

from detector.evaluation.experiment import load_experiment  # noqa: E402
from detector.method.uniform import UniformDetector  # noqa: E402


def timed(function, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def devices() -> list[torch.device]:
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()  # CUDA calls return before the work is done


def scoring_ratio(detector, images: np.ndarray, device: torch.device) -> None:
    """score_samples (a user's inputs: no cache) against the bare forward pass of the same inputs,
    taken two ways: one call on a tensor already on the device, and the detector's own path
    (NumPy in batches of 500, logits back to NumPy)."""
    module = detector.model.module
    inputs = torch.from_numpy(images).to(device)

    def bare():
        with torch.no_grad():
            module(inputs)
        synchronize(device)

    def from_numpy():
        with torch.no_grad():
            for start in range(0, len(images), 500):
                module(torch.from_numpy(images[start: start + 500]).to(device)).cpu()

    repeat = 5 if len(images) <= 1000 else 3
    for warm_up in (bare, from_numpy, lambda: detector.score_samples(images)):
        warm_up()
    forward, _ = timed(bare, repeat)
    batched, _ = timed(from_numpy, repeat)
    scoring, _ = timed(lambda: detector.score_samples(images), repeat)
    print(f"{device.type}, batch {len(images):,}: forward {1000 * forward:7.1f} ms (one call on the device), "
          f"{1000 * batched:7.1f} ms (from NumPy in batches of 500); score_samples {1000 * scoring:7.1f} ms = "
          f"{scoring / forward:.2f}x / {scoring / batched:.2f}x")


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

        for device in devices():
            experiment.model.module.to(device)  # the detector follows its model: SVDD kernels run there too
            for size in (1000, 10000):
                scoring_ratio(detector, np.ascontiguousarray(np.resize(test, (size, *test.shape[1:]))), device)

        batch = test[:1000]
        beta_time, _ = timed(lambda: detector.set_beta((0.3, 0.7)), repeat=20)
        parts = detector.layer_scores(batch)
        combine_time, _ = timed(lambda: parts.combine((0.3, 0.7)), repeat=20)
        nu_time, _ = timed(lambda: detector.set_nu(0.2))
        print(f"new beta: thresholds {1000 * beta_time:.2f} ms + re-combine 1,000 cached scores {1000 * combine_time:.3f} ms")
        print(f"new nu: refit both per-class SVDDs {nu_time:.2f} s")


if __name__ == "__main__":
    main()
