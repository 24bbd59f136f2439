"""``ours+knn``: the uniform detector with a fourth term, the distance to the k-th nearest
training input in the penultimate features (Sun et al., ICML 2022, as pytorch-ood's ``KNN``).

For an input x predicted as class i::

    g_i(x) = beta_1 * norm_i(s_MDL) + beta_2 * norm_i(s_logit) + beta_3 * norm_i(conf) + beta_4 * norm_i(-d_k(x))

``d_k(x)`` is the Euclidean distance of x's L2-normalised penultimate features (the last layer
before the logits) to the k-th nearest L2-normalised training feature of any class. It is
normalised per predicted class like the other terms (min-max on held-out validation ID data).
k and beta are chosen on generated anomalies only (:meth:`UniformKNNDetector.k_from_generated`,
then :meth:`~detector.method.uniform.UniformDetector.beta_from_generated` on the simplex over the
four terms): ours+conf's generated kinds plus two look-alike kinds, mirrored images and chimeras
of two classes (:func:`detector.anomalies.lookalikes.generated_lookalikes`).

Why: the SVDDs score each input against one class's cluster in one layer; on look-alike inputs
(letters for an MNIST model, MNIST for a Fashion-MNIST one) the class's SVDD still finds them
close enough, while the distance to the training set as a whole, in the direction-only
penultimate space, moves (``scripts/near_ood.py`` measures it).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from ..anomalies.lookalikes import generated_lookalikes
from ..runtime import Progress
from .features import LOGITS
from .metrics import per_class_auroc
from .uniform import UniformDetector

KNN_K = 50  # the KNN paper's CIFAR-10 value (50,000 training images), pytorch-ood's default and our knn baseline's
#: the k tried by k_from_generated. On LeNet-MNIST (3,500 training digits) the generated objective falls
#: from k = 1 (96.3) to k = 50 (94.6), and so do Fashion-MNIST, digits and the distorted digits
#: (scripts/near_ood.py): with few training inputs per class, the 50th neighbour lies in another mode
KNN_KS = (1, 2, 5, 10, 20, 50)


def penultimate_layer(extractor) -> str:
    """The last layer before the logits (LeNet: ``relu3``, our ResNets: ``pool``): the inputs of
    the final linear layer when the logits come out of one, where pytorch-ood's KNN reads."""
    layers = [info.name for info in extractor.layers if info.name != LOGITS]
    if not layers:
        raise ValueError("the model has no layer before its logits for the k-NN term")
    return layers[-1]


def _as_cpu(x) -> torch.Tensor:
    return torch.as_tensor(x).detach().float().cpu()


