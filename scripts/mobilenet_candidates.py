"""Issue 26's case: a torchvision MobileNetV3-small trained briefly on Fashion-MNIST (32x32 RGB), MNIST as
OOD; `ours` with the candidate layers found by class name before (the squeeze-excitation pools and the
final pool: no class is named ...Block) and by structure now (the block outputs features.0 ... features.12).

    OMP_NUM_THREADS=1 nice .venv/bin/python scripts/mobilenet_candidates.py [--train 20000] [--epochs 2]
    .venv/bin/python scripts/mobilenet_candidates.py --conf-time   # ours+conf's time from scratch

Prints the test accuracy, each run's MDL and mix-set errors, and the per-class and global AUROC / TNR at
95 % TPR on MNIST, and on three sets that check a choice is not MNIST's alone: elastically distorted
Fashion-MNIST test images, rendered letters and scikit-learn's 8x8 digits (upscaled). The trained network
is written to --weights (a state dict) and read from there next time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.anomalies import AnomalySet
from detector.anomalies.lookalikes import distorted_images, rendered_letters
from detector.data.datasets import Dataset
from detector.data.loading import load_dataset
from detector.evaluation.evaluate import evaluate_method
from detector.evaluation.experiment import Experiment, check_accuracy
from detector.inputs.images import to_input_shape
from detector.method.features import _POOLS, candidate_layers
from detector.method.scores import CONF_BETA
from detector.method.uniform import UniformDetector
from detector.models.checkpoints import load_checkpoint, save_checkpoint
from detector.models.classifiers import prepare_classifier
from detector.models.training import train_classifier
from detector.runtime import subsample

SHAPE = (3, 32, 32)


def split(name: str, part: str, limit: int | None) -> Dataset:
    data = load_dataset(name, part)
    keep = subsample(len(data.labels), limit, 0)
    return Dataset(name, part, to_input_shape(data.images[keep], SHAPE, f"{name}/{part}"), data.labels[keep])


def study_sets(train_limit: int | None, test_limit: int | None) -> tuple[Dataset, Dataset, Dataset, list[AnomalySet]]:
    """Fashion-MNIST's train, validation and test splits at 32x32 RGB, and the anomaly sets: MNIST, and three
    that check a choice is not MNIST's alone (distorted test clothes, rendered letters, scikit-learn's digits)."""
    train, val = split("fashion-mnist", "train", train_limit), split("fashion-mnist", "val", None)
    test, mnist = split("fashion-mnist", "test", test_limit), split("mnist", "test", test_limit)
    anomalies = [AnomalySet("mnist", "ood", mnist.images),
                 AnomalySet("distorted", "near-ood", distorted_images(test.images, len(test.labels))),
                 AnomalySet("letters", "near-ood", to_input_shape(rendered_letters(len(test.labels)), SHAPE, "letters")),
                 AnomalySet("digits", "ood", split("digits", "test", None).images)]
    return train, val, test, anomalies


def trained_network(train: Dataset, epochs: int, weights: Path, seed: int = 0) -> torch.nn.Module:
    """The network with ``weights`` when the file exists, else trained (seeded, on the CPU) and saved there."""
    torch.manual_seed(seed)
    network = torchvision.models.mobilenet_v3_small(num_classes=10)
    if weights.exists():
        load_checkpoint(network, weights)
    else:
        network = train_classifier(network, train.images, train.labels, epochs=epochs, batch_size=128, lr=3e-3,
                                   schedule="one-cycle", augment="none", device="cpu", seed=seed,
                                   desc="training MobileNetV3-small")
        save_checkpoint(network, weights)
    return recalibrated(network, train.images[:5000])


def recalibrated(network: torch.nn.Module, images) -> torch.nn.Module:
    """BatchNorm's running statistics averaged anew over ``images``: torchvision's MobileNetV3 keeps them
    with momentum 0.01, which lags three epochs of one-cycle training (11.9 % test accuracy in eval mode,
    86.2 % in train mode; 86.5 % recalibrated on 5,000 images)."""
    norms = [m for m in network.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average
    network.train()
    with torch.no_grad():
        for start in range(0, len(images), 250):
            network(torch.from_numpy(images[start: start + 250]))
    return network.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=20000, help="training images (also those the detector fits on)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--test", type=int, default=2000, help="ID test images and MNIST images")
    parser.add_argument("--seed", type=int, default=0, help="torch's seed for the initial weights and the training order")
    parser.add_argument("--each-layer", action="store_true",
                        help="also the per-class AUROC of every candidate as the MDL (beta 0.5, 0.5)")
    parser.add_argument("--conf-time", action="store_true",
                        help="only time ours+conf from scratch: the MDL choice, its SVDDs and beta on generated anomalies")
    parser.add_argument("--weights", type=Path, default=Path("mobilenet_v3_small-fashion-mnist.pt"),
                        help="the trained network: loaded when the file exists, else trained and written there")
    args = parser.parse_args()
    train, val, test, anomalies = study_sets(args.train, args.test)
    network = trained_network(train, args.epochs, args.weights, args.seed)
    model = prepare_classifier("mobilenet_v3_small", network, SHAPE, "fashion-mnist")
    experiment = Experiment(model, "fashion-mnist", train, val, test)
    print(f"test accuracy {100 * check_accuracy(experiment).accuracy:.2f} % ({len(test.labels)} images)")
    if args.conf_time:
        return conf_time(model, train, val)
    named = dict(model.module.named_modules())
    before = [info.name for info in candidate_layers(model.module, SHAPE) if isinstance(named.get(info.name), _POOLS)]
    for label, candidates in (("class names (before)", before), ("structure (now)", "blocks")):
        started = time.perf_counter()
        detector = UniformDetector(model, candidates=candidates).fit(train.images, val.images, val_labels=val.labels)
        rows = evaluate_method(experiment, "ours", detector, anomalies)
        print(f"\n{label}: {len(detector.layer_errors_)} candidates, MDL {detector.mdl_} "
              f"({time.perf_counter() - started:.0f} s)")
        print("  mix-set error: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in detector.layer_errors_.items()))
        for row in rows:
            print(f"  {row.anomaly:<10} {row.weighting:<9} AUROC {row.auroc:6.2f}  TNR@95TPR {row.tnr_at_95_tpr:6.2f}")
        if args.each_layer:
            aurocs = {}
            for layer in detector.layer_errors_:
                fixed = UniformDetector(model, layer=layer).fit(train.images, val.images, val_labels=val.labels)
                rows = evaluate_method(experiment, "ours", fixed, anomalies[:1])
                aurocs[layer] = next(row.auroc for row in rows if row.weighting == "per-class")
            print("  per-class AUROC with each as MDL: " + ", ".join(f"{k} {v:.2f}" for k, v in aurocs.items()))


def conf_time(model, train: Dataset, val: Dataset) -> None:
    """Seconds ours+conf takes from scratch (nothing read from the cache): the detector's fit (features, the MDL
    chosen among the candidates, its SVDDs) and beta picked on generated anomalies (bar on stderr)."""
    started = time.perf_counter()
    detector = UniformDetector(model, beta=CONF_BETA).fit(train.images, val.images, val_labels=val.labels)
    fitted = time.perf_counter()
    beta, sizes = detector.beta_from_generated(val.images, val.labels, progress=True)
    done = time.perf_counter()
    print(f"ours+conf on {len(train.labels):,} training and {len(val.labels):,} validation images: MDL {detector.mdl_}, "
          f"beta ({', '.join(f'{b:.2f}' for b in beta)}) picked on {sizes}")
    print(f"fit {fitted - started:.0f} s + beta {done - fitted:.0f} s = {done - started:.0f} s")


if __name__ == "__main__":
    main()
