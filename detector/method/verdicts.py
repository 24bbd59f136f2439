"""The detector's verdict on a user's own inputs, term by term (what Inspect and ``check`` show)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..inputs.images import check_images


@dataclass
class Verdict:
    predicted: int
    probability: float  # softmax probability of the predicted class
    mdl: float  # normalised MDL score
    logit: float  # normalised logit score
    conf: float  # normalised confidence score (NaN for a detector saved without it)
    score: float  # g = beta_1 * mdl + beta_2 * logit + beta_3 * conf
    tau: float  # threshold of the predicted class
    is_anomaly: bool


def judge(detector, images: np.ndarray) -> list[Verdict]:
    """The detector's verdict on each image (N, C, H, W), with its own beta and thresholds
    (for another beta, judge with ``detector.with_beta(beta)``)."""
    import torch

    from .features import LOGITS

    tau = detector.thresholds_
    images = check_images(images)  # float32, contiguous: the raw logits below go straight to torch
    feats = detector.features(images)  # one forward pass; a user's inputs are not cached
    scores = detector.feature_scores(feats)
    combined = scores.combine(detector.beta)
    probabilities = torch.softmax(torch.from_numpy(feats[LOGITS]), 1).numpy()
    terms = scores.terms()
    return [Verdict(int(p), float(probabilities[i, p]), *(float(t) for t in terms[i]), float(combined[i]),
                    float(tau[p]), bool(combined[i] < tau[p]))
            for i, p in enumerate(scores.predicted)]
