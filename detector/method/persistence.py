"""A fitted :class:`~detector.method.uniform.UniformDetector` on disk: skops (no pickle), tagged with the
weights hash and the fingerprint (weights and outputs on a probe batch) of the model it was fitted for,
written atomically, read with every field checked."""

from __future__ import annotations

from pathlib import Path

from .. import cache
from .scores import LayerScores

FORMAT = "uniform-detector/1"
STATE_KEYS = ("model_hash", "params", "mdl", "layer_errors", "n_classes", "svdd", "norm_min", "norm_max", "val_scores",
              "val_predicted")  # what save_detector writes and load_detector reads (and the subclass's extra state)


def save_detector(detector, path: str | Path, cache_key: dict | None = None) -> None:
    """Write a fitted ``detector``'s state to ``path`` (atomically); a cache entry stores its key."""
    import skops.io as sio

    detector._check_fitted()
    state = {
        "format": FORMAT,
        "model_hash": detector.model.weights_hash,
        "model_fingerprint": detector.model.fingerprint,  # the same weights under another forward differ here
        "class": type(detector).__name__,
        # every constructor parameter but the model (the file is tagged with its weights hash instead), with the
        # fitted choices in place of values set since the last fit: the file scores as the detector does
        "params": {**{k: v for k, v in detector.get_params().items() if k != "model"},
                   "beta": list(detector.beta_), "tpr": detector.tpr_, "confidence": detector.confidence_},
        "mdl": detector.mdl_,
        "layer_errors": detector.layer_errors_,
        "n_classes": detector.n_classes_,
        "svdd": {name: svdd.get_state() for name, svdd in detector.svdd_.items()},
        "norm_min": detector.norm_min_, "norm_max": detector.norm_max_,
        "val_scores": detector.val_scores_.terms()[:, :detector.norm_min_.shape[1]],
        "val_predicted": detector.val_predicted_,
        **detector._extra_state(),
    }
    if cache_key is not None:
        state["cache_key"] = cache.canonical(cache_key)
    cache.atomic_write(Path(path), lambda tmp: sio.dump(state, tmp))


def load_detector(cls, path: str | Path, model, cache_key: dict | None = None):
    """``cls`` (UniformDetector) fitted as saved in ``path``; refuses a file made for another model,
    and a cache entry stored under another key than ``cache_key``."""
    import skops.io as sio

    path = Path(path)
    try:
        untrusted = sio.get_untrusted_types(file=path)
        if untrusted:
            raise ValueError(f"it holds types that are not trusted: {', '.join(untrusted)}")
        state = sio.load(path)
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError("it is not a saved UniformDetector")
        if state.get("class", "UniformDetector") != cls.__name__:  # files written before the key held one
            raise ValueError(f"it holds a {state['class']}, not a {cls.__name__}")
        if missing := [key for key in STATE_KEYS if key not in state]:
            raise ValueError(f"it lacks {', '.join(missing)}")
        if cache_key is not None and state.get("cache_key") != cache.canonical(cache_key):
            raise ValueError("it holds another cache entry (its stored key differs from the one asked for)")
    except Exception as error:
        raise ValueError(f"cannot load detector from {path}: {error}") from None
    if state["model_hash"] != model.weights_hash:
        raise ValueError(
            f"{path} was fitted for another model (weights hash {state['model_hash']}, "
            f"this model has {model.weights_hash}); fit a new detector for this model"
        )
    if state.get("model_fingerprint", model.fingerprint) != model.fingerprint:  # files written before it: the hash only
        raise ValueError(
            f"{path} was fitted for a model with the same weights but another computation (its outputs on a probe "
            "batch differ: the model's code changed since); fit a new detector for this model"
        )
    try:  # a crafted file may hold anything under the right keys
        params = dict(state["params"])
        params["beta"] = tuple(params["beta"])
        detector = cls(model, **params)
        detector._validate_params()  # as fit checks them: set_beta, set_nu and a refit rely on them
        detector.mdl_, detector.layer_errors_, detector.n_classes_ = state["mdl"], dict(state["layer_errors"]), state["n_classes"]
        detector.svdd_ = {name: detector._svdd().set_state(s) for name, s in state["svdd"].items()}
        detector.norm_min_, detector.norm_max_ = state["norm_min"], state["norm_max"]
        detector._fix_choices()
        # a detector saved before the confidence term has two columns: it loads, with beta_3 = 0 only
        detector.val_scores_ = LayerScores(state["val_predicted"], *state["val_scores"].T)
        detector.val_predicted_ = state["val_predicted"]
        detector._load_extra_state(state)
        detector._fit_thresholds()
        fitted_widths = {name: svdd.scaler_.n_features_in_ for name, svdd in detector.svdd_.items()}
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as error:
        raise ValueError(f"cannot load detector from {path}: malformed state ({type(error).__name__}: {error})") from None
    _check_feature_widths(detector, fitted_widths, path)
    return detector


def _check_feature_widths(detector, fitted_widths: dict[str, int], path: Path) -> None:
    """Refuse a detector whose SVDDs were fitted on features of another width than this code extracts for
    their layers: one saved before a block's signed map kept its spread would fail at scoring."""
    layers = {info.name: info for info in detector.extractor.valid_layers}
    for name, width in fitted_widths.items():
        if name in layers and layers[name].feature_dim != width:
            raise ValueError(f"{path} was fitted on {width} features of layer {name!r}; this version reduces that "
                             f"layer to {layers[name].feature_dim} ({layers[name].reduction}): fit a new detector")
