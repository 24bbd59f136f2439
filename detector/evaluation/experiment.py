"""One experiment = a classifier, its ID data splits and its anomaly sets; and the paper's
detector fitted on it (cached on disk). Shared by the command line, the benchmark and the dashboard."""

from __future__ import annotations

import logging
import shlex
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import confusion_matrix

from .. import cache
from ..anomalies import AnomalySet, load_anomaly, load_anomaly_file
from ..data.datasets import SPLITS, Dataset, class_names as dataset_class_names
from ..data.id_folders import CLASS_ORDER_FILE
from ..data.loading import is_image_folder, load_dataset
from ..errors import DataError, ModelError
from ..inputs.images import to_input_shape
from ..method.features import FeatureExtractor
from ..method.persistence import load_detector, save_detector
from ..method.scores import CONF_BETA
from ..method.uniform import UniformDetector
from ..models.classifiers import BUILTIN, ClassifierInfo, builtin_is_trained, load_model
from ..runtime import Progress, is_lazy, subsample
from . import shipped
from .first_use import estimate_first_use

log = logging.getLogger(__name__)


@dataclass
class Experiment:
    model: ClassifierInfo
    id_dataset: str
    train: Dataset
    val: Dataset
    test: Dataset
    progress: Progress = False  # how the splits' passes over image folders are shown (listed with them)
    subset_of: dict = field(default_factory=dict)  # split -> its full size, for splits limited to a subset
    _anomalies: dict = field(default_factory=dict, repr=False)

    @cached_property
    def extractor(self) -> FeatureExtractor:
        return FeatureExtractor(self.model, progress=self.bars)

    @property
    def bars(self) -> bool:
        """Whether the command line's tqdm bars are shown (``progress=True``; a callback is the dashboard's)."""
        return self.progress is True

    def predictions(self, images: np.ndarray) -> np.ndarray:
        return self.extractor.logits(images).argmax(1)

    @property
    def test_accuracy(self) -> float:
        return float(np.mean(self.predictions(self.test.images) == self.test.labels))

    @property
    def class_names(self) -> list[str]:
        """The dataset's class names: an image folder's sub-folder names, a built-in dataset's names."""
        return list(self.train.classes or dataset_class_names(self.id_dataset, self.model.n_classes))

    def anomaly(self, name: str, path: str | None = None) -> AnomalySet:
        if (name, path) not in self._anomalies:  # keyed by the path too: one name may be given another folder
            self._anomalies[name, path] = load_anomaly_file(name, path, self) if path else load_anomaly(name, self)
        return self._anomalies[name, path]


def untrained_warning(accuracy: float, n_classes: int) -> str | None:
    """A warning when the test accuracy is below twice chance (1 / n_classes), else None.

    A user model given without its weights loads as an untrained net; its detector then still
    reports high AUROCs (98.9 TNR / 99.6 AUROC measured at 9.1 % test accuracy), which mean nothing.

    >>> untrained_warning(0.91, 10) is None, untrained_warning(0.091, 10)[:19]
    (True, 'test accuracy 9.1 %')
    """
    if accuracy >= 2 / n_classes:
        return None
    return (f"test accuracy {100 * accuracy:.1f} % is near chance ({100 / n_classes:.0f} % for {n_classes} classes): "
            "is the model trained? pass --weights (a state_dict .pt); the detector's figures mean nothing for an "
            "untrained model")


LOW_ACCURACY = 0.6  # a classifier under this on its own ID test split is flagged


@dataclass(frozen=True)
class AccuracyCheck:
    """A classifier's accuracy on its ID test split and, when its confusion matrix is a permutation of the
    classes (each class's inputs mostly predicted as one class, another than its own), the class order
    that fits best.

    An image folder's labels are its sorted sub-folder names unless a classes.txt says otherwise: a model
    trained on Fashion-MNIST's label order scored 38 % on its own pictures, and the near-chance warning
    (below twice chance) said nothing.
    """

    accuracy: float
    n_classes: int
    best_order: tuple[str, ...] | None = None  # class names in the model's output order, when a permutation shows
    best_accuracy: float | None = None  # the accuracy with the classes in that order
    folder: str | None = None  # the ID image folder, where a classes.txt goes (None: a built-in dataset)

    @property
    def title(self) -> str | None:
        """The warning's kind in two words (None when there is nothing to say)."""
        if self.best_order:
            return "Class order"
        if self.accuracy < 2 / self.n_classes:
            return "Near-chance model"
        return "Low accuracy" if self.accuracy < LOW_ACCURACY else None

    def warning(self, dashboard: bool = False) -> str | None:
        """What to tell the user, or None; ``dashboard``: the ways to act there instead of the command line's."""
        if self.best_order:
            names = ", ".join(self.best_order)
            text = (f"test accuracy {100 * self.accuracy:.1f} %, but the model's outputs match the classes one to one "
                    f"in another order: {names} ({100 * self.best_accuracy:.1f} % in that order). ")
            if self.folder is None:
                return text + ("A built-in dataset's labels keep their order: save its pictures as an image folder "
                               f"with a {CLASS_ORDER_FILE} to read them in the model's.")
            text += f"Write these names one a line into {Path(self.folder) / CLASS_ORDER_FILE}"
            return text + ("" if dashboard else
                           f", or pass --class-names {shlex.quote(','.join(self.best_order))} (class_names=[...] in Python)")
        if warning := untrained_warning(self.accuracy, self.n_classes):
            return warning.replace("pass --weights", "give its weights in the sidebar") if dashboard else warning
        if self.accuracy < LOW_ACCURACY:
            where = f"a {CLASS_ORDER_FILE} in the folder" + ("" if dashboard else " or --class-names")
            return (f"test accuracy {100 * self.accuracy:.1f} % is under {100 * LOW_ACCURACY:.0f} % for a classifier on "
                    "its own ID data: check the weights, the class order (an image folder's classes are its sorted "
                    f"sub-folder names unless {where} gives the model's order) and that the inputs are scaled as in "
                    "training")
        return None