class UniformKNNDetector(UniformDetector):
    """:class:`~detector.method.uniform.UniformDetector` with the k-NN distance as a fourth term.

    Parameters
    ----------
    k : int
        The neighbour whose distance is the score (capped at the number of training inputs - 1).
    beta : four numbers
        Weights of the MDL, logit, confidence and k-NN terms (default: 1/4 each).
    Others
        As :class:`~detector.method.uniform.UniformDetector`'s.

    Attributes
    ----------
    knn_ : pytorch_ood.detector.KNN
        Fitted on the L2-normalised penultimate features of the ID training inputs.
    knn_train_ : ndarray of shape (n_train, n_features)
        Those features, as saved by :meth:`save` (the KNN is rebuilt from them on load).
    penultimate_ : str
        The layer it reads.

    See Also
    --------
    from_detector : the same detector from a fitted UniformDetector, without refitting its SVDDs.
    """

    _parameter_constraints: dict = {**UniformDetector._parameter_constraints, "k": [Interval(Integral, 1, None, closed="left")]}
    _n_terms = 4  # beta may weigh the k-NN term

    def __init__(self, model, layer="auto", beta=(0.25, 0.25, 0.25, 0.25), nu=0.1, gamma="scale", tpr=0.95,
                 candidates=None, max_samples_per_class=2000, min_samples=10, random_state=0, confidence="msp",
                 k=KNN_K):
        super().__init__(model, layer, beta, nu, gamma, tpr, candidates, max_samples_per_class, min_samples,
                         random_state, confidence)
        self.k = k

    def _term_layers(self) -> tuple[str, ...]:
        return (penultimate_layer(self.extractor),)

    def _knn(self, k: int):
        """pytorch-ood's KNN with ``k`` neighbours on the training inputs' penultimate features."""
        from pytorch_ood.detector import KNN

        train = torch.from_numpy(self.knn_train_)
        return KNN(None, k=min(k, len(train) - 1), normalize=True).fit_features(
            train, torch.zeros(len(train), dtype=torch.long))

    def _fit_ranges(self) -> "UniformKNNDetector":
        self.penultimate_ = penultimate_layer(self.extractor)
        self.knn_train_ = _as_cpu(self._train[0][self.penultimate_]).numpy()
        self.knn_ = self._knn(self.k)
        return super()._fit_ranges()

    def _extra_state(self) -> dict:
        """The k-NN term's layer and training features: pytorch-ood's KNN is rebuilt from them on load."""
        return {"penultimate": self.penultimate_, "knn_train": self.knn_train_}

    def _load_extra_state(self, state: dict) -> None:
        if "knn_train" not in state:
            raise ValueError("it holds no k-NN term")
        self.penultimate_ = str(state["penultimate"])
        self.knn_train_ = np.asarray(state["knn_train"], dtype=np.float32)
        self.knn_ = self._knn(self.k)

    @staticmethod
    def _knn_term(knn, feats) -> np.ndarray:
        """Minus the k-th neighbour distance: higher = more normal."""
        return -knn.predict_features(_as_cpu(feats)).double().cpu().numpy()

    def _raw_scores(self, feats: dict, predicted) -> np.ndarray:
        """(N, 4): the three raw terms of UniformDetector and minus the k-th neighbour distance."""
        knn = self._knn_term(self.knn_, feats[self.penultimate_])
        return np.concatenate([super()._raw_scores(feats, predicted), knn[:, None]], 1)

    def generated_anomalies(self, val_images: np.ndarray, val_labels: np.ndarray | None = None,
                            progress: Progress = False) -> dict[str, np.ndarray]:
        """ours+conf's generated kinds and two look-alike kinds (mirrored images, chimeras)."""
        labels = self.val_predicted_ if val_labels is None else val_labels
        return {**super().generated_anomalies(val_images, val_labels, progress),
                **generated_lookalikes(self._check_input(val_images), labels, seed=self.random_state + 3)}

    def k_from_generated(self, val_images: np.ndarray, val_labels: np.ndarray | None = None, ks=KNN_KS):
        """The k of ``ks`` whose k-NN term alone separates held-out ID inputs from the generated kinds
        best (mean per-class AUROC over the kinds, as beta's choice). ``val_images`` must be the
        validation images given to fit. Returns ``(k, {k: objective})``; the detector is not changed:
        pass k to a new detector (:meth:`from_detector`)."""
        self._check_fitted()
        layers = [self.penultimate_, LOGITS]
        parts = {name: self.extractor.features(images, layers, cached=False)
                 for name, images in self.generated_anomalies(val_images, val_labels).items()}
        val_feats, val_pred = self._val
        objective = {}
        for k in ks:
            knn = self._knn(k)
            val_term = self._knn_term(knn, val_feats[self.penultimate_])
            objective[k] = float(np.mean([per_class_auroc(val_term, val_pred, self._knn_term(knn, feats[self.penultimate_]),
                                                          feats[LOGITS].argmax(1))[0] for feats in parts.values()]))
        return max(objective, key=objective.get), objective

    @classmethod
    def from_detector(cls, detector: UniformDetector, train_images: np.ndarray, val_images: np.ndarray,
                      k: int = KNN_K) -> "UniformKNNDetector":
        """The four-term detector on a fitted UniformDetector's MDL and SVDDs (e.g. one from the disk
        cache): only the k-NN term and the ranges are fitted, on the same training and validation
        images. The same as fitting it anew, without the SVDDs' cost."""
        detector._check_fitted()
        params = {**detector.get_params(), "tpr": detector.tpr_, "confidence": detector.confidence_,
                  "beta": (0.25, 0.25, 0.25, 0.25), "k": k}
        new = cls(**params)
        new._validate_params()
        new._fix_choices()
        new.mdl_, new.layer_errors_, new.n_classes_ = detector.mdl_, dict(detector.layer_errors_), detector.n_classes_
        new.svdd_ = detector.svdd_
        layers = new._scored_layers()
        for name, images in (("_train", train_images), ("_val", val_images)):
            feats = new.extractor.features(new._check_input(images), layers)
            setattr(new, name, (feats, feats[LOGITS].argmax(1)))
        return new._fit_ranges()
