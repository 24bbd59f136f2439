"""What a shipped network always gives, shipped beside its weights so that a first use does not recompute it.

For a built-in model with shipped weights (``detector/models/weights/``), the MDL choice of the default
detector (Step 1: every candidate layer's per-class SVDD against held-out ID data plus the mix set), its
mix-set errors and the classifier's accuracy on its ID test split depend only on the weights, the data
splits and the detector's parameters. They cost most of a first use (the ResNet's MDL choice: features
of every candidate layer for 30,000 images and one SVDD per class on each), so they are computed once by
``python scripts/ship_model_facts.py`` and read from ``<model>.facts.json``.

A file is used only when everything it was computed from matches: the model's hash (of its weights and
of what it computes), the hashes of the training and validation splits and every parameter of the detector (the very key of
the detector's disk cache); the accuracy also needs the test split's hash. Anything else, and the work
is done here as without the file (a warning names what differs). The test suite recomputes LeNet-MNIST's
choice and checks it against its file.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

from .. import cache
from ..models.classifiers import SHIPPED_DIR

log = logging.getLogger(__name__)
SUFFIX = ".facts.json"


def facts_path(model: str) -> Path:
    """Where the shipped facts of the built-in ``model`` lie (beside its weights)."""
    return SHIPPED_DIR / f"{model}{SUFFIX}"


def read_facts(model: str) -> dict | None:
    """The shipped facts of ``model``, or None when there are none (or the file does not read: logged)."""
    path = facts_path(model)
    if not path.is_file():
        return None
    try:
        facts = json.loads(path.read_text())
        facts["mdl"]["key"]  # noqa: B018 - the fields every use reads
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("shipped facts %s do not read (%s); computing them here", path, error)
        return None
    return facts


def _differs(shipped: dict, key: dict) -> str | None:
    """What differs between the key the facts were computed for and ``key`` (None: nothing)."""
    if shipped.get("model") != key.get("model"):
        return f"the model's weights hash {key.get('model')}, the file's is {shipped.get('model')}"
    for part in sorted(set(shipped) | set(key)):
        if shipped.get(part) != key.get(part):
            return part
    return None


def mdl_choice(model_name: str, key: dict) -> tuple[str, dict[str, float]] | None:
    """(MDL, mix-set error of each candidate layer) shipped for ``model_name``, when they were computed for
    ``key`` (:func:`detector.evaluation.experiment._detector_key` of a detector with ``layer="auto"``)."""
    facts = read_facts(model_name)
    if facts is None:
        return None
    if (why := _differs(facts["mdl"]["key"], key)) is not None:
        log.warning("shipped MDL choice of %s not used (%s differs); choosing the MDL here", model_name, why)
        return None
    return facts["mdl"]["layer"], {name: float(error) for name, error in facts["mdl"]["errors"].items()}


def test_accuracy(experiment) -> dict | None:
    """The shipped accuracy check of ``experiment``'s classifier on its test split (the fields of
    :class:`~detector.evaluation.experiment.AccuracyCheck`), when computed for these weights and this split."""
    facts = read_facts(experiment.model.name)
    shipped = (facts or {}).get("accuracy")
    if not shipped:
        return None
    key = {"model": experiment.model.weights_hash, "test": cache.hash_array(experiment.test.images)}
    if (why := _differs(shipped["key"], key)) is not None:
        log.warning("shipped test accuracy of %s not used (%s differs)", experiment.model.name, why)
        return None
    return dict(shipped["check"])


def compute_facts(experiment, detector_key, fit_auto, accuracy_check) -> dict:
    """The facts of ``experiment``'s classifier, computed here: ``fit_auto()`` fits the default detector
    with ``layer="auto"`` (never from a shipped file), ``detector_key(detector)`` is its cache key,
    ``accuracy_check(experiment)`` the accuracy check computed anew."""
    detector = fit_auto()
    check = accuracy_check(experiment)
    return {
        "about": "computed by scripts/ship_model_facts.py from the shipped weights; used only when the key matches",
        "computed": date.today().isoformat(),
        "mdl": {"key": detector_key(detector), "layer": detector.mdl_,
                "errors": {name: float(e) for name, e in detector.layer_errors_.items()}},
        "accuracy": {"key": {"model": experiment.model.weights_hash, "test": cache.hash_array(experiment.test.images)},
                     "check": {"accuracy": check.accuracy, "n_classes": check.n_classes,
                               "best_order": list(check.best_order) if check.best_order else None,
                               "best_accuracy": check.best_accuracy}},
    }


def write_facts(model: str, facts: dict) -> Path:
    path = facts_path(model)
    path.write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    return path
