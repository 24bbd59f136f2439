"""How steady the MDL choice is across training runs of one recipe, on networks with linear bottlenecks
(torchvision's MobileNetV3-small and a narrowed EfficientNet trained briefly on Fashion-MNIST at 32x32 RGB).

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python scripts/layer_choice_study.py --arch mobilenet
    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python scripts/layer_choice_study.py --arch efficientnet --train 10000 --epochs 3

For every training run (``--seed``: the initial weights and the training order) and every candidate layer:
its mix-set error and separation (what the MDL rule reads), each mix-set part's error and AUROC, and the
per-class AUROC (beta 0.5, 0.5) on four sets that the choice never sees: MNIST, elastically distorted
Fashion-MNIST test images, rendered letters and scikit-learn's 8x8 digits. One JSON per run is written
under --out, with each candidate's per-class counts (for a class-balanced error) and, beside it, each set's
normalised terms (``-scores.npz``, for rules that average several candidates); ``--summary`` reads them back
and prints, per rule, the chosen layer's AUROC against the best candidate's (median and worst over the
runs). ``--mix-scale 2``: a mix set twice the validation set's size. Trained networks are kept under
--weights-dir.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobilenet_candidates import SHAPE, recalibrated, study_sets  # noqa: E402

from detector.anomalies import AnomalySet  # noqa: E402
from detector.anomalies.noise import MIX_PARTS, mix_set  # noqa: E402
from detector.evaluation.evaluate import metric_rows  # noqa: E402
from detector.evaluation.experiment import Experiment, check_accuracy  # noqa: E402
from detector.method.features import LOGITS  # noqa: E402
from detector.method.mdl import most_discriminative  # noqa: E402
from detector.method.metrics import per_class_thresholds  # noqa: E402
from detector.method.uniform import UniformDetector  # noqa: E402
from detector.models.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from detector.models.classifiers import prepare_classifier  # noqa: E402
from detector.models.training import train_classifier  # noqa: E402

SETS = ("mnist", "distorted", "letters", "digits")


def network(arch: str) -> torch.nn.Module:
    """MobileNetV3-small as torchvision builds it; EfficientNet-B0's recipe at half width and half depth
    (EfficientNet-B0 itself needs about 7x MobileNetV3-small's multiply-adds: too slow to train five times on 2 CPU cores)."""
    if arch == "mobilenet":
        return torchvision.models.mobilenet_v3_small(num_classes=10)
    from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf

    setting, last = _efficientnet_conf("efficientnet_b0", width_mult=0.5, depth_mult=0.5)
    return EfficientNet(setting, dropout=0.2, num_classes=10, last_channel=last)


def trained(arch: str, train, epochs: int, seed: int, weights: Path) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = network(arch)
    if weights.exists():
        load_checkpoint(net, weights)
    else:
        started = time.perf_counter()
        net = train_classifier(net, train.images, train.labels, epochs=epochs, batch_size=128, lr=3e-3,
                               schedule="one-cycle", augment="none", device="cpu", seed=seed, desc=f"training {arch}")
        print(f"trained in {time.perf_counter() - started:.0f} s", flush=True)
        weights.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(net, weights)
    return recalibrated(net, train.images[:5000])


def candidate_facts(model, experiment: Experiment, anomalies: list, mix_scale: int = 1, scores: dict | None = None) -> dict:
    """Per candidate: the mix-set error and separation (as :func:`detector.method.mdl.mix_set_errors`), each
    mix part's error and AUROC against the validation inputs, and ``ours``'s per-class AUROC (beta 0.5, 0.5)
    with it as the MDL on each anomaly set: the detector's own arithmetic, one forward pass per set."""
    train, val, test = experiment.train, experiment.val, experiment.test
    fixed = UniformDetector(model)
    names = [info.name for info in fixed.extractor.candidates("blocks") if info.name != LOGITS]
    fixed.set_params(layer=names[0]).fit(train.images, val.images, val_labels=val.labels)  # the logits' SVDD
    # mix_scale > 1: the same recipe drawn from the validation images repeated, so more inputs per class
    mix = mix_set(np.tile(val.images, (mix_scale, 1, 1, 1)), np.tile(val.labels, mix_scale), seed=fixed.random_state + 1)
    sets = {"train": train.images, "val": val.images, "mix": mix, "test": test.images,
            **{a.name: a.images for a in anomalies}}
    feats = {key: fixed.extractor.features(images, [*names, LOGITS]) for key, images in sets.items()}
    pred = {key: f[LOGITS].argmax(1) for key, f in feats.items()}
    part_of = np.repeat(np.arange(len(MIX_PARTS)), len(mix) // len(MIX_PARTS))
    facts, logit_svdd = {}, fixed.svdd_[LOGITS]
    for name in names:
        svdd = fixed._svdd().fit(feats["train"][name], pred["train"], 10)
        val_s, mix_s = (svdd.score_samples(feats[k][name], pred[k]) for k in ("val", "mix"))
        tau = per_class_thresholds(val_s, pred["val"], 10, fixed.tpr, fixed.min_samples)
        caught = mix_s < tau[pred["mix"]]
        facts[name] = {
            "error": float((np.sum(val_s < tau[pred["val"]]) + np.sum(~caught)) / (len(val_s) + len(mix_s))),
            "separation": float(roc_auc_score(np.r_[np.ones(len(val_s)), np.zeros(len(mix_s))], np.r_[val_s, mix_s])),
            "parts": {part: {"missed": float(np.mean(~caught[part_of == i])),
                             "auroc": float(roc_auc_score(np.r_[np.ones(len(val_s)), np.zeros(np.sum(part_of == i))],
                                                          np.r_[val_s, mix_s[part_of == i]]))}
                      for i, part in enumerate(MIX_PARTS)},
            "mix_per_class": np.bincount(pred["mix"], minlength=10).tolist(),
            # per predicted class, what a class-balanced error reads: ID inputs rejected, mix inputs missed
            "val_per_class": np.bincount(pred["val"], minlength=10).tolist(),
            "val_rejected_per_class": np.bincount(pred["val"][val_s < tau[pred["val"]]], minlength=10).tolist(),
            "mix_missed_per_class": np.bincount(pred["mix"][~caught], minlength=10).tolist()}
        fixed.mdl_, fixed.svdd_ = name, {name: svdd, LOGITS: logit_svdd}
        fixed._val = ({name: feats["val"][name], LOGITS: feats["val"][LOGITS]}, pred["val"])
        fixed._fit_ranges()
        layer_scores = {key: fixed.feature_scores({name: f[name], LOGITS: f[LOGITS]}) for key, f in feats.items()}
        if scores is not None:  # each set's normalised MDL and logit terms, for rules that mix candidates
            scores.update({f"{name}|{key}|{term}": getattr(s, term) for key, s in layer_scores.items()
                           for term in ("mdl", "logit", "predicted")})
        g = {key: s.combine((0.5, 0.5)) for key, s in layer_scores.items()}
        thresholds = per_class_thresholds(g["val"], pred["val"], 10, 0.95)
        facts[name]["auroc"] = {a.name: row.auroc for a in anomalies for row in metric_rows(
            "ours", a, g["test"], pred["test"], g[a.name], pred[a.name], thresholds) if row.weighting == "per-class"}
        print(f"  {name}: error {100 * facts[name]['error']:.1f} %, " + ", ".join(
            f"{k} {v:.2f}" for k, v in facts[name]["auroc"].items()), flush=True)
    return facts


def run(args, seed: int) -> dict:
    train, val, test, anomalies = study_sets(args.train, args.test)
    weights = args.weights_dir / f"{args.arch}-{args.train}-e{args.epochs}-s{seed}.pt"
    model = prepare_classifier(args.arch, trained(args.arch, train, args.epochs, seed, weights), SHAPE, "fashion-mnist")
    experiment = Experiment(model, "fashion-mnist", train, val, test)
    started = time.perf_counter()
    scores = {}
    facts = candidate_facts(model, experiment, anomalies, args.mix_scale, scores)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / f"{args.arch}-{args.train}-e{args.epochs}-s{seed}-scores.npz", **scores)
    mdl = most_discriminative({k: v["error"] for k, v in facts.items()}, {k: v["separation"] for k, v in facts.items()})
    return {"arch": args.arch, "seed": seed, "epochs": args.epochs, "train": args.train, "test": args.test,
            "accuracy": check_accuracy(experiment).accuracy, "mdl": mdl, "seconds": time.perf_counter() - started,
            "candidates": facts}


def _errors(f: dict) -> dict:
    return {k: v["error"] for k, v in f.items()}


def _within(f: dict, points: float) -> dict:
    """The candidates whose mix-set error is within ``points`` percentage points of the fewest."""
    best = min(v["error"] for v in f.values())
    return {k: v for k, v in f.items() if v["error"] <= best + points / 100}


def _balanced_error(v: dict) -> float:
    """The mix-set error with each predicted class weighing the same (half the mix set is predicted as one class)."""
    val_n, val_rejected, mix_n, mix_missed = (np.array(v[k], float) for k in (
        "val_per_class", "val_rejected_per_class", "mix_per_class", "mix_missed_per_class"))
    seen = mix_n > 0
    return float(np.mean(((val_rejected + mix_missed) / np.maximum(val_n + mix_n, 1))[seen]))


#: Each rule: the candidates it takes as the MDL (several: their normalised MDL terms averaged)
RULES = {
    "paper (fewest errors, AUROC breaks ties)":
        lambda f: [most_discriminative(_errors(f), {k: v["separation"] for k, v in f.items()})],
    "best separation (AUROC, ID vs mix)": lambda f: [max(f, key=lambda k: f[k]["separation"])],
    "best mean AUROC over the mix parts":
        lambda f: [max(f, key=lambda k: np.mean([p["auroc"] for p in f[k]["parts"].values()]))],
    "within 1.5 points of the fewest errors, best separation":
        lambda f: [max(_within(f, 1.5), key=lambda k: f[k]["separation"])],
    "fewest errors, each predicted class weighing the same":
        lambda f: [min(f, key=lambda k: (round(_balanced_error(f[k]), 9), -f[k]["separation"]))],
    "the candidates within 1 point of the fewest errors, their MDL terms averaged": lambda f: list(_within(f, 1.0)),
}


def averaged_auroc(scores, layers: list[str], anomaly: str) -> float:
    """``ours``'s per-class AUROC (beta 0.5, 0.5) with the mean of ``layers``' normalised MDL terms as its
    MDL term (``scores``: a run's saved terms), thresholds at 95 % TPR per class on the validation inputs."""
    def g(key):
        mdl = np.mean([scores[f"{name}|{key}|mdl"] for name in layers], 0)
        return 0.5 * mdl + 0.5 * scores[f"{layers[0]}|{key}|logit"], scores[f"{layers[0]}|{key}|predicted"]

    (val, val_pred), (test, test_pred), (anomalous, pred) = g("val"), g("test"), g(anomaly)
    thresholds = per_class_thresholds(val, val_pred, 10, 0.95)
    named = AnomalySet(anomaly, "ood", anomalous[:0])  # metric_rows reads its name; the AUROC needs no kind
    return next(row.auroc for row in metric_rows("ours", named, test, test_pred, anomalous, pred, thresholds)
                if row.weighting == "per-class")


def summary(out: Path, arch: str) -> None:
    """Per rule: each run's chosen layer against the best candidate on each set, then the gaps' median and worst
    (percentage points of per-class AUROC), and the same as Markdown rows."""
    paths = sorted(out.glob(f"{arch}-*.json"))
    runs = [json.loads(p.read_text()) for p in paths]
    rows = []
    for rule, choose in RULES.items():
        print(f"\n{arch}: {rule}")
        gaps, chosen_ever = {s: [] for s in SETS}, set()
        for path, r in zip(paths, runs):
            f, chosen = r["candidates"], choose(r["candidates"])
            chosen_ever.update(chosen)
            if len(chosen) > 1 and not path.with_name(path.stem + "-scores.npz").exists():
                break  # a run written without its terms: this rule cannot be read back
            terms = np.load(path.with_name(path.stem + "-scores.npz")) if len(chosen) > 1 else None
            line = []
            for s in SETS:
                best = max(f, key=lambda k: f[k]["auroc"][s])
                value = f[chosen[0]]["auroc"][s] if terms is None else averaged_auroc(terms, chosen, s)
                gaps[s].append(value - f[best]["auroc"][s])
                line.append(f"{s} {value:.2f} (best {best} {f[best]['auroc'][s]:.2f})")
            print(f"  seed {r['seed']} acc {100 * r['accuracy']:.2f} MDL {' + '.join(chosen)}: " + "; ".join(line))
        if len(gaps["mnist"]) < len(runs):
            continue
        print("  gap to best, median / worst: " + ", ".join(f"{s} {np.median(g):+.2f} / {min(g):+.2f}" for s, g in gaps.items()))
        rows.append(f"| {arch} ({len(runs)} runs) | {rule} | " + " | ".join(
            f"{np.median(g):+.2f} / {min(g):+.2f}" for g in gaps.values()) + f" | {', '.join(sorted(chosen_ever))} |")
    print("\n" + "\n".join(rows))
    print("\n| seed | test accuracy | MDL (mix-set error) | MNIST | best candidate on MNIST |")
    for r in runs:
        f = r["candidates"]
        chosen, best = RULES[next(iter(RULES))](f)[0], max(f, key=lambda k: f[k]["auroc"]["mnist"])
        print(f"| {r['seed']} | {100 * r['accuracy']:.2f} % | `{chosen}` ({100 * f[chosen]['error']:.1f} %) | "
              f"{f[chosen]['auroc']['mnist']:.2f} | `{best}`: {f[best]['auroc']['mnist']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=("mobilenet", "efficientnet"), default="mobilenet")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--train", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("layer-choice-study"))
    parser.add_argument("--weights-dir", type=Path, default=Path("layer-choice-study/weights"))
    parser.add_argument("--mix-scale", type=int, default=1, help="a mix set this many times the validation set's size")
    parser.add_argument("--summary", action="store_true", help="only read the runs written before and compare the rules")
    args = parser.parse_args()
    if not args.summary:
        for seed in args.seeds:
            path = args.out / f"{args.arch}-{args.train}-e{args.epochs}-s{seed}.json"
            if not path.exists():
                result = run(args, seed)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(result, indent=1))
    summary(args.out, args.arch)


if __name__ == "__main__":
    main()
