"""What every registered method is, ours and each baseline: one abstract base, as pytorch-ood's ``api.Detector``.

A method is a scikit-learn estimator (``__init__`` only stores its parameters, so ``sklearn.base.clone``
keeps every option) with ``fit(experiment) -> self`` and ``score_samples(images, cached=False)``, higher =
more normal; scoring before ``fit`` raises :class:`~sklearn.exceptions.NotFittedError`. Each class says
what it is in its :class:`MethodInfo`: the registry (:mod:`detector.evaluation.registry`), the command
line's help and the dashboard's Benchmark page read it and nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator


class NotApplicable(ValueError):
    """The method needs something the model does not have (e.g. a final linear layer)."""


@dataclass(frozen=True)
class MethodInfo:
    """What a method is, on its class (``info``)."""

    #: the registry name
    name: str
    #: what it scores, in one line
    description: str
    #: the paper (or project) it comes from, in one line
    reference: str
    #: True where scoring reaches the pixels only through the model's features or logits, one batch at a time,
    #: so that an image folder's split streams from disk; the others (input steps, squeezers, MC dropout...) get
    #: it in memory. Every method scores each input on its own, never against the others of its batch (LID's
    #: neighbours are a fixed reference batch of ID training inputs).
    streams: bool = False
    #: the command line's detector options (``--layer``, ``--beta``, ``--nu``, ``--candidates``) that are
    #: parameters of this method; the benchmark passes it those and no others
    options: tuple[str, ...] = ()


class Method(BaseEstimator, ABC):
    """The abstract base of every registered method (see the module docstring)."""

    info: ClassVar[MethodInfo]

    @abstractmethod
    def fit(self, experiment) -> "Method":
        """Learn from an experiment's ID training and validation splits (never from an evaluated anomaly
        set); returns ``self``."""

    @abstractmethod
    def score_samples(self, images: np.ndarray, cached: bool = False) -> np.ndarray:
        """One score per image, higher = more normal. ``cached=True`` for named sets (dataset splits,
        anomaly sets), which are scored again: what they cost is kept on disk; new inputs are not."""

    def fit_authors(self, experiment) -> "Method":
        """Fit as the paper's public code would (:mod:`detector.evaluation.authors`): for a baseline, as
        :meth:`fit` (the protocol then takes its thresholds from the evaluation data); ours refits its terms
        on the evaluation data."""
        return self.fit(experiment)
