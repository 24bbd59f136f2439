"""Every attack's default parameters, in one place (see :mod:`detector.anomalies.attacks` for the attacks).

They follow the public code of Ma et al. (LID, ICLR 2018), which the paper follows. Their images
span [-0.5, 0.5], so their epsilons carry over unchanged to our [0, 1] images.
"""

from __future__ import annotations

import copy

# --------------------------------------------------------------------------- defaults
# Every default attack setting, in one place. Keys: input family (see attack_params).
# FGSM/BIM/JSMA values are Ma et al.'s; CW's and JSMA's ``tries`` are ours (see the classes).
_CW = {"c": 5.0, "kappa": 0.0, "steps": 100, "lr": 0.1}
def _family(eps: float, alpha: float) -> dict[str, dict]:
    """One input family's settings: FGSM/BIM budgets differ, JSMA and CW do not."""
    return {
        "fgsm": {"eps": eps},
        "bim-a": {"eps": eps, "alpha": alpha, "steps": 50},
        "bim-b": {"eps": eps, "alpha": alpha, "steps": 50},
        "jsma": {"theta": 1.0, "gamma": 0.1, "tries": 3, "seed": 0},
        "cw": dict(_CW),
    }


ATTACK_PARAMS: dict[str, dict[str, dict]] = {
    "28": _family(eps=0.40, alpha=0.01),  # 28x28 grey-scale (MNIST-like): Ma et al.'s MNIST settings
    "32-cifar": _family(eps=0.05, alpha=0.005),  # 32x32 colour, Ma et al.'s CIFAR-10 settings
    "32-svhn": _family(eps=0.13, alpha=0.01),  # 32x32 colour, Ma et al.'s SVHN settings
}

def params_family(input_shape: tuple[int, ...], dataset: str | None = None) -> str:
    """The :data:`ATTACK_PARAMS` key for a model input shape.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)`` (or ``(N, C, H, W)``) of the model input.
    dataset : str, optional
        Name of the in-distribution data set; only used to tell SVHN from CIFAR-10
        for 32x32 inputs (CIFAR-10 is the default).
    """
    size = int(input_shape[-1])
    if size <= 28:
        return "28"
    if dataset is not None and "svhn" in dataset.lower():
        return "32-svhn"
    return "32-cifar"


def attack_params(name: str, input_shape: tuple[int, ...], dataset: str | None = None,
                  **overrides) -> dict:
    """The parameters used for attack ``name`` on inputs of ``input_shape``.

    Parameters
    ----------
    name : str
        One of :data:`detector.anomalies.attacks.ATTACKS` (``fgsm``, ``bim-a``, ``bim-b``, ``jsma``, ``cw``).
    input_shape : tuple of int
        ``(C, H, W)`` of the model input; 28x28 -> MNIST settings, 32x32 -> CIFAR-10
        (or SVHN when ``dataset`` names it).
    dataset : str, optional
        In-distribution data set name, see :func:`params_family`.
    **overrides
        Values replacing the defaults (e.g. ``eps=0.3``); unknown names are an error.

    Returns
    -------
    dict
        A fresh copy, safe to modify.
    """
    family = ATTACK_PARAMS[params_family(input_shape, dataset)]
    if name not in family:
        raise KeyError(f"unknown attack {name!r}; choose from {sorted(family)}")
    params = copy.deepcopy(family[name])
    unknown = set(overrides) - set(params)
    if unknown:
        raise KeyError(f"attack {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(params)}")
    params.update(overrides)
    return params
