"""The detectors we compare against, behind one registry.

Every entry of :data:`BASELINES` maps a command-line name to a factory that returns an
unfitted detector with ``fit(experiment) -> self`` and ``score_samples(images)``
(higher = more normal). A new baseline is one new file here and one line below.

Names ending in ``+pre`` use input pre-processing; ``+ens`` is Mahalanobis's feature
ensemble. Hyper-parameters that the original authors tune on OOD data (ODIN's T and
eps, Mahalanobis's eps and ensemble weights) are tuned on the generated mix set;
``godin`` tunes its eps on ID validation data alone, as G-ODIN prescribes, and scores
with its own fine-tuned copy of the classifier (never the user's weights).
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from .base import Baseline, NotApplicable, final_linear, penultimate
from .elo import ELO
from .feature_squeezing import FeatureSqueezing
from .godin import GODIN
from .kd_bu import KDBU
from .lid import LID
from .mahalanobis import Mahalanobis
from .msp import MSP
from .nnif import NNIF
from .odin import ODIN
from .posthoc import PyTorchOOD

BASELINES: dict[str, Callable[[], Baseline]] = {
    # the paper's competitors (Tables 2-9)
    "msp": MSP,
    "odin": partial(ODIN, epsilon=0.0),
    "odin+pre": partial(ODIN, epsilon="auto"),
    "odin+orig": partial(ODIN, temperature=1000, epsilon=0.0014),  # as Liang et al. ran it, not tuned here
    "mahalanobis": Mahalanobis,
    "mahalanobis+pre": partial(Mahalanobis, epsilon="auto"),
    "mahalanobis+ens": partial(Mahalanobis, ensemble=True),
    "elo": ELO,
    "kd-bu": KDBU,
    "lid": LID,
    # the rest of the paper's Table 1
    "godin": GODIN,
    "nnif": NNIF,
    "fs": FeatureSqueezing,
    # today's post-hoc detectors, from pytorch-ood
    "energy": partial(PyTorchOOD, "energy"),
    "maxlogit": partial(PyTorchOOD, "maxlogit"),
    "gen": partial(PyTorchOOD, "gen"),
    "knn": partial(PyTorchOOD, "knn"),
    "vim": partial(PyTorchOOD, "vim"),
    "react": partial(PyTorchOOD, "react"),
    "ash": partial(PyTorchOOD, "ash"),
    "dice": partial(PyTorchOOD, "dice"),
}

#: the adversarial detectors, which can also be trained on the evaluated attack (``NAME+known``)
ATTACK_TRAINED = ("kd-bu", "lid", "nnif")


def make_baseline(name: str, **params) -> Baseline:
    """An unfitted baseline by registry name (``kd-bu+known`` etc. take ``attack=``)."""
    base = name.removesuffix("+known")
    if base not in BASELINES or (name != base and base not in ATTACK_TRAINED):
        raise ValueError(f"unknown baseline {name!r}; valid: {', '.join(BASELINES)}")
    detector = BASELINES[base](**params)
    detector.name = name  # the name shown in tables and used in cache keys
    return detector


def fit_baseline(experiment, name: str, **params) -> Baseline:
    """Make and fit the baseline ``name`` on an experiment."""
    return make_baseline(name, **params).fit(experiment)


__all__ = ["ATTACK_TRAINED", "BASELINES", "Baseline", "NotApplicable", "fit_baseline", "make_baseline",
           "final_linear", "penultimate"]
