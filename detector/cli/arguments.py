"""The command line's arguments: ``python -m detector --help`` (the commands are in :mod:`detector.cli.main`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..anomalies import anomaly_kinds
from ..evaluation.judging import DEFAULT_METHOD
from ..evaluation.registry import ATTACK_TRAINED, METHODS
from ..inputs.uploads import INVERT
from ..method.features import CANDIDATES
from ..models.classifiers import BUILTIN

BETA_HELP = ("weights of the MDL, logit and confidence scores, 'a,b' (the paper's two terms) or 'a,b,c' "
             "(default 0.5,0.5; --method ours+conf picks its own on generated anomalies, ours+conf-equal uses 1/3 each)")
EPILOG = f"built-in models: {', '.join(BUILTIN)}; user models: path/to/file.py:factory [--weights file.pt]"
METHOD_HELP = (f"method, repeatable or comma-separated: {', '.join(METHODS)}, "
               f"{' / '.join(name + '+known' for name in ATTACK_TRAINED)} (trained on the evaluated attack), any NAME+oe "
               "(on the classifier fine-tuned with Outlier Exposure), or all")


def methods_epilog() -> str:
    """Every registered method in one line each, as its class describes it, then :data:`EPILOG`."""
    width = max(map(len, METHODS))
    lines = [f"  {name:<{width}}  {cls.info.description} ({cls.info.reference})" for name, cls in METHODS.items()]
    return "methods:\n" + "\n".join(lines) + "\n\n" + EPILOG


def _beta(text: str) -> tuple[float, ...]:
    """Two or three numbers; their values are checked with the other parameters (see checks.check_detector_params)."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (2, 3):
        raise argparse.ArgumentTypeError(f"--beta takes two or three numbers 'a,b' or 'a,b,c' (MDL, logit, confidence), "
                                         f"got {text!r}")
    return values


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _class_names(text: str) -> list[str]:
    """'a,b,c', or a file with one name a line (a classes.txt)."""
    from ..data.id_folders import read_text_file
    from ..errors import DataError

    path = Path(text)
    try:
        names = read_text_file(path).splitlines() if path.is_file() else text.split(",")
    except DataError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"--class-names takes names 'a,b,c' or a file with one name a line, got {text!r}")
    return names


