"""The authors' protocol: fitting choices of the paper's public code, to show beside ours.

Their code picks the MDL on the ID *test* split against the other of MNIST/Fashion-MNIST
and fits the per-class thresholds (and, for our detector, the min-max ranges) on the
evaluation data itself, anomalies included. Ours (the "held-out" protocol) fits all of
these on held-out ID data only, so that a single input can be judged on its own.
"""

from __future__ import annotations

from .. import cache
from ..method.metrics import per_class_thresholds
from ..method.scores import LayerScores, min_max_normalise, min_max_ranges
from ..method.uniform import UniformDetector
from .evaluate import Row, metric_rows, named_scores
from .experiment import Experiment, cached_detector

PROTOCOLS = ("held-out", "authors")

DESCRIPTIONS = {
    "held-out": "Detectors are fitted on the train split; thresholds and min-max ranges on the validation split "
                "(held-out ID); the MDL, ODIN's T/eps and Mahalanobis's eps/ensemble are chosen on the generated mix set.",
    "authors": "As the authors' public code: the MDL is picked on the ID test split against the other of MNIST/"
               "Fashion-MNIST, and per-class thresholds (and, for `ours`, min-max ranges, refitted on each ID-test + "
               "anomaly pair) are fitted on the evaluation data itself. Our `ours` keeps its log-domain SVDD scores, "
               "which are unbounded below, so a min-max range stretched by the anomalies flattens the ID scores: this "
               "shows the authors' fitting choices applied to our detector, not a re-run of their code.",
}


def check_protocol(protocol: str) -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    return protocol


def fit_uniform_authors(experiment: Experiment, beta=(0.5, 0.5), nu=0.1) -> UniformDetector:
    """Our detector with the MDL picked on the ID test split against the other of MNIST /
    Fashion-MNIST (the authors used Fashion-MNIST for their MNIST LeNet), its normalisation
    and thresholds taken from the ID test split. Cached like :func:`detector.evaluation.experiment.fit_uniform`.
    """
    other = "mnist" if experiment.id_dataset == "fashion-mnist" else "fashion-mnist"
    ood = experiment.anomaly(other).images
    detector = UniformDetector(experiment.model, layer="auto", beta=beta, nu=nu)
    key = {"what": "uniform-detector-authors", "model": experiment.model.fingerprint,
           "train": cache.hash_array(experiment.train.images), "test": cache.hash_array(experiment.test.images),
           "ood": cache.hash_array(ood), "nu": nu}
    return cached_detector(detector, key, lambda: detector.fit(
        experiment.train.images, experiment.test.images, mix_images=ood, val_labels=experiment.test.labels))


def renormalised_on(id_scores: LayerScores, anomaly_scores: LayerScores, n_classes: int) -> LayerScores:
    """Both sets' scores min-max normalised again per predicted class on the two sets together,
    as the authors' code does on each evaluated pair."""
    both = LayerScores.concatenate([id_scores, anomaly_scores])
    values = both.terms()[:, : 2 if both.conf is None else 3]
    low, high = min_max_ranges(values, both.predicted, n_classes, min_samples=1)
    return min_max_normalise(values, both.predicted, low, high)


def evaluate_authors(experiment: Experiment, method: str, detector, anomalies, tpr: float = 0.95) -> list[Row]:
    """Rows under the authors' protocol: per-class thresholds from the ID *test* scores; for
    ``ours`` also the min-max ranges, refitted on each evaluated pair (ID test + that set)."""
    n_classes = experiment.model.n_classes
    id_pred = experiment.predictions(experiment.test.images)
    ours = method.startswith("ours")  # ours, ours+conf, and their +oe rows
    if ours:
        detector = detector.detector_  # fitted by Ours.fit_authors
        id_layers = detector.layer_scores(experiment.test.images, cached=True)
    else:
        id_scores = named_scores(detector, experiment.test.images)
    rows = []
    for anomaly in anomalies:
        pred = experiment.predictions(anomaly.images)
        if ours:
            combined = renormalised_on(id_layers, detector.layer_scores(anomaly.images, cached=True), n_classes).combine(
                detector.beta_)
            id_scores, scores = combined[: len(id_pred)], combined[len(id_pred):]
        else:
            scores = named_scores(detector, anomaly.images)
        thresholds = per_class_thresholds(id_scores, id_pred, n_classes, tpr)
        rows += metric_rows(method, anomaly, id_scores, id_pred, scores, pred, thresholds, tpr)
    return rows
