"""Command line: ``python -m detector layers|evaluate ...`` (see ``--help``)."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from ..anomalies import anomaly_kinds
from ..errors import DataError, LayerError, ModelError, printable
from ..inputs.images import image_file_bytes
from .arguments import attach_negative_values, build_parser
from .check import cmd_check
from .checks import candidates_option, check_anomalies, check_detector_params, check_output, report_outputs


def cmd_anomalies(args) -> None:
    import torch

    from ..evaluation.experiment import load_experiment

    kinds = anomaly_kinds()
    if args.name not in kinds:
        raise DataError(f"unknown anomaly set {args.name!r}; valid names: {', '.join(kinds)}")
    output = Path(args.output)
    if args.action == "export":
        if output.suffix != ".npz":
            output = output.with_name(output.name + ".npz")  # numpy adds it anyway: say so
        check_output(output)
    if args.action == "show":
        if args.count < 1:
            raise DataError(f"--count must be at least 1, got {args.count}")
        check_output(output)
    experiment = load_experiment(args.model, args.weights, args.id_dataset, progress=True, class_names=args.class_names)
    images = experiment.anomaly(args.name).images
    if args.action == "export":
        output.write_bytes(image_file_bytes(images))
        print(f"wrote {len(images)} images of shape {images.shape[1:]} to {output}")
        return
    from ..anomalies.grid import save_grid

    shown = images[: args.count]
    probabilities = torch.softmax(torch.from_numpy(experiment.extractor.logits(shown)), 1).numpy()
    captions = [f"pred {p.argmax()} ({100 * p.max():.2f}%)" for p in probabilities]
    save_grid(shown, captions, args.output)
    print(f"wrote a grid of {len(shown)} {args.name} images to {args.output}")


def cmd_layers(args) -> None:
    from ..method.features import FeatureExtractor
    from ..models.classifiers import load_model

    extractor = FeatureExtractor(load_model(args.model, args.weights, args.id_dataset, progress=True))
    tried = {layer.name for layer in extractor.candidates("blocks")}
    rows = [(layer.name, layer.kind, str(layer.output_shape), layer.reduction, f"{layer.feature_dim}"
             + (" *" if layer.name in tried and layer.name != "logits" else "")) for layer in extractor.valid_layers]
    header = ("layer", "type", "output shape", "reduction", "features")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]  # torchvision's kinds are long
    for row in [header, *rows]:
        print(" ".join(f"{cell:<{width}}" for cell, width in zip(row, widths)), row[4])
    print("* tried as MDL by default (--candidates blocks: stage and block outputs); --candidates all tries every layer")
    print("reduction: how a layer's output becomes one feature vector per input")


def cmd_evaluate(args) -> None:
    from ..evaluation.benchmark import expand_methods, run_benchmark
    from ..evaluation.experiment import check_accuracy, load_experiment

    methods = expand_methods(args.method or ["ours"])
    check_anomalies(args)
    check_detector_params(args)
    check_output(args.json)
    started = time.time()
    experiment = load_experiment(args.model, args.weights, args.id_dataset, progress=True, train_limit=args.train_limit,
                                 test_limit=args.test_limit, class_names=args.class_names)
    bench = run_benchmark(experiment, methods, args.anomaly, model_name=args.model, anomaly_files=args.anomaly_file,
                          ours_params={"layer": args.layer, "beta": args.beta, "nu": args.nu, **candidates_option(args)},
                          protocol=args.protocol, echo=lambda text: print(text, file=sys.stderr))
    rows = bench.rows
    accuracy = experiment.test_accuracy

    print(f"model {args.model} | ID {experiment.id_dataset} (train {len(experiment.train)}, "
          f"val {len(experiment.val)}, test {len(experiment.test)}) | test accuracy {100 * accuracy:.2f} %")
    if warning := check_accuracy(experiment).warning():
        print(f"WARNING: {warning}", file=sys.stderr)
    detector = None
    if {"ours", "ours+conf", "ours+conf-equal"} & set(methods) and args.protocol == "held-out":  # they share the MDL
        from ..evaluation.experiment import fit_uniform, fit_uniform_conf

        detector = fit_uniform(experiment, layer=args.layer, beta=args.beta, nu=args.nu, **candidates_option(args))  # cached
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


def cmd_report(args) -> None:
    from ..evaluation.authors import PROTOCOLS
    from ..evaluation.benchmark import expand_methods, run_benchmark
    from ..evaluation.experiment import load_experiment
    from ..evaluation.report import write_report

    methods = expand_methods(args.methods)
    if args.anomaly or args.anomaly_file:
        check_anomalies(args)
    for path in report_outputs(args.output):  # the .csv and .json go beside it
        check_output(path)
    if args.update:  # before anything is computed
        from ..evaluation.report_update import read_report

        read_report(args.update)
    experiment = load_experiment(args.model, args.weights, args.id_dataset, progress=True, train_limit=args.train_limit,
                                 test_limit=args.test_limit, class_names=args.class_names)
    if not args.anomaly and not args.anomaly_file:
        others = [name for name in ("mnist", "fashion-mnist") if name != experiment.id_dataset]
        args.anomaly = others + ["gaussian", "uniform", "fooling", "fgsm", "bim-a", "bim-b", "jsma", "cw"]
    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    benches = [run_benchmark(experiment, methods, args.anomaly, model_name=args.model, anomaly_files=args.anomaly_file,
                             protocol=protocol, echo=lambda text: print(text, file=sys.stderr)) for protocol in protocols]
    if args.update:
        from ..evaluation.report_update import update_report

        benches = update_report(args.update, benches, methods)
    command = "python -m detector " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("__main__.py") else ""
    for path in write_report(benches, args.output, weighting=args.weighting, command=command):
        print(f"wrote {path}")
    print(f"done in {sum(bench.seconds for bench in benches):.1f} s")


def cmd_train(args) -> None:
    """Train a built-in from its recipe; say whether it reproduces the shipped weights here."""
    import datetime

    import torch

    from ..data.loading import load_dataset
    from ..models import checkpoints, classifiers as models
    from ..runtime import batched, model_device

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    module = models.train_builtin(args.model, progress=True)
    info = models.prepare_classifier(args.model, module, models.BUILTIN[args.model].input_shape,
                                     models.BUILTIN[args.model].dataset)
    test = load_dataset(info.id_dataset, "test")
    logits = batched(lambda x: info.module(x).cpu().numpy(), test.images, model_device(info.module))
    accuracy = float((logits.argmax(1) == test.labels).mean())
    print(f"{args.model}: trained with {threads} thread(s) on {torch.__version__}; test accuracy {100 * accuracy:.2f} %, "
          f"weights hash {info.weights_hash}")
    shipped = models.shipped_manifest().get(args.model)
    if shipped is None:
        print("no shipped weights to compare with")
    elif shipped["weights_hash"] == info.weights_hash:
        print("identical to the shipped weights")
    else:
        print(f"differs from the shipped weights (hash {shipped['weights_hash']}, {shipped['threads']} thread(s), torch "
              f"{shipped['torch']}): training repeats exactly only on the same CPU kind, thread count and torch build")
    if args.ship:
        path = models.SHIPPED_DIR / f"{args.model}.pt"
        checkpoints.save_checkpoint(module, path)
        recipe = models.BUILTIN[args.model]
        manifest = models.shipped_manifest()
        manifest[args.model] = {
            "file": path.name, "sha256": checkpoints.digest(path), "weights_hash": info.weights_hash,
            "recipe": {"architecture": recipe.architecture.__name__, "dataset": recipe.dataset, "epochs": recipe.epochs,
                       "batch_size": recipe.batch_size, "lr": recipe.lr, "schedule": recipe.schedule,
                       "augment": recipe.augment, "seed": 0},
            "threads": threads, "torch": torch.__version__, "test_accuracy": round(accuracy, 6),
            "trained": datetime.date.today().isoformat()}
        models.SHIPPED_MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        print(f"wrote {path} and its entry in {models.SHIPPED_MANIFEST}")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(attach_negative_values(sys.argv[1:] if argv is None else argv))
    try:
        {"layers": cmd_layers, "evaluate": cmd_evaluate, "check": cmd_check, "anomalies": cmd_anomalies,
         "report": cmd_report, "train": cmd_train}[args.command](args)
    except (DataError, ModelError, LayerError, ValueError, RuntimeError, OSError) as error:  # OSError: disk full...
        print(f"error: {printable(error)}", file=sys.stderr)  # one line, whatever a file name holds
        return 2
    return 0