def check_accuracy(experiment: Experiment) -> AccuracyCheck:
    """The :class:`AccuracyCheck` of an experiment's classifier on its ID test split (a shipped network's is
    read from its facts file, :mod:`.shipped`, when computed for these weights and this split)."""
    if (known := shipped.test_accuracy(experiment)) is not None:
        return AccuracyCheck(known["accuracy"], known["n_classes"], tuple(known["best_order"] or ()) or None,
                             known["best_accuracy"])
    return compute_accuracy(experiment)


def compute_accuracy(experiment: Experiment) -> AccuracyCheck:
    """:func:`check_accuracy` computed here: the classifier run over the test split."""
    labels = experiment.test.labels
    predicted = experiment.predictions(experiment.test.images)
    n = experiment.model.n_classes
    folder = experiment.id_dataset if is_image_folder(experiment.id_dataset) else None
    accuracy = float(np.mean(predicted == labels))
    counts = confusion_matrix(labels, predicted, labels=np.arange(n))  # rows: the data's classes; columns: outputs
    rows, outputs = linear_sum_assignment(counts, maximize=True)
    majority = all(counts[r, c] * 2 > counts[r].sum() for r, c in zip(rows, outputs) if counts[r].sum())
    if not majority or np.array_equal(rows, outputs):
        return AccuracyCheck(accuracy, n, folder=folder)
    order = [""] * n
    for row, output in zip(rows, outputs):
        order[output] = experiment.class_names[row]
    return AccuracyCheck(accuracy, n, tuple(order), float(counts[rows, outputs].sum() / len(labels)), folder)


def load_experiment(model: str, weights: str | None = None, id_dataset: str | None = None, progress: Progress = False,
                    train_limit: int | None = None, test_limit: int | None = None,
                    class_names: list[str] | None = None) -> Experiment:
    """Model + ID splits. ``train_limit`` fits detectors on a seeded subset of the training split
    (a built-in model's default: its recipe's ``fit_limit``), ``test_limit`` evaluates on one of the
    test split (anomaly sets are as large as the test split).

    ``id_dataset``: a built-in name or a folder of pictures, one sub-folder per class
    (:data:`detector.data.id_folders.LAYOUT_HELP`), read in the model's input shape; its train and test
    splits stay on disk and stream through the model. ``progress``: True for tqdm bars (and a built-in
    model's first use announced with an estimate of its time), or a callback(done, total, what) that
    every pass over an image folder of this experiment calls after each batch (the dashboard's bar).
    ``class_names``: an image folder's class sub-folders in the model's output order (as its classes.txt
    gives them; default: classes.txt, else sorted names; see :func:`detector.data.id_folders.class_order`).
    """
    if progress is True and model in BUILTIN and not builtin_is_trained(model):
        print(estimate_first_use(model).describe(), file=sys.stderr, flush=True)
    if class_names is not None and not (id_dataset and is_image_folder(id_dataset)):
        raise DataError(f"class names give an ID image folder's sub-folders in the model's output order; "
                        f"{id_dataset or 'the dataset of ' + model} is no image folder: a built-in dataset's labels "
                        "keep their own order")
    info = load_model(model, weights, id_dataset, progress=progress is True)
    if train_limit is None and model in BUILTIN:
        train_limit = BUILTIN[model].fit_limit
    dataset = id_dataset or info.id_dataset
    if dataset is None:
        raise ModelError(f"{model} is a user model: give its in-distribution dataset with --id-dataset")
    limits = {"train": train_limit, "test": test_limit}
    for split, limit in limits.items():
        if limit is not None and limit < 10 * info.n_classes:
            raise ValueError(f"--{split}-limit must be at least {10 * info.n_classes} (10 per class), got {limit}")
    folder = None
    if is_image_folder(dataset):
        from ..data.id_folders import folder_splits

        folder = folder_splits(dataset, info.input_shape, progress=progress, class_names=class_names)
        if len(folder["train"].classes) != info.n_classes:
            raise DataError(f"{dataset} has {len(folder['train'].classes)} class folders, but the model has "
                            f"{info.n_classes} outputs: give a folder with one sub-folder per class of the model")
    splits, subset_of = [], {}
    for split in SPLITS:
        data = folder[split] if folder else load_dataset(dataset, split)
        images, labels = data.images, data.labels
        if limits.get(split) and limits[split] < len(labels):
            subset_of[split] = len(labels)
            keep = subsample(len(labels), limits[split], 0)
            images, labels = images.subset(keep) if is_lazy(images) else images[keep], labels[keep]
        splits.append(Dataset(dataset, split, to_input_shape(images, info.input_shape, f"{dataset}/{split}"), labels,
                              data.classes))
    return Experiment(info, dataset, *splits, progress=progress, subset_of=subset_of)


