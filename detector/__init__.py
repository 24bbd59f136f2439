"""Uniform anomaly detection for deep neural network classifiers (Zhao et al.).

The main entry points::

    from detector import load_experiment, UniformDetector
    exp = load_experiment("lenet-mnist")
    det = UniformDetector(exp.model).fit(exp.train.images, exp.val.images, val_labels=exp.val.labels)
    det.predict(images)  # True = anomaly

Command line: ``python -m detector --help``.

The names below load on first use (PEP 562), as SciPy's subpackages do: importing a low layer
such as :mod:`detector.inputs.images` then loads neither the evaluation nor the baselines.
"""

from __future__ import annotations

import importlib

#: public name -> the module that defines it
_LAZY = {
    "UniformDetector": "detector.method.uniform",
    "load_experiment": "detector.evaluation.experiment",
    "load_model": "detector.models.classifiers",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
