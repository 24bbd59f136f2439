"""The detectors we compare against, behind one registry.

Every entry of :data:`BASELINES` maps a command-line name to a :class:`~.base.Method` class:
``cls()`` is an unfitted detector with ``fit(experiment) -> self`` and ``score_samples(images)``
(higher = more normal), and the class says what it is (``name``, ``description``,
``reference``, ``streams``). A new baseline is one new file here and one class below.

Names ending in ``+pre`` use input pre-processing; ``+ens`` is Mahalanobis's feature
ensemble. Hyper-parameters that the original authors tune on OOD data (ODIN's T and
eps, Mahalanobis's eps and ensemble weights) are tuned on the generated mix set;
``godin`` tunes its eps on ID validation data alone, as G-ODIN prescribes, and scores
with its own fine-tuned copy of the classifier (never the user's weights).
"""

from __future__ import annotations

from .base import Baseline, Method, NotApplicable, final_linear, penultimate
from .elo import ELO
from .feature_squeezing import FeatureSqueezing
from .godin import GODIN
from .kd_bu import KDBU
from .lid import LID
from .mahalanobis import Mahalanobis, MahalanobisEnsemble, MahalanobisPre
from .msp import MSP
from .nnif import NNIF
from .odin import ODIN, ODINOriginal, ODINPre
from .posthoc import GEN, Energy, Entropy, KLMatching, MaxLogit, OpenMax, TemperatureScaling
from .posthoc_features import ASH, DICE, FDBD, KNN, LTS, NCI, RMD, SCALE, SHE, VRA, NNGuide, ReAct, ViM
from .posthoc_model import POSTHOC_MODEL

#: today's post-hoc detectors through pytorch-ood, in the order of the tables
POSTHOC = (Energy, MaxLogit, GEN, KNN, ViM, ReAct, ASH, DICE, FDBD, NNGuide, NCI, SCALE, SHE, KLMatching, RMD, VRA,
           Entropy, TemperatureScaling, LTS, OpenMax)

#: the paper's competitors (Tables 2-9), the rest of its Table 1, then today's post-hoc detectors (pytorch-ood)
BASELINES: dict[str, type[Baseline]] = {cls.name: cls for cls in (
    MSP, ODIN, ODINPre, ODINOriginal, Mahalanobis, MahalanobisPre, MahalanobisEnsemble, ELO, KDBU, LID,
    GODIN, NNIF, FeatureSqueezing) + POSTHOC + POSTHOC_MODEL}

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


__all__ = ["ATTACK_TRAINED", "BASELINES", "Baseline", "Method", "NotApplicable", "fit_baseline", "make_baseline",
           "final_linear", "penultimate"]
