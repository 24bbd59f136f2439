"""The paper's detector: per-class SVDDs on the Most Discriminative Layer and the logits.

Zhao et al., "A Uniform Framework for Anomaly Detection in Deep Neural Networks".

For an input x that the classifier predicts as class i::

    g_i(x) = beta_1 * norm_i(s_MDL(x)) + beta_2 * norm_i(s_logit(x)) + beta_3 * norm_i(conf(x))
    x is an anomaly  <=>  g_i(x) < tau_i

``beta_3 = 0`` is the paper's detector. The third term, beyond the paper, is the
classifier's own confidence (:data:`detector.method.scores.CONFIDENCES`): attacks that stop just
past the decision boundary (CW, JSMA) land inside the wrong class's cluster at every layer,
so neither SVDD sees them, but the classifier is unsure of them. The arithmetic of the
scores (normalisation, beta, thresholds) lives in :mod:`detector.method.scores`.

- Step 1 (Sec. 4, Fig. 1): the MDL is the candidate layer whose per-class SVDD makes the
  fewest errors on held-out ID data plus a *mix* anomaly set (by default generated,
  see :func:`detector.anomalies.noise.mix_set`, so it shares nothing with evaluated sets).
- Step 2: one SVDD per predicted class on MDL features and one on logits, trained on the
  ID training inputs predicted as that class (:class:`~detector.method.svdd.ClassConditionalSVDD`).
- Step 3: per-class min-max normalisation of the scores and the thresholds tau_i that keep
  ``tpr`` of each class, all fitted on held-out validation ID data, never on anomalies,
  so that a single input can be judged on its own.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..anomalies.noise import mix_set
from ..errors import DataError
from ..inputs.images import check_images
from ..models.classifiers import ClassifierInfo
from ..runtime import model_device, to_numpy
from .choices import GeneratedChoices
from .features import LOGITS, FeatureExtractor
from .live import LiveChanges
from .mdl import mix_set_errors, most_discriminative
from .parameters import DetectorParameters
from .persistence import load_detector, save_detector
from .scores import CONFIDENCES, LayerScores, min_max_normalise, min_max_ranges, require_finite, thresholds_for
from .svdd import ClassConditionalSVDD

log = logging.getLogger(__name__)


class UniformDetector(LiveChanges, GeneratedChoices, DetectorParameters):
    """Uniform anomaly detector (OOD, adversarial and noise) for a trained classifier.

    Parameters
    ----------
    model : ClassifierInfo
        The classifier (see :func:`detector.models.classifiers.load_model`).
    layer : "auto" or str
        The MDL. ``"auto"`` chooses it on the mix set (Step 1); otherwise a layer name
        from :func:`detector.method.features.candidate_layers`.
    beta : (float, float) or (float, float, float)
        Weights of the MDL, logit and confidence scores (>= 0, not all 0; a third weight of 0
        when two are given). Paper: (0.5, 0.5); ``ours+conf``: :meth:`beta_from_generated`.
    nu : float in (0, 1]
        SVDD slack bound. Paper: 0.1.
    gamma : "scale", "auto" or float
        RBF kernel width, scikit-learn's convention on standardised features.
    tpr : float
        Share of held-out ID inputs of each class that must pass their threshold.
    candidates : None, "blocks", "all" or list of str
        Layers tried by ``layer="auto"``, the logits left out. ``None`` or ``"blocks"``: the
        block outputs of deep models (ResNet's residual blocks, VGG's pooling stages) and every
        layer of small ones such as LeNet (:func:`detector.method.features.block_layers`); ``"all"``:
        every layer (54 in our ResNet-18).
    max_samples_per_class, min_samples : int
        See :class:`~detector.method.svdd.ClassConditionalSVDD`. A class with fewer than
        ``min_samples`` *validation* inputs uses the normalisation and threshold of the
        pooled validation scores.

    Attributes
    ----------
    mdl_ : str
        The layer used as MDL.
    layer_errors_ : dict[str, float]
        Error rate on validation ID + mix for each tried layer (``layer="auto"``).
    svdd_ : dict[str, ClassConditionalSVDD]
        Keyed by the MDL name and ``"logits"``.
    norm_min_, norm_max_ : ndarray of shape (n_classes, 3)
        Per-class min-max ranges of the (MDL, logit, confidence) raw scores on validation ID data.
    beta_, tpr_, confidence_ :
        The choices the fitted state pairs with, which scoring reads: ``set_params`` only stores (the next
        :meth:`fit` takes it); :meth:`set_beta`, :meth:`with_beta` and :meth:`set_nu` act at once.
    thresholds_ : ndarray of shape (n_classes,)
        tau_i for ``beta_`` and ``tpr_``.

    Examples
    --------
    >>> from detector.models.classifiers import load_model
    >>> from detector.data.loading import load_dataset
    >>> model = load_model("lenet-mnist")                                   # doctest: +SKIP
    >>> train, val = load_dataset("mnist", "train"), load_dataset("mnist", "val")  # doctest: +SKIP
    >>> detector = UniformDetector(model).fit(train.images, val.images)     # doctest: +SKIP
    >>> detector.predict(images)            # True = anomaly                # doctest: +SKIP

    The parameters are checked at the start of :meth:`fit` (:class:`~detector.method.parameters.DetectorParameters`):
    a bad value raises a ValueError (scikit-learn's ``InvalidParameterError`` for a type or a range) naming it.
    """

    def __init__(self, model: ClassifierInfo, layer="auto", beta=(0.5, 0.5), nu=0.1, gamma="scale", tpr=0.95,
                 candidates=None, max_samples_per_class=2000, min_samples=10, random_state=0, confidence="msp"):
        self.model = model
        self.layer = layer
        self.beta = beta
        self.nu = nu
        self.gamma = gamma
        self.tpr = tpr
        self.candidates = candidates
        self.max_samples_per_class = max_samples_per_class
        self.min_samples = min_samples
        self.random_state = random_state
        self.confidence = confidence

    def _check_input(self, images: np.ndarray) -> np.ndarray:
        images = check_images(images)
        if tuple(images.shape[1:]) != tuple(self.model.input_shape):
            raise DataError(f"images have shape (C,H,W)={tuple(images.shape[1:])}, the model expects "
                            f"{tuple(self.model.input_shape)}")
        return images

    @property
    def extractor(self) -> FeatureExtractor:
        """The (disk-cached) feature extractor of ``model``."""
        if getattr(self, "_extractor", None) is None or self._extractor.model is not self.model:
            self._extractor = FeatureExtractor(self.model)
        return self._extractor

    def _check_fitted(self) -> None:
        check_is_fitted(self, msg="this %(name)s is not fitted yet: call fit() or UniformDetector.load()")

    def __sklearn_is_fitted__(self) -> bool:
        """What check_is_fitted asks: fitted once the thresholds are set (by fit or load)."""
        return hasattr(self, "thresholds_")

    # ------------------------------------------------------------------ fitting
    def _svdd(self) -> ClassConditionalSVDD:
        return ClassConditionalSVDD(self.nu, self.gamma, self.max_samples_per_class, self.min_samples, self.random_state)

    def fit(self, train_images: np.ndarray, val_images: np.ndarray, mix_images: np.ndarray | None = None,
            val_labels: np.ndarray | None = None) -> "UniformDetector":
        """Fit on ID training images (SVDDs) and held-out ID validation images (normalisation, tau).

        ``mix_images`` is the anomaly set for choosing the MDL (``layer="auto"``); by
        default it is generated from the validation images (``val_labels``, when given,
        make its class blends cross class boundaries).
        """
        self._validate_params()
        self._fix_choices()
        train_images, val_images = self._check_input(train_images), self._check_input(val_images)
        if len(val_images) < self.min_samples:  # one image once gave all thresholds 0, silently
            raise ValueError(f"need at least min_samples={self.min_samples} held-out validation images for the score "
                             f"ranges and thresholds tau_i, got {len(val_images)}")
        self.n_classes_ = self.model.n_classes
        extractor = self.extractor
        if self.layer == "auto":
            if not self.candidates or isinstance(self.candidates, str):
                names = [info.name for info in extractor.candidates(self.candidates or "blocks") if info.name != LOGITS]
            else:
                names = list(self.candidates)  # checked by _validate_params
        else:
            names = [self.layer]
        # one forward pass per image set gives the logits and every layer needed
        extra = [name for name in self._term_layers() if name not in names]
        train_feats, val_feats = (extractor.features(images, [*names, LOGITS, *extra]) for images in (train_images, val_images))
        require_finite(train_feats, "training"), require_finite(val_feats, "validation")
        train_pred, val_pred = train_feats[LOGITS].argmax(1), val_feats[LOGITS].argmax(1)
        if few := [i for i in range(self.n_classes_) if np.sum(val_pred == i) < self.min_samples]:
            log.warning("class(es) %s: fewer than %d held-out validation inputs predicted as them; they use the "
                        "pooled score ranges and threshold", ", ".join(map(str, few)), self.min_samples)

        self.layer_errors_ = {}
        if self.layer == "auto":
            if mix_images is None:
                labels = val_pred if val_labels is None else val_labels
                mix_images = mix_set(val_images, labels, seed=self.random_state + 1)
            mix_feats = extractor.features(self._check_input(mix_images), [*names, LOGITS])
            mix_pred = mix_feats[LOGITS].argmax(1)
            self.layer_errors_, separation = mix_set_errors(
                self._svdd, names, (train_feats, train_pred), (val_feats, val_pred), (mix_feats, mix_pred),
                self.n_classes_, self.tpr_, self.min_samples)
            self.mdl_ = most_discriminative(self.layer_errors_, separation)
        else:
            self.mdl_ = self.layer

        layers = self._scored_layers()
        self._train = ({name: train_feats[name] for name in layers}, train_pred)
        self._val = ({name: val_feats[name] for name in layers}, val_pred)
        return self._fit_svdds()

    def _term_layers(self) -> tuple[str, ...]:
        """Layers read by terms other than the two SVDDs' (none here; a subclass's extra term)."""
        return ()

    def _scored_layers(self) -> list[str]:
        """Every layer an input's scores read, once the MDL is known."""
        return [self.mdl_, LOGITS, *(name for name in self._term_layers() if name not in (self.mdl_, LOGITS))]

    def _fit_svdds(self) -> "UniformDetector":
        train_feats, train_pred = self._train
        self.svdd_ = {name: self._svdd().fit(train_feats[name], train_pred, self.n_classes_) for name in (self.mdl_, LOGITS)}
        return self._fit_ranges()

    def _fit_ranges(self) -> "UniformDetector":
        """Per-class min-max ranges, validation scores and thresholds from the validation features."""
        val_feats, val_pred = self._val
        raw = self._raw_scores(val_feats, val_pred)
        self.norm_min_, self.norm_max_ = min_max_ranges(raw, val_pred, self.n_classes_, self.min_samples)
        self.val_scores_ = min_max_normalise(raw, val_pred, self.norm_min_, self.norm_max_)
        self.val_predicted_ = val_pred
        return self._fit_thresholds()

    def _fix_choices(self) -> None:
        """Store the parameters that scoring reads (the weights, the ID pass rate, the confidence score): from
        here on a ``set_params`` does not reach the fitted state until the next fit."""
        self.beta_, self.tpr_, self.confidence_ = self.check_beta(self.beta), float(self.tpr), self.confidence

    def _fit_thresholds(self) -> "UniformDetector":
        self.thresholds_ = self.thresholds_for(self.beta_)
        return self

    def thresholds_for(self, beta) -> np.ndarray:
        """tau_i for ``beta`` (at the fitted ``tpr_``) from the validation scores kept at fit time; the detector
        is not changed."""
        return thresholds_for(self.val_scores_, beta, self.n_classes_, self.tpr_, self.min_samples)

    # ------------------------------------------------------------------ scoring
    def _raw_scores(self, feats: dict, predicted) -> np.ndarray:
        """(N, 3): log SVDD score on the MDL, on the logits, and the classifier's confidence.

        ``feats`` and ``predicted`` are arrays, or tensors (:meth:`FeatureExtractor.device_features`):
        the SVDD kernels run where the model does, and only the scores come back to the host."""
        device = model_device(self.model.module)
        classes = torch.as_tensor(predicted, device=device)
        svdd = [self.svdd_[name].score_tensor(torch.as_tensor(feats[name], device=device), classes)
                for name in (self.mdl_, LOGITS)]
        confidence = CONFIDENCES[self.confidence_](to_numpy(feats[LOGITS]))
        return np.concatenate([torch.stack(svdd, 1).cpu().numpy(), confidence[:, None]], 1)

    def features(self, images: np.ndarray, cached: bool = False) -> dict[str, np.ndarray]:
        """MDL and logit features of ``images``, checked; ``cached=True`` for named sets only
        (dataset splits, anomaly sets): new inputs are neither hashed nor written to disk."""
        self._check_fitted()
        return self.extractor.features(self._check_input(images), self._scored_layers(), cached)

    def feature_scores(self, feats: dict) -> LayerScores:
        """:meth:`layer_scores` of features from :meth:`features` (no second forward pass)."""
        predicted = feats[LOGITS].argmax(1)
        raw = self._raw_scores(feats, predicted)[:, :self.norm_min_.shape[1]]
        predicted = to_numpy(predicted)
        return min_max_normalise(raw, predicted, self.norm_min_, self.norm_max_)

    def layer_scores(self, images: np.ndarray, cached: bool = False) -> LayerScores:
        """Predicted class and the normalised MDL, logit and confidence scores of each image.

        ``cached=True`` keeps the features on disk: for named sets, which are scored again. New
        inputs' features stay on the model's device until they are scored.
        """
        if cached:
            return self.feature_scores(self.features(images, cached))
        self._check_fitted()
        return self.feature_scores(self.extractor.device_features(self._check_input(images), self._scored_layers()))

    def score_samples(self, images: np.ndarray, cached: bool = False) -> np.ndarray:
        """g_i(x): higher = more normal."""
        return self.layer_scores(images, cached).combine(self.beta_)

    def decision_function(self, images: np.ndarray, cached: bool = False) -> np.ndarray:
        """g_i(x) - tau_i: negative = anomaly."""
        return self.layer_scores(images, cached).decision(self.beta_, self.thresholds_)

    def predict(self, images: np.ndarray, cached: bool = False) -> np.ndarray:
        """True where the input is an anomaly (paper Eq. 4)."""
        return self.decision_function(images, cached) < 0

    # ------------------------------------------------------------------ persistence
    def _extra_state(self) -> dict:
        """What a subclass's extra term saves beside the state every detector saves (none here)."""
        return {}

    def _load_extra_state(self, state: dict) -> None:
        """Set the extra term's fitted state from a saved ``state`` (nothing here)."""

    def save(self, path: str | Path) -> None:
        """Write the fitted state with skops (no pickle), tagged with the model's weights hash."""
        save_detector(self, path)

    @classmethod
    def load(cls, path: str | Path, model: ClassifierInfo) -> "UniformDetector":
        """Load a detector saved by :meth:`save`; refuses a file made for another model."""
        return load_detector(cls, path, model)
