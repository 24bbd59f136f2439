"""Uniform anomaly detection for deep neural network classifiers (Zhao et al.).

The main entry points::

    from detector import load_experiment, UniformDetector
    exp = load_experiment("lenet-mnist")
    det = UniformDetector(exp.model).fit(exp.train.images, exp.val.images, val_labels=exp.val.labels)
    det.predict(images)  # True = anomaly

Command line: ``python -m detector --help``.
"""

from .evaluation.experiment import load_experiment
from .models.classifiers import load_model
from .method.uniform import UniformDetector

__all__ = ["UniformDetector", "load_experiment", "load_model"]