def _detector_key(experiment: Experiment, detector: UniformDetector) -> dict:
    """What a fitted detector depends on (not beta: a new beta only moves the thresholds)."""
    return {"what": "uniform-detector", "model": experiment.model.fingerprint,
            "train": cache.hash_array(experiment.train.images), "val": cache.hash_array(experiment.val.images),
            "params": {k: v for k, v in detector.get_params().items() if k not in ("model", "beta")}}


def fit_uniform(experiment: Experiment, layer="auto", beta=(0.5, 0.5), nu=0.1, **params) -> UniformDetector:
    """Fit the paper's detector, or load it from the disk cache when fitted before. With ``layer="auto"``, a
    shipped network's MDL choice is read from its facts file (:mod:`.shipped`) when it was made for the same
    weights, data and parameters: then only the MDL's and the logits' SVDDs are fitted here."""
    detector = UniformDetector(experiment.model, layer=layer, beta=beta, nu=nu, **params)
    key = _detector_key(experiment, detector)
    choice = shipped.mdl_choice(experiment.model.name, key) if layer == "auto" else None
    return cached_detector(detector, key, lambda: _fit(detector, experiment, choice))


@dataclass(frozen=True)
class FitPlan:
    """What fitting the default detector (``layer="auto"``) of an experiment will do here."""

    mdl: str | None  # the MDL, when shipped with the network (then only its and the logits' SVDDs are fitted)
    cached: bool  # the fitted detector is on disk: nothing to fit
    accuracy_known: bool  # the test accuracy is shipped: no pass over the test split


def fit_plan(experiment: Experiment, nu: float = 0.1) -> FitPlan:
    """What :func:`fit_uniform` (default parameters, ``nu``) and :func:`check_accuracy` will have to do."""
    detector = UniformDetector(experiment.model, nu=nu)
    key = _detector_key(experiment, detector)
    choice = shipped.mdl_choice(experiment.model.name, key)
    cached = cache.entry("detectors", key, code=__name__, suffix=".skops").exists()
    return FitPlan(choice[0] if choice else None, cached, shipped.test_accuracy(experiment) is not None)


def fit_uniform_here(experiment: Experiment, **params) -> UniformDetector:
    """The default detector fitted here from scratch (the MDL chosen anew, nothing read from the disk cache
    or a shipped file): what :mod:`.shipped`'s facts are computed with, and checked against."""
    detector = UniformDetector(experiment.model, **params)
    return _fit(detector, experiment, None)


def _fit(detector: UniformDetector, experiment: Experiment, choice) -> UniformDetector:
    """Fit ``detector``; ``choice``: the (MDL, mix-set errors) of a ``layer="auto"`` detector, known beforehand.
    The auto fit would give the same detector: its SVDDs read only the MDL and the logits."""
    fit_args = (experiment.train.images, experiment.val.images)
    if choice is None:
        return detector.fit(*fit_args, val_labels=experiment.val.labels)
    mdl, errors = choice
    detector.set_params(layer=mdl).fit(*fit_args, val_labels=experiment.val.labels)
    detector.layer, detector.layer_errors_ = "auto", dict(errors)
    return detector


def fit_uniform_conf(experiment: Experiment, **params) -> UniformDetector:
    """``ours+conf``: the three-term detector with the beta picked on generated anomalies
    (:meth:`UniformDetector.beta_from_generated`, its bisection shown as the experiment's ``progress`` says;
    the choice is cached with the detector's key)."""
    detector = fit_uniform(experiment, **{**params, "beta": CONF_BETA})
    key = {**_detector_key(experiment, detector), "what": "generated-beta"}
    chosen = cache.cached_arrays("tuned", key, lambda: {"beta": np.array(detector.beta_from_generated(
        experiment.val.images, experiment.val.labels, progress=experiment.progress)[0])}, code=__name__)
    return detector.with_beta(tuple(float(b) for b in chosen["beta"]))


def cached_detector(detector: UniformDetector, key: dict, fit) -> UniformDetector:
    """Load the detector saved under ``key``, or ``fit()`` it and save it there."""
    entry = cache.entry("detectors", key, code=__name__, suffix=".skops")
    if entry.exists():
        try:
            loaded = load_detector(UniformDetector, entry.path, detector.model, cache_key=entry.key)
        except ValueError as error:  # only a file that does not load is replaced, never on a bad argument
            log.warning("%s; refitting", error)
            entry.path.unlink(missing_ok=True)
        else:
            return loaded.set_beta(detector.beta)
    fit()
    save_detector(detector, entry.path, cache_key=entry.key)
    return detector
