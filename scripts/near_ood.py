"""What makes ours uniform on near-OOD? Per-class AUROC of each candidate idea.

    .venv/bin/python scripts/near_ood.py [--models lenet-mnist ...] [--all-kinds]

Models and sets: LeNet-MNIST on Fashion-MNIST, sklearn's digits and ``distorted`` (training
digits under a strong elastic distortion, generated); the two Fashion-MNIST built-ins on MNIST
and ``distorted`` (training clothes, distorted), with ``--train-limit 20000 --test-limit 2000``
as their reports. ``letters`` (glyphs drawn with PIL's default font) is printed as a look-alike
set that no choice reads. ``--all-kinds`` adds noise, fooling images and the five attacks on
LeNet-MNIST, for the mean per kind. The held-out protocol throughout: ranges and tau_i on the
validation split; beta on generated anomalies only. AUROC weighted per predicted class as
``evaluate`` reports it (the paper's weighting), in percent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.anomalies import report_kind  # noqa: E402
from detector.evaluation.benchmark import fit_method  # noqa: E402
from detector.evaluation.evaluate import evaluate_method, metrics_table, score_data  # noqa: E402
from detector.evaluation.experiment import fit_uniform, load_experiment  # noqa: E402
from detector.evaluation.ours import KNN_BETA_STEPS, fit_uniform_knn  # noqa: E402
from detector.method.neighbours import KNN_K, UniformKNNDetector  # noqa: E402
from detector.method.scores import CONF_BETA, choose_beta  # noqa: E402
from detector.method.uniform import UniformDetector  # noqa: E402

SETS = {"lenet-mnist": ["fashion-mnist", "digits", "distorted"],
        "lenet-fashion-mnist": ["mnist", "distorted"], "resnet-fashion-mnist": ["mnist", "distorted"]}
LIMITS = {"lenet-fashion-mnist": (20000, 2000), "resnet-fashion-mnist": (20000, 2000)}
HELD_OUT = "letters"  # printed, never chosen on
OTHER_KINDS = ["gaussian", "uniform", "fooling", "fgsm", "bim-a", "bim-b", "jsma", "cw"]
BASELINES = ("ours", "ours+conf", "knn")


def candidates(experiment, detector) -> dict[str, tuple[UniformKNNDetector, tuple]]:
    """Candidate ideas: (four-term detector, beta over MDL, logit, confidence, k-NN), each chosen
    without an evaluated set. ``detector`` is ours+knn's (k and beta chosen on generated anomalies,
    look-alikes included)."""
    val = experiment.val
    # ours+conf's generated kinds only (no look-alikes) for beta
    plain = UniformDetector.generated_anomalies(detector, val.images, val.labels)
    without, _ = choose_beta(detector.val_scores_, {n: detector.layer_scores(x) for n, x in plain.items()}, KNN_BETA_STEPS)
    # the KNN paper's k = 50 with beta chosen as ours+knn's
    base = fit_uniform(experiment, beta=CONF_BETA)
    k50 = UniformKNNDetector.from_detector(base, experiment.train.images, val.images, KNN_K)
    return {f"k-NN term alone (k={detector.k})": (detector, (0, 0, 0, 1)),
            "4 terms, 1/4 each": (detector, (0.25,) * 4),
            "4 terms, beta w/o look-alikes": (detector, without),
            "4 terms, k=50": (k50, k50.beta_from_generated(val.images, val.labels, KNN_BETA_STEPS)[0]),
            "ours+knn": (detector, detector.beta)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(SETS))
    parser.add_argument("--all-kinds", action="store_true", help="LeNet-MNIST: noise, fooling and attacks too")
    args = parser.parse_args()
    for model in args.models:
        train_limit, test_limit = LIMITS.get(model, (None, None))
        experiment = load_experiment(model, train_limit=train_limit, test_limit=test_limit)
        names = SETS[model] + [HELD_OUT] + (OTHER_KINDS if args.all_kinds and model == "lenet-mnist" else [])
        sets = [experiment.anomaly(name) for name in names]
        table: dict[str, list[float]] = {}
        for method in BASELINES:
            rows = evaluate_method(experiment, method, fit_method(experiment, method), sets)
            table[method] = [r.auroc for r in rows if r.weighting == "per-class"]
        detector = fit_uniform_knn(experiment)
        ideas = candidates(experiment, detector)
        data = {}
        for label, (knn_detector, beta) in ideas.items():
            if id(knn_detector) not in data:
                data[id(knn_detector)] = score_data(experiment, knn_detector, {a.name: a for a in sets})
            rows = metrics_table(data[id(knn_detector)], beta)
            table[label] = list(rows[rows["weighting"] == "per-class"]["AUROC"].round(2))
        # the means per kind leave the held-out set out: it is its own column
        kinds = [report_kind(a.name, a.kind, experiment.id_dataset) if a.name != HELD_OUT else HELD_OUT for a in sets]
        groups = [g for g in dict.fromkeys(kinds) if g != HELD_OUT]
        print(f"\n{model}: per-class AUROC (%), {len(experiment.test)} ID test images, "
              f"{len(experiment.train)} training images; '{HELD_OUT}' chooses nothing; MDL {detector.mdl_}")
        head = [f"{n}*" if n == HELD_OUT else n for n in names] + [f"mean {g}" for g in groups]
        print(f"{'':<32}" + "".join(f"{h:>17}" for h in head))
        for label, values in table.items():
            means = [np.mean([v for v, k in zip(values, kinds) if k == g]) for g in groups]
            print(f"{label:<32}" + "".join(f"{v:>17.2f}" for v in [*values, *means]))
        for label, (knn_detector, beta) in ideas.items():
            print(f"  {label}: k = {knn_detector.k}, beta = ({', '.join(f'{b:.2f}' for b in beta)})")
    print("\n* held out: a look-alike set that no choice reads. beta = (MDL, logit, confidence, k-NN); "
          "k and beta chosen on generated anomalies only.")


if __name__ == "__main__":
    main()