def _anomaly_file(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--anomaly-file takes NAME=path.npz or NAME=FOLDER, got {text!r}")
    name, path = text.split("=", 1)
    if not name:
        raise argparse.ArgumentTypeError(f"--anomaly-file takes NAME=path.npz or NAME=FOLDER with a name, got {text!r}")
    if not path.strip():
        raise argparse.ArgumentTypeError(f"--anomaly-file {name}=: the path is missing; give NAME=path.npz or NAME=FOLDER")
    return name, path


NUMBER_OPTIONS = ("--beta", "--nu")


def attach_negative_values(argv: list[str]) -> list[str]:
    """'--beta -1,2' -> '--beta=-1,2': argparse takes '-1,2' for an option and says only
    "expected one argument"; attached, the value reaches the check that says what is wrong."""
    joined: list[str] = []
    for item in argv:
        if joined and joined[-1] in NUMBER_OPTIONS and item.startswith("-") and item[1:2].isdigit():
            joined[-1] = f"{joined[-1]}={item}"
        else:
            joined.append(item)
    return joined


FOLDER_LAYOUT = ("one sub-folder of PNG / JPEG pictures per class (ImageFolder layout; classes in sorted order unless "
                 "a classes.txt lists them in the model's), inside train/ and test/ (and "
                 "val/, else 10 %% of train/) or split seeded and stratified: 10 %% test, 10 %% validation (at most 5,000), "
                 "80 %% train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m detector", description="Uniform anomaly detection for DNN classifiers.",
                                     epilog=EPILOG)
    commands = parser.add_subparsers(dest="command", required=True)

    def model_args(sub):
        sub.add_argument("--model", required=True, help="built-in name or path/to/file.py:factory")
        sub.add_argument("--weights", help="state_dict file for a user model (loaded with weights_only=True)")
        sub.add_argument("--id-dataset", help="in-distribution dataset (needed for a user model): mnist, fashion-mnist, "
                         "digits, cifar10, svhn, or a FOLDER with " + FOLDER_LAYOUT + "; read in batches with a progress bar")
        sub.add_argument("--class-names", type=_class_names, metavar="A,B,...",
                         help="an ID folder's class sub-folders in the model's output order, comma-separated or a "
                              "file with one a line (default: the folder's classes.txt, else sorted names)")

    def limit_args(sub):
        sub.add_argument("--train-limit", type=int, help="fit on a seeded subset of this many training images "
                                                          "(built-in Fashion-MNIST models: 20000 unless given)")
        sub.add_argument("--test-limit", type=int,
                         help="evaluate on a seeded subset of this many test images (anomaly sets are as large)")

    def detector_args(sub):
        sub.add_argument("--layer", default="auto", help="MDL name, or auto (chosen on the generated mix set)")
        sub.add_argument("--beta", type=_beta, default=(0.5, 0.5), help=BETA_HELP)
        sub.add_argument("--nu", type=float, default=0.1, help="SVDD nu in (0, 1]")
        sub.add_argument("--candidates", choices=CANDIDATES, default="blocks",
                         help="layers tried as MDL: blocks (default: the outputs of a network's stages and blocks, "
                              "found by structure: residual blocks, children of containers such as features[i] or "
                              "layer1[j], timm's feature_info; VGG's pooling stages; every layer of a small net such "
                              "as LeNet) or all (every layer: slower on deep nets)")

    def anomaly_file_arg(sub):
        sub.add_argument("--anomaly-file", action="append", default=[], type=_anomaly_file,
                         help="NAME=path.npz (array 'images') or NAME=FOLDER of PNG / JPEG pictures")

    layers = commands.add_parser("layers", help="list a model's candidate layers", epilog=EPILOG)
    model_args(layers)

    evaluate = commands.add_parser("evaluate", help="fit a detector and evaluate it on anomaly sets", epilog=methods_epilog(),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    model_args(evaluate)
    evaluate.add_argument("--method", action="append", default=[], help=METHOD_HELP + " (default: ours)")
    evaluate.add_argument("--anomaly", action="append", default=[], help=f"anomaly set, repeatable: {', '.join(anomaly_kinds())}")
    anomaly_file_arg(evaluate)
    detector_args(evaluate)
    evaluate.add_argument("--protocol", choices=("held-out", "authors"), default="held-out",
                          help="held-out (default) or the authors' code's: thresholds, ranges and layer on the evaluation data")
    evaluate.add_argument("--json", help="write the results to this JSON file")
    limit_args(evaluate)
    report = commands.add_parser("report", help="benchmark tables (Markdown, CSV, JSON) with the paper's figures",
                                 epilog=methods_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
    model_args(report)
    report.add_argument("--methods", nargs="+", default=["all"], help=METHOD_HELP + " (default: all)")
    report.add_argument("--anomalies", dest="anomaly", nargs="+", default=[],
                        help=f"anomaly sets: {', '.join(anomaly_kinds())} (default: the other of mnist/fashion-mnist, "
                             "gaussian, uniform, fooling and the five attacks)")
    anomaly_file_arg(report)
    report.add_argument("--weighting", choices=("per-class", "global"), default="per-class",
                        help="weighting shown in the Markdown tables (CSV/JSON hold both)")
    report.add_argument("--protocol", choices=("held-out", "authors", "both"), default="held-out",
                        help="held-out (ours: thresholds and ranges on validation data) or the authors' code's "
                             "(fitted on the evaluation data), or both side by side")
    report.add_argument("-o", "--output", required=True, help="Markdown file; .csv and .json are written beside it")
    report.add_argument("--update", metavar="REPORT", help="compute only --methods again and keep every other method's "
                        "rows of REPORT (a report of the same model and network, e.g. docs/results-lenet-mnist.md)")
    limit_args(report)
    check = commands.add_parser("check", help="judge your own inputs (PNG / JPEG / .npy / .npz): prediction, scores, verdict",
                                epilog=EPILOG)
    model_args(check)
    check.add_argument("files", nargs="+", help="PNG or JPEG pictures, .npy arrays ((H,W), (C,H,W), (H,W,C) or (N,C,H,W)), "
                                                ".npz files with an array 'images' (as written by 'anomalies export')")
    check.add_argument("--method", help=f"the detector to judge with: {', '.join(METHODS)} (default {DEFAULT_METHOD}: "
                                        "the best here on drawn and near-OOD inputs; ours: the paper's detector, with "
                                        "--beta); fitted once, then cached")
    check.add_argument("--detector", help="a saved detector (Tune page 'Save', or UniformDetector.save); "
                                          "it then sets the method, layer, beta and nu")
    detector_args(check)
    check.set_defaults(beta=None)  # --beta is the paper's detector's: given with another method, it is refused
    check.add_argument("--invert", choices=list(INVERT), default="auto",
                       help="invert pictures' colours; auto: when the border is light (dark ink on paper)")
    check.add_argument("--mnist-style", action=argparse.BooleanOptionalAction, default=True,
                       help="for 28x28 grey models, fit a picture's ink into 20x20 and centre it by its centre of mass, "
                            "as MNIST's digits were made (default: on)")
    check.add_argument("--csv", help="also write the verdicts to this CSV file")
    check.add_argument("--neighbours", type=_positive, metavar="K",
                       help="why each verdict: the K nearest training inputs of the predicted class in the MDL and "
                            "logit spaces with their distances, each term against its own threshold, and notes on "
                            "a stroke width or ink area unlike the training data's")
    train = commands.add_parser("train", help="train a built-in model from its recipe and compare with its shipped weights",
                                epilog=EPILOG)
    train.add_argument("model", choices=list(BUILTIN), help="built-in model")
    train.add_argument("--threads", type=int, help="CPU threads for training (the shipped weights: see the manifest)")
    train.add_argument("--ship", action="store_true", help="write the result as the shipped weights and manifest entry "
                       "(maintainers: commit them with the reports regenerated on them)")
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
