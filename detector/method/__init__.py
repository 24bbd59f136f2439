"""The paper's method: per-layer features, per-class SVDDs, scores, metrics and the detector."""
