"""``python -m detector check``: judge a user's own inputs with the default detector or any method."""

from __future__ import annotations

import sys

import numpy as np

from ..errors import DataError
from ..inputs.images import require_file
from ..inputs.uploads import INVERT
from .checks import candidates_option, check_inputs, check_output, read_inputs


def _cell(value: float) -> str:
    return f"{value:>7.3f}" if np.isfinite(value) else f"{'–':>7}"


def _check_method(args) -> str:
    """The method ``check`` judges with, and the detector options that apply to it, checked before any fit."""
    from ..evaluation.judging import DEFAULT_METHOD, TERMWISE, check_method
    from ..evaluation.registry import METHODS

    if args.detector and args.method:
        raise DataError("--detector loads a saved detector, which sets the method: leave out --method")
    method = check_method(args.method or DEFAULT_METHOD)
    if args.beta is not None and "beta" not in METHODS[method].info.options:
        raise DataError(f"--beta sets the paper's detector's weights: add --method ours ({method} "
                        f"{'picks its own' if method in TERMWISE else 'has no beta'})")
    if args.neighbours and method not in TERMWISE and not args.detector:
        raise DataError(f"--neighbours explains the terms of {', '.join(TERMWISE)}; {method} gives one score per input")
    return method


def cmd_check(args) -> None:
    import csv

    from ..method.uniform import UniformDetector
    from ..method.verdicts import judge

    invert = INVERT[args.invert]
    method = _check_method(args)
    UniformDetector.check_nu(args.nu)  # both checked before any model or cache is touched
    if args.beta is not None:
        UniformDetector.check_beta(args.beta)
    check_output(args.csv)
    check_inputs(args.files)
    experiment = None
    if args.detector:
        require_file(args.detector, "detector file")
        if args.neighbours:  # the neighbours come from the training split
            from ..evaluation.experiment import load_experiment

            experiment = load_experiment(args.model, args.weights, args.id_dataset, progress=True,
                                         class_names=args.class_names)
            model = experiment.model
        else:
            from ..models.classifiers import load_model

            model = load_model(args.model, args.weights, args.id_dataset, progress=True)
        inputs = read_inputs(args.files, model.input_shape, invert, args.mnist_style)
        detector = UniformDetector.load(args.detector, model)
        verdicts_of, name = (lambda images: judge(detector, images)), f"saved detector {args.detector}"
    else:
        from ..evaluation import experiment as experiments
        from ..evaluation.judging import DEFAULT_METHOD, fit_judge
        from ..evaluation.registry import method_params

        experiment = experiments.load_experiment(args.model, args.weights, args.id_dataset, progress=True,
                                                 class_names=args.class_names)
        # bad files fail before a long fit
        inputs = read_inputs(args.files, experiment.model.input_shape, invert, args.mnist_style)
        if warning := experiments.check_accuracy(experiment).warning():
            print(f"WARNING: {warning}", file=sys.stderr)
        options = {"layer": args.layer, "beta": args.beta or (0.5, 0.5), "nu": args.nu, **candidates_option(args)}
        judged = fit_judge(experiment, method, **method_params(method, options))
        detector, verdicts_of = judged.detector, judged.judge
        name = method + (" (the default; --method ours for the paper's detector)" if method == DEFAULT_METHOD else "")
    rows = [[name_, index, v.predicted, round(v.probability, 4), round(v.mdl, 4), round(v.logit, 4), round(v.conf, 4),
             round(v.knn, 4), round(v.score, 4), round(v.tau, 4), "anomaly" if v.is_anomaly else "normal"]
            for name_, images in inputs for index, v in enumerate(verdicts_of(images))]
    _print_verdicts(name, detector, rows)
    if args.neighbours:
        _print_why(detector, experiment, inputs, args.neighbours)
    if args.csv:
        header = ["file", "index", "predicted", "softmax", "mdl_score", "logit_score", "conf_score", "knn_score", "g",
                  "tau", "verdict"]
        with open(args.csv, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header] + rows)
        print(f"wrote {args.csv}")


def _print_verdicts(name: str, detector, rows: list) -> None:
    """The detector in one line, then one line per input: its terms (where the method has them), g, tau, verdict."""
    if detector is not None:
        from ..method.verdicts import TERM_NAMES

        beta = detector.check_beta(detector.beta)
        terms = " + ".join(f"{b:.3g} * {term}" for b, term in zip(beta, TERM_NAMES))
        print(f"detector {name} | MDL {detector.mdl_} | nu {detector.nu} | anomaly when g = {terms} "
              "< tau of the predicted class")
    else:
        print(f"detector {name} | anomaly when its score g < tau of the predicted class (tau keeps 95 % of the "
              "held-out ID inputs of each class)")
    width = max(len(row[0]) for row in rows)
    print(f"{'file':<{width}} {'#':>5} {'pred':>4} {'softmax':>8} {'MDL':>7} {'logit':>7} {'conf':>7} {'kNN':>7} {'g':>7} "
          f"{'tau':>7}  verdict")
    for file, index, predicted, probability, mdl, logit, conf, knn, score, tau, verdict in rows:
        terms = " ".join(_cell(v) for v in (mdl, logit, conf, knn))
        print(f"{file:<{width}} {index:>5} {predicted:>4} {100 * probability:>7.2f}% {terms} {score:>7.3f} {tau:>7.3f}  "
              f"{verdict}")
    anomalies = sum(row[-1] == "anomaly" for row in rows)
    print(f"{anomalies} of {len(rows)} inputs are anomalies")


def _print_why(detector, experiment, inputs, k: int) -> None:
    """``check --neighbours K``: why each verdict (:class:`detector.method.verdicts.Explainer`)."""
    from ..method.verdicts import Explainer

    explainer = Explainer(detector, n_neighbors=k).fit(experiment.train.images)
    names, labels = experiment.class_names, experiment.train.labels
    for name, images in inputs:
        for index, why in enumerate(explainer.explain(images, names)):
            verdict = why.verdict
            print(f"\nwhy {name} #{index}: predicted {names[verdict.predicted]}, "
                  f"{'anomaly' if verdict.is_anomaly else 'normal'} (g - tau = {verdict.score - verdict.tau:+.3f})")
            for (term, value, weight), tau in zip(verdict.terms, why.term_taus):
                counts = f"weight {weight:.2f}" if weight > 0 else "weight 0: does not count"
                print(f"  {term + ' score':<17} {value:>7.3f}  its own tau {tau:>7.3f}  ({value - tau:+.3f}; {counts})")
            for near in why.neighbours:
                print(f"  nearest training inputs predicted as {names[verdict.predicted]} in {near.layer} "
                      f"(training index: distance, true class):")
                print("    " + ", ".join(f"#{i}: {d:.2f} ({names[labels[i]]})" for i, d in zip(near.indices, near.distances)))
            if why.ink is not None:
                (area, width), ((area_lo, area_hi), (width_lo, width_hi)) = why.ink, why.ink_range
                print(f"  ink area {100 * area:.1f} % (middle 98 % of training: {100 * area_lo:.1f}-{100 * area_hi:.1f} %), "
                      f"stroke width {width:.1f} px (middle 98 %: {width_lo:.1f}-{width_hi:.1f} px)")
            for note in why.notes:
                print(f"  note: {note}")
