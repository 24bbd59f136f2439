"""The detectors we compare against: one :class:`~detector.method.api.Method` class each.

:data:`BASELINES` lists them in the order of the tables; the one registry of every method, ours
included, and the parser of their names is :mod:`detector.evaluation.registry`. A new baseline is
one new file here and one class below.

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
BASELINES: tuple[type[Baseline], ...] = (
    MSP, ODIN, ODINPre, ODINOriginal, Mahalanobis, MahalanobisPre, MahalanobisEnsemble, ELO, KDBU, LID,
    GODIN, NNIF, FeatureSqueezing) + POSTHOC + POSTHOC_MODEL

__all__ = ["BASELINES", "Baseline", "Method", "NotApplicable", "final_linear", "penultimate"]
