"""The detectors' constructor parameters, checked in one place, scikit-learn's way: ``_parameter_constraints``
(``sklearn.utils._param_validation``, with scikit-learn pinned) checked by ``_validate_params()`` at the start of
``fit`` and on ``load``, then the two rules those constraints cannot express (beta's terms, the model's layers)."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions, validate_parameter_constraints

from ..errors import LayerError
from ..models.classifiers import ClassifierInfo
from .features import CANDIDATES, LOGITS
from .scores import CONFIDENCES, check_beta
from .svdd import GAMMA, MAX_SAMPLES, MIN_SAMPLES, NU


class DetectorParameters(BaseEstimator):
    """The parameter checks of :class:`~detector.method.uniform.UniformDetector` (and its subclasses),
    which provides ``layer``, ``beta``, ``candidates`` and the ``extractor`` that knows the model's layers."""

    #: scikit-learn's convention: parameter -> constraints (any one of a list satisfies it), checked by
    #: :meth:`_validate_params` at the start of fit; a subclass extends it ({**parent's, "k": [...]}).
    #: The SVDD's parameters take its own constraints, as they are passed on to it.
    _parameter_constraints: dict = {
        "model": [ClassifierInfo],
        "layer": [str],  # "auto", or a layer of the model other than the logits: _check_layer_names
        "beta": ["array-like"],  # and two to four numbers >= 0, not all 0: _check_beta_terms
        "nu": NU,
        "gamma": GAMMA,
        "tpr": [Interval(Real, 0, 1, closed="neither")],
        "candidates": [None, StrOptions(set(CANDIDATES)), list, tuple],  # names: _check_layer_names
        "max_samples_per_class": MAX_SAMPLES,
        "min_samples": MIN_SAMPLES,
        "random_state": [Interval(Integral, 0, None, closed="left")],  # a seed: random_state + 1 seeds the mix set
        "confidence": [StrOptions(set(CONFIDENCES))],
    }
    #: the terms of g_i that beta weighs: MDL, logit, confidence (UniformKNNDetector: and k-NN)
    _n_terms = 3

    def _validate_params(self) -> None:
        """The one check of every constructor parameter, at the start of :meth:`fit` (and of
        ``UniformKNNDetector.from_detector`` and :meth:`load`): scikit-learn's, on
        ``_parameter_constraints``, then ours on what those cannot express."""
        super()._validate_params()
        self._check_beta_terms(self.beta)
        self._check_layer_names()

    @classmethod
    def _validate_param(cls, name: str, value) -> None:
        """One parameter against its entry of ``_parameter_constraints`` (for the public checks below)."""
        validate_parameter_constraints({name: cls._parameter_constraints[name]}, {name: value}, caller_name=cls.__name__)

    @classmethod
    def check_nu(cls, nu) -> float:
        """``nu`` as a float, refused (ValueError naming it) outside (0, 1]: its constraint, for the
        command line and :meth:`set_nu`."""
        cls._validate_param("nu", nu)
        return float(nu)

    @classmethod
    def check_beta(cls, beta) -> tuple[float, ...]:
        """``beta`` as :func:`detector.method.scores.check_beta` returns it, refused (ValueError naming
        it) as :meth:`fit` refuses it: for the command line, :meth:`set_beta` and scoring."""
        cls._validate_param("beta", beta)
        return cls._check_beta_terms(beta)

    @classmethod
    def _check_beta_terms(cls, beta) -> tuple[float, ...]:
        """Ours: scikit-learn's constraints cannot say "two to four non-negative numbers, not all zero"
        (:func:`~detector.method.scores.check_beta`, also used where beta meets the scores), nor that a
        k-NN weight needs the k-NN term."""
        values = check_beta(beta)
        if len(values) > cls._n_terms:
            raise ValueError(f"beta has a fourth (k-NN) weight, {values[3]:g}, but {cls.__name__} has no k-NN term "
                             f"(detector.method.neighbours.UniformKNNDetector has); got {beta!r}")
        return values

    def _check_layer_names(self) -> None:
        """Ours: ``layer`` and the ``candidates`` given by name must be layers of this model (scikit-learn's
        constraints know nothing of the model), and not the logits, which are the second detector."""
        named = [] if self.layer == "auto" else [("layer", self.layer)]
        if isinstance(self.candidates, (list, tuple)):
            named += [("candidates", name) for name in self.candidates]
        for param, name in named:
            if not isinstance(name, str):
                raise ValueError(f"candidates must be layer names (str), got {name!r} in {self.candidates!r}")
            try:
                self.extractor.check_layer(name)  # LayerError: the message lists the valid layers
            except LayerError as error:
                if param == "layer":
                    raise
                raise LayerError(f"candidates: {error}") from None
            if name == LOGITS:
                raise ValueError(f"{param}={getattr(self, param)!r}: the MDL must be a layer other than the logits "
                                 "(the logits are the second detector)")
