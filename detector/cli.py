"""Command line: ``python -m detector layers|evaluate ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from .anomalies import anomaly_kinds
from .data import DataError
from .images import image_file_bytes, require_file
from .features import CANDIDATES, LayerError
from .inspect import INVERT
from .models import BUILTIN, ModelError

BETA_HELP = ("weights of the MDL, logit and confidence scores, 'a,b' (the paper's two terms) or 'a,b,c' "
             "(default 0.5,0.5; --method ours+conf picks its own on generated anomalies, ours+conf-equal uses 1/3 each)")
EPILOG = f"built-in models: {', '.join(BUILTIN)}; user models: path/to/file.py:factory [--weights file.pt]"


def _beta(text: str) -> tuple[float, ...]:
    """Two or three numbers; their values are checked with the other parameters (see _check_detector_params)."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (2, 3):
        raise argparse.ArgumentTypeError(f"--beta takes two or three numbers 'a,b' or 'a,b,c' (MDL, logit, confidence), "
                                         f"got {text!r}")
    return values


def _anomaly_file(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--anomaly-file takes NAME=path.npz or NAME=FOLDER, got {text!r}")
    name, path = text.split("=", 1)
    if not name:
        raise argparse.ArgumentTypeError(f"--anomaly-file takes NAME=path.npz or NAME=FOLDER with a name, got {text!r}")
    return name, path


NUMBER_OPTIONS = ("--beta", "--nu")


def _attach_negative_values(argv: list[str]) -> list[str]:
    """'--beta -1,2' -> '--beta=-1,2': argparse takes '-1,2' for an option and says only
    "expected one argument"; attached, the value reaches the check that says what is wrong."""
    joined: list[str] = []
    for item in argv:
        if joined and joined[-1] in NUMBER_OPTIONS and item.startswith("-") and item[1:2].isdigit():
            joined[-1] = f"{joined[-1]}={item}"
        else:
            joined.append(item)
    return joined


def _check_detector_params(args) -> None:
    """beta and nu are checked before any model or cache is touched (a bad beta once deleted a cached detector)."""
    from .uniform import UniformDetector

    UniformDetector.check_beta(args.beta)
    UniformDetector.check_nu(args.nu)


def _candidates(args) -> dict:
    """``candidates`` for fit_uniform: none for the default, so that cached detectors and benchmark
    cells keyed before the option existed are found again."""
    return {} if args.candidates == "blocks" else {"candidates": args.candidates}


def _check_output(path: str | None) -> None:
    """Refuse an output file that cannot be written before a long run, not after it."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise DataError(f"output {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise DataError(f"cannot write {path}: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise DataError(f"cannot write {path}: the folder {path.parent} is not writable")


FOLDER_LAYOUT = ("one sub-folder of PNG / JPEG pictures per class (ImageFolder layout), inside train/ and test/ (and "
                 "val/, else 10 %% of train/) or split seeded and stratified: 10 %% test, 10 %% validation (at most 5,000), "
                 "80 %% train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m detector", description="Uniform anomaly detection for DNN classifiers.", epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", required=True)

    def model_args(sub):
        sub.add_argument("--model", required=True, help="built-in name or path/to/file.py:factory")
        sub.add_argument("--weights", help="state_dict file for a user model (loaded with weights_only=True)")
        sub.add_argument("--id-dataset", help="in-distribution dataset (needed for a user model): mnist, fashion-mnist, "
                         "digits, cifar10, svhn, or a FOLDER with " + FOLDER_LAYOUT + "; read in batches with a progress bar")

    def limit_args(sub):
        sub.add_argument("--train-limit", type=int, help="fit on a seeded subset of this many training images "
                                                          "(built-in Fashion-MNIST models: 20000 unless given)")
        sub.add_argument("--test-limit", type=int,
                         help="evaluate on a seeded subset of this many test images (anomaly sets are as large)")

    layers = commands.add_parser("layers", help="list a model's candidate layers", epilog=EPILOG)
    model_args(layers)

    evaluate = commands.add_parser("evaluate", help="fit a detector and evaluate it on anomaly sets", epilog=EPILOG)
    model_args(evaluate)
    evaluate.add_argument("--method", action="append", default=[],
                          help="method, repeatable or comma-separated: ours, ours+conf, ours+conf-equal, a baseline (msp, odin, odin+pre, odin+orig, mahalanobis, "
                               "mahalanobis+pre, mahalanobis+ens, elo, kd-bu, lid, energy, maxlogit, gen, knn, vim, react, "
                               "ash, dice, godin, nnif, fs), kd-bu+known / lid+known / nnif+known, any NAME+oe, or all (default: ours)")
    evaluate.add_argument("--anomaly", action="append", default=[], help=f"anomaly set, repeatable: {', '.join(anomaly_kinds())}")
    evaluate.add_argument("--anomaly-file", action="append", default=[], type=_anomaly_file, help="NAME=path.npz (array 'images') or NAME=FOLDER of PNG / JPEG pictures")
    evaluate.add_argument("--layer", default="auto", help="MDL name, or auto (chosen on the generated mix set)")
    evaluate.add_argument("--beta", type=_beta, default=(0.5, 0.5), help=BETA_HELP)
    evaluate.add_argument("--nu", type=float, default=0.1, help="SVDD nu in (0, 1]")
    evaluate.add_argument("--candidates", choices=CANDIDATES, default="blocks",
                          help="layers tried as MDL: blocks (default: ResNet's residual blocks, VGG's pooling stages, "
                               "every layer of a small net such as LeNet) or all (every layer: slower on deep nets)")
    evaluate.add_argument("--protocol", choices=("held-out", "authors"), default="held-out",
                          help="held-out (default) or the authors' code's: thresholds, ranges and layer on the evaluation data")
    evaluate.add_argument("--json", help="write the results to this JSON file")
    limit_args(evaluate)
    report = commands.add_parser("report", help="benchmark tables (Markdown, CSV, JSON) with the paper's figures",
                                 epilog=EPILOG)
    model_args(report)
    report.add_argument("--methods", nargs="+", default=["all"], help="methods as for evaluate --method (default: all)")
    report.add_argument("--anomalies", dest="anomaly", nargs="+", default=[],
                        help=f"anomaly sets: {', '.join(anomaly_kinds())} (default: the other of mnist/fashion-mnist, "
                             "gaussian, uniform, fooling and the five attacks)")
    report.add_argument("--anomaly-file", action="append", default=[], type=_anomaly_file, help="NAME=path.npz (array 'images') or NAME=FOLDER of PNG / JPEG pictures")
    report.add_argument("--weighting", choices=("per-class", "global"), default="per-class",
                        help="weighting shown in the Markdown tables (CSV/JSON hold both)")
    report.add_argument("--protocol", choices=("held-out", "authors", "both"), default="held-out",
                        help="held-out (ours: thresholds and ranges on validation data) or the authors' code's "
                             "(fitted on the evaluation data), or both side by side")
    report.add_argument("-o", "--output", required=True, help="Markdown file; .csv and .json are written beside it")
    limit_args(report)
    check = commands.add_parser("check", help="judge your own inputs (PNG / JPEG / .npy / .npz): prediction, scores, verdict",
                                epilog=EPILOG)
    model_args(check)
    check.add_argument("files", nargs="+", help="PNG or JPEG pictures, .npy arrays ((H,W), (C,H,W), (H,W,C) or (N,C,H,W)), "
                                                ".npz files with an array 'images' (as written by 'anomalies export')")
    check.add_argument("--detector", help="a saved detector (Tune page 'Save', or UniformDetector.save); "
                                          "it then sets layer, beta and nu; default: fit one with --layer, --beta, --nu (cached)")
    check.add_argument("--layer", default="auto", help="MDL name, or auto (chosen on the generated mix set)")
    check.add_argument("--beta", type=_beta, default=(0.5, 0.5), help=BETA_HELP)
    check.add_argument("--nu", type=float, default=0.1, help="SVDD nu in (0, 1]")
    check.add_argument("--candidates", choices=CANDIDATES, default="blocks",
                          help="layers tried as MDL: blocks (default: ResNet's residual blocks, VGG's pooling stages, "
                               "every layer of a small net such as LeNet) or all (every layer: slower on deep nets)")
    check.add_argument("--invert", choices=list(INVERT), default="auto",
                       help="invert pictures' colours; auto: when the border is light (dark ink on paper)")
    check.add_argument("--mnist-style", action=argparse.BooleanOptionalAction, default=True,
                       help="for 28x28 grey models, fit a picture's ink into 20x20 and centre it by its centre of mass, "
                            "as MNIST's digits were made (default: on)")
    check.add_argument("--csv", help="also write the verdicts to this CSV file")
    anomalies = commands.add_parser("anomalies", help="export or show an anomaly set", epilog=EPILOG)
    actions = anomalies.add_subparsers(dest="action", required=True)
    for action, what in (("export", "an .npz file with an array 'images'"), ("show", "a PNG picture grid")):
        sub = actions.add_parser(action, help=f"write {what}", epilog=EPILOG)
        sub.add_argument("name", help=f"anomaly set: {', '.join(anomaly_kinds())}")
        model_args(sub)
        sub.add_argument("-o", "--output", required=True, help="output file")
        if action == "show":
            sub.add_argument("--count", type=int, default=40, help="how many examples to show")
    return parser


def cmd_anomalies(args) -> None:
    import torch

    from .experiment import load_experiment

    kinds = anomaly_kinds()
    if args.name not in kinds:
        raise DataError(f"unknown anomaly set {args.name!r}; valid names: {', '.join(kinds)}")
    output = Path(args.output)
    if args.action == "export":
        if output.suffix != ".npz":
            output = output.with_name(output.name + ".npz")  # numpy adds it anyway: say so
        _check_output(output)
    if args.action == "show" and args.count < 1:
        raise DataError(f"--count must be at least 1, got {args.count}")
    experiment = load_experiment(args.model, args.weights, args.id_dataset, progress=True)
    images = experiment.anomaly(args.name).images
    if args.action == "export":
        output.write_bytes(image_file_bytes(images))
        print(f"wrote {len(images)} images of shape {images.shape[1:]} to {output}")
        return
    from .anomalies.grid import save_grid

    shown = images[: args.count]
    probabilities = torch.softmax(torch.from_numpy(experiment.extractor.logits(shown)), 1).numpy()
    captions = [f"pred {p.argmax()} ({100 * p.max():.2f}%)" for p in probabilities]
    save_grid(shown, captions, args.output)
    print(f"wrote a grid of {len(shown)} {args.name} images to {args.output}")


def cmd_layers(args) -> None:
    from .features import FeatureExtractor
    from .models import load_model

    extractor = FeatureExtractor(load_model(args.model, args.weights, args.id_dataset, progress=True))
    tried = {layer.name for layer in extractor.candidates("blocks")}
    print(f"{'layer':<28} {'type':<14} {'output shape':<18} features")
    for layer in extractor.valid_layers:
        mark = " *" if layer.name in tried and layer.name != "logits" else ""
        print(f"{layer.name:<28} {layer.kind:<14} {str(layer.output_shape):<18} {layer.feature_dim}{mark}")
    print("* tried as MDL by default (--candidates blocks); --candidates all tries every layer")


def _check_anomalies(args) -> None:
    if not args.anomaly and not args.anomaly_file:
        raise DataError("give at least one --anomaly NAME or --anomaly-file NAME=path.npz")
    kinds = anomaly_kinds()
    unknown = [name for name in args.anomaly if name not in kinds]
    if unknown:
        raise DataError(f"unknown anomaly set(s) {', '.join(unknown)}; valid names: {', '.join(kinds)}")
    names = [*args.anomaly, *(name for name, _path in args.anomaly_file)]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:  # rows are keyed by name: the second set's rows were the first's, printed twice
        raise DataError(f"anomaly set name(s) given more than once: {', '.join(twice)}; "
                        "give each --anomaly / --anomaly-file NAME=path.npz its own name")


def cmd_evaluate(args) -> None:
    from .benchmark import expand_methods, run_benchmark
    from .experiment import load_experiment, untrained_warning

    methods = expand_methods(args.method or ["ours"])
    _check_anomalies(args)
    _check_detector_params(args)
    _check_output(args.json)
    started = time.time()
    experiment = load_experiment(args.model, args.weights, args.id_dataset, progress=True, train_limit=args.train_limit,
                                 test_limit=args.test_limit)
    bench = run_benchmark(experiment, methods, args.anomaly, model_name=args.model, anomaly_files=args.anomaly_file,
                          ours_params={"layer": args.layer, "beta": args.beta, "nu": args.nu, **_candidates(args)},
                          protocol=args.protocol, echo=lambda text: print(text, file=sys.stderr))
    rows = bench.rows
    accuracy = experiment.test_accuracy

    print(f"model {args.model} | ID {experiment.id_dataset} (train {len(experiment.train)}, "
          f"val {len(experiment.val)}, test {len(experiment.test)}) | test accuracy {100 * accuracy:.2f} %")
    if warning := untrained_warning(accuracy, experiment.model.n_classes):
        print(f"WARNING: {warning}", file=sys.stderr)
    detector = None
    if {"ours", "ours+conf", "ours+conf-equal"} & set(methods) and args.protocol == "held-out":  # they share the MDL
        from .experiment import fit_uniform, fit_uniform_conf

        detector = fit_uniform(experiment, layer=args.layer, beta=args.beta, nu=args.nu, **_candidates(args))  # cached
        beta = ", ".join(f"{b:.3g}" for b in detector.check_beta(detector.beta))
        print(f"MDL {detector.mdl_} | beta ({beta}) | nu {detector.nu}")
        if "ours+conf" in methods:
            chosen = fit_uniform_conf(experiment, layer=args.layer, nu=args.nu).beta
            print("ours+conf: beta picked on generated anomalies (" + ", ".join(f"{b:.3g}" for b in chosen) + ")")
        if detector.layer_errors_:
            print("mix-set error per layer: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in detector.layer_errors_.items()))
    width = max([8] + [len(row.method) for row in rows])
    print(f"\n{'method':<{width}} {'anomaly':<16} {'kind':<12} {'weighting':<10} {'TNR@95TPR':>9} {'AUROC':>7} {'ID TPR':>7}")
    for row in rows:
        note = f"  ({row.classes_left_out} classes left out of AUROC)" if row.classes_left_out else ""
        print(f"{row.method:<{width}} {row.anomaly:<16} {row.kind:<12} {row.weighting:<10} {row.tnr_at_95_tpr:>9.2f} "
              f"{row.auroc:>7.2f} {row.tpr:>7.2f}{note}")
    for note in bench.notes:
        print(f"note: {note}")
    where = "the validation split (held-out ID)" if args.protocol == "held-out" else "the ID test split (authors' protocol)"
    print(f"\nper-class: thresholds tau_i fitted on {where}, AUROC weighted by class share;"
          "\nglobal: one threshold at 95 % TPR of the ID test scores. Values in percent.")
    print(f"done in {time.time() - started:.1f} s")
    if args.json:
        result = {"model": args.model, "id_dataset": experiment.id_dataset, "test_accuracy": round(accuracy, 4),
                  "mdl": detector.mdl_ if detector is not None else None, "rows": [row.as_json() for row in rows]}
        Path(args.json).write_text(json.dumps(result, indent=2))


def _read_inputs(paths: list[str], input_shape, invert: bool | None, mnist_style: bool = True
                 ) -> list[tuple[str, "np.ndarray"]]:
    """(file name, images) per file, all read before the detector is fitted or loaded; notes go to stderr."""
    from .images import load_image_file
    from .inspect import read_upload

    inputs = []
    for path in map(require_file, paths):
        if path.suffix.lower() == ".npz":
            images, notes = load_image_file(path, input_shape), []
        else:
            images, notes = read_upload(str(path), path.read_bytes(), input_shape, invert, max_bytes=None,
                                        mnist_style=mnist_style)
        for note in notes:
            print(f"{path}: {note}", file=sys.stderr)
        inputs.append((str(path), images))
    return inputs


def cmd_check(args) -> None:
    import csv

    from .inspect import judge
    from .uniform import UniformDetector

    invert = INVERT[args.invert]
    _check_detector_params(args)
    _check_output(args.csv)
    if args.detector:
        from .models import load_model

        model = load_model(args.model, args.weights, args.id_dataset, progress=True)
        inputs = _read_inputs(args.files, model.input_shape, invert, args.mnist_style)
        detector = UniformDetector.load(args.detector, model)
    else:
        from .experiment import fit_uniform, load_experiment, untrained_warning

        experiment = load_experiment(args.model, args.weights, args.id_dataset, progress=True)
        inputs = _read_inputs(args.files, experiment.model.input_shape, invert, args.mnist_style)  # bad files fail before a long fit
        if warning := untrained_warning(experiment.test_accuracy, experiment.model.n_classes):
            print(f"WARNING: {warning}", file=sys.stderr)
        detector = fit_uniform(experiment, layer=args.layer, beta=args.beta, nu=args.nu, **_candidates(args))
    header = ["file", "index", "predicted", "softmax", "mdl_score", "logit_score", "conf_score", "g", "tau", "verdict"]
    rows = [[name, index, verdict.predicted, round(verdict.probability, 4), round(verdict.mdl, 4), round(verdict.logit, 4),
             round(verdict.conf, 4), round(verdict.score, 4), round(verdict.tau, 4),
             "anomaly" if verdict.is_anomaly else "normal"]
            for name, images in inputs for index, verdict in enumerate(judge(detector, images))]
    width = max(len(row[0]) for row in rows)
    beta = ", ".join(f"{b:.3g}" for b in detector.check_beta(detector.beta))
    print(f"MDL {detector.mdl_} | beta ({beta}) | nu {detector.nu} | anomaly when g = beta_1 * MDL score + "
          "beta_2 * logit score + beta_3 * confidence score < tau of the predicted class")
    print(f"{'file':<{width}} {'#':>5} {'pred':>4} {'softmax':>8} {'MDL':>7} {'logit':>7} {'conf':>7} {'g':>7} {'tau':>7}  "
          "verdict")
    for name, index, predicted, probability, mdl, logit, conf, score, tau, verdict in rows:
        print(f"{name:<{width}} {index:>5} {predicted:>4} {100 * probability:>7.2f}% {mdl:>7.3f} {logit:>7.3f} "
              f"{conf:>7.3f} {score:>7.3f} {tau:>7.3f}  {verdict}")
    anomalies = sum(row[-1] == "anomaly" for row in rows)
    print(f"{anomalies} of {len(rows)} inputs are anomalies")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            csv.writer(handle).writerows([header] + rows)
        print(f"wrote {args.csv}")


def cmd_report(args) -> None:
    from .authors import PROTOCOLS
    from .benchmark import expand_methods, run_benchmark
    from .experiment import load_experiment
    from .report import write_report

    methods = expand_methods(args.methods)
    if args.anomaly or args.anomaly_file:
        _check_anomalies(args)
    _check_output(args.output)  # the .csv and .json go beside it
    experiment = load_experiment(args.model, args.weights, args.id_dataset, progress=True, train_limit=args.train_limit,
                                 test_limit=args.test_limit)
    if not args.anomaly and not args.anomaly_file:
        others = [name for name in ("mnist", "fashion-mnist") if name != experiment.id_dataset]
        args.anomaly = others + ["gaussian", "uniform", "fooling", "fgsm", "bim-a", "bim-b", "jsma", "cw"]
    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    benches = [run_benchmark(experiment, methods, args.anomaly, model_name=args.model, anomaly_files=args.anomaly_file,
                             protocol=protocol, echo=lambda text: print(text, file=sys.stderr)) for protocol in protocols]
    command = "python -m detector " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("__main__.py") else ""
    for path in write_report(benches, args.output, weighting=args.weighting, command=command):
        print(f"wrote {path}")
    print(f"done in {sum(bench.seconds for bench in benches):.1f} s")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(_attach_negative_values(sys.argv[1:] if argv is None else argv))
    try:
        {"layers": cmd_layers, "evaluate": cmd_evaluate, "check": cmd_check, "anomalies": cmd_anomalies,
         "report": cmd_report}[args.command](args)
    except (DataError, ModelError, LayerError, ValueError, RuntimeError, OSError) as error:  # OSError: disk full...
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
