"""ours+conf's choice of beta, made on generated anomalies only, never on an evaluated set."""

from __future__ import annotations

import numpy as np

from ..anomalies.noise import generated_anomalies
from ..runtime import Progress
from .scores import choose_beta


class GeneratedChoices:
    """Mixin of :class:`~detector.method.uniform.UniformDetector`: what it picks on generated anomalies."""

    def beta_from_generated(self, val_images: np.ndarray, val_labels: np.ndarray | None = None, steps: int = 20,
                            progress: Progress = False):
        """The beta that ``ours+conf`` uses: picked on generated anomalies only, never on an evaluated set.

        The generated kinds are the five parts of the mix set (the one that chose the MDL) and
        blends of two validation images moved just across a decision boundary
        (:func:`detector.anomalies.noise.generated_anomalies`); :func:`detector.method.scores.choose_beta`
        takes the point of the simplex with the best mean per-class AUROC over the kinds,
        against the held-out ID scores kept at fit time. ``val_images`` must be the validation
        images given to :meth:`fit`. The detector is not changed: pass the result to
        :meth:`with_beta`. Returns ``(beta, {kind: n inputs})``.

        What it costs: the boundary blends' bisection, 11 forward passes over at most
        :data:`~detector.anomalies.noise.BOUNDARY_PER_CLASS` validation inputs per predicted class
        (seeded), and one pass over the other kinds (as many as the validation images); ``progress``
        (True: a tqdm bar with its estimate of the time left; or a callback ``(done, total, what)``)
        follows the bisection.
        """
        self._check_fitted()
        parts = self.generated_anomalies(val_images, val_labels, progress=progress)
        beta, _ = choose_beta(self.val_scores_, {name: self.layer_scores(images) for name, images in parts.items()}, steps)
        return beta, {name: len(images) for name, images in parts.items()}

    def generated_anomalies(self, val_images: np.ndarray, val_labels: np.ndarray | None = None,
                            progress: Progress = False) -> dict[str, np.ndarray]:
        """The generated kinds that :meth:`beta_from_generated` picks beta on, by name (``val_images``: the
        validation images given to fit, whose predictions were kept then)."""
        val_images = self._check_input(val_images)
        labels = self.val_predicted_ if val_labels is None else val_labels
        known = self.val_predicted_ if len(self.val_predicted_) == len(val_images) else None
        return generated_anomalies(val_images, labels, lambda x: self.extractor.logits(x, cached=False).argmax(1),
                                   seed=self.random_state + 1, predicted=known, progress=progress)
