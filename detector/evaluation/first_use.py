"""How long the first use of a built-in model takes on this machine, said before it starts.

First use = training the network on its ID training split, then fitting the detector: the
features of the training, validation, mix and test sets at every candidate layer, and the
per-class SVDDs of each candidate (the MDL choice). Both parts are estimated from short
timed runs of the same network and the same SVM on random inputs: a few training steps, one
forward pass of a batch, one per-class SVDD fit. Good to within a factor of about 1.5 here;
another job on the same cores slows the run and not the few-second estimate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.loading import load_dataset
from ..method.features import block_layers
from ..method.svdd import ClassConditionalSVDD
from ..models.classifiers import BUILTIN, builtin_is_trained
from ..runtime import default_device


@dataclass(frozen=True)
class FirstUseEstimate:
    model: str
    train_images: int  # images the training passes over: epochs x training split
    training_s: float  # 0 when the network is trained and cached
    detector_s: float

    @property
    def total_s(self) -> float:
        return self.training_s + self.detector_s

    @property
    def total_duration(self) -> str:
        """:attr:`total_s` in words: "40 s", "27.3 min"."""
        return _duration(self.total_s)

    def describe(self) -> str:
        """One sentence: what will happen and about how long it takes."""
        recipe = BUILTIN[self.model]
        fit = f"extracts features of every candidate layer and fits the detector (~{_duration(self.detector_s)})"
        if not self.training_s:
            return f"First use of {self.model}: the network is trained; it {fit}."
        return (f"First use of {self.model}: trains it on {recipe.dataset} ({self.train_images:,} images over "
                f"{recipe.epochs} epoch{'s' if recipe.epochs > 1 else ''}, ~{_duration(self.training_s)} on this machine), "
                f"then {fit}: about {_duration(self.total_s)} in all, once; then cached under cache/.")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _seconds(run, repeat: int, warm_up: bool = True) -> float:
    """Median seconds of ``run()``, after one warm-up call (a network's first call allocates)."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)  # CUDA runs asynchronously
    if warm_up:
        run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def estimate_first_use(name: str, steps: int = 2) -> FirstUseEstimate:
    """Estimate the first use of the built-in ``name`` from a few timed steps (a few seconds)."""
    recipe = BUILTIN[name]
    n_train, n_val = len(load_dataset(recipe.dataset, "train")), len(load_dataset(recipe.dataset, "val"))
    n_test = len(load_dataset(recipe.dataset, "test"))
    with torch.random.fork_rng():  # the timed steps must not move the seeds of the real training
        torch.manual_seed(0)
        device = default_device()  # where training will run
        module = recipe.architecture(in_channels=recipe.input_shape[0]).to(device)
        x = torch.rand(recipe.batch_size, *recipe.input_shape, device=device)
        y = torch.randint(0, 10, (recipe.batch_size,), device=device)
        optimiser = torch.optim.Adam(module.parameters(), lr=recipe.lr)

        def step():
            loss = F.cross_entropy(module(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

        training_s = 0.0
        if not builtin_is_trained(name):
            training_s = _seconds(step, steps) * recipe.epochs * -(-n_train // recipe.batch_size)
        module.eval()
        batch = torch.rand(256, *recipe.input_shape, device=device)
        with torch.no_grad():
            forward_s = _seconds(lambda: module(batch), steps) / len(batch)
        n_layers = len(block_layers(module, recipe.input_shape)) - 1  # the candidates, logits apart

    # one forward pass over training, validation, mix (as large as validation) and test images
    n_fit = min(n_train, recipe.fit_limit or n_train)
    extraction_s = forward_s * (n_fit + 2 * n_val + n_test)
    # per candidate: the per-class SVDDs (up to 2,000 inputs a class) on features of a typical width
    per_class = min(2000, n_fit // 10)
    features = np.random.default_rng(0).normal(size=(per_class, 64)).astype(np.float32)
    svdd_s = 10 * _seconds(lambda: ClassConditionalSVDD().fit(features, np.zeros(per_class, int), 1), 1, warm_up=False)
    return FirstUseEstimate(name, recipe.epochs * n_train, training_s, extraction_s + (n_layers + 1) * svdd_s)


@dataclass(frozen=True)
class LayerTableEstimate:
    layers: int  # rows of the Layers page's table that need a detector of their own
    fit_s: float  # per-class SVDDs of those layers (the layer's and the logits')
    scoring_s: float  # forward passes (training, validation and scored sets) and SVDD scoring for each of them

    @property
    def total_s(self) -> float:
        return self.fit_s + self.scoring_s

    def describe(self) -> str:
        """One sentence, as the first-use notice says it: what will happen and about how long it takes."""
        return (f"The table fits an SVDD per class on each of {self.layers} layers and scores every set with each "
                f"(~{_duration(self.fit_s)} of fits, ~{_duration(self.scoring_s)} of forward passes and scoring on "
                f"this machine): about {_duration(self.total_s)} the first time, less for layers fitted before "
                "(cached on disk).")


def estimate_layer_table(experiment, layers, n_scored: int, steps: int = 1, sample: int = 500) -> LayerTableEstimate:
    """Estimate the Layers page's table from scratch from short timed runs (about a second or two).

    Each of ``layers`` (the :class:`~detector.method.features.LayerInfo` of the layers that need a detector
    of their own) costs what :func:`~detector.evaluation.experiment.fit_uniform` with that layer and then the
    scoring of every set cost: a forward pass of the training and validation splits and of the ``n_scored``
    images of the test and anomaly sets (that layer's features are new; each pass runs the whole network),
    one SVDD per class on the layer and one on the logits, and both SVDDs scoring the validation and scored
    images; the MDL's detector scores every set once more for the logit and confidence rows. Timed: a
    forward pass of a batch of validation images, one class's SVDD fitted at its real size on random
    features of each width (scikit-learn's fit grows faster than the class), and its scoring of ``sample``
    inputs (scaled linearly). On LeNet-MNIST (6 layers, 3,000 scored images, the 2 cores shared with a load
    of 14) it said 294 s for a table that took 325 s; the model it replaces left out the training and
    validation passes and the logits' SVDDs, and said half."""
    from ..runtime import model_device

    module = experiment.model.module
    size = getattr(experiment.extractor, "batch_size", 500)
    batch = torch.as_tensor(np.asarray(experiment.val.images[:size]), device=model_device(module))
    with torch.no_grad():
        forward_s = _seconds(lambda: module(batch), steps) / len(batch)
    n_classes = experiment.model.n_classes
    n_train, n_val = len(experiment.train.images), len(experiment.val.images)
    per_class = min(2000, max(1, n_train // n_classes))
    rng = np.random.default_rng(0)
    timed: dict[int, tuple[float, float]] = {}  # width -> (fit of every class, scoring of every scored input)

    def svdd_s(width: int) -> tuple[float, float]:
        if width not in timed:
            features, classes = rng.normal(size=(per_class, width)).astype(np.float32), np.zeros(per_class, int)
            svdd = ClassConditionalSVDD()
            fit = _seconds(lambda: svdd.fit(features, classes, 1), 1, warm_up=False) * n_classes
            probe = rng.normal(size=(sample, width)).astype(np.float32)
            score = _seconds(lambda: svdd.score_samples(probe, np.zeros(sample, int)), 1, warm_up=False)
            timed[width] = fit, score * (n_val + n_scored) / sample
        return timed[width]

    logits_fit, logits_score = svdd_s(n_classes)
    fit_s = scoring_s = 0.0
    for info in layers:
        layer_fit, layer_score = svdd_s(info.feature_dim)
        fit_s += layer_fit + logits_fit
        scoring_s += forward_s * (n_train + n_val + n_scored) + layer_score + logits_score
    return LayerTableEstimate(len(layers), fit_s, scoring_s + 2 * logits_score)


@dataclass(frozen=True)
class FitEstimate:
    """The steps of loading a model's default detector here: (kind, what it does, estimated seconds), the kind
    one of "features" (the MDL's and the logits', when the MDL is known), "fit" and "accuracy"."""

    steps: tuple[tuple[str, str, float], ...]

    @property
    def total_s(self) -> float:
        return sum(seconds for *_, seconds in self.steps)


def estimate_fit(experiment, plan, steps: int = 1) -> FitEstimate:
    """Estimate the steps of :func:`~detector.evaluation.experiment.fit_uniform` and the accuracy check
    given their ``plan`` (:func:`~detector.evaluation.experiment.fit_plan`), from short timed runs (about a
    second): a forward pass of a batch of validation images, and one class's SVDD on random features of the
    MDL's width and a class's size (scikit-learn's fit grows about as n^2, so the real size is timed)."""
    from ..method.features import LOGITS
    from ..runtime import model_device

    module = experiment.model.module
    size = experiment.extractor.batch_size  # the passes' own batches: per image, a smaller one cost 1.5x here
    batch = torch.as_tensor(np.asarray(experiment.val.images[:size]), device=model_device(module))
    with torch.no_grad():
        forward_s = _seconds(lambda: module(batch), steps) / len(batch)
    n_train, n_val, n_test = (len(split.images) for split in (experiment.train, experiment.val, experiment.test))
    accuracy = [] if plan.accuracy_known else [("accuracy", f"the test accuracy ({n_test:,} test images)",
                                                forward_s * n_test)]
    if plan.cached:
        return FitEstimate((("fit", "the fitted detector, read from the disk cache", 1.0), *accuracy))
    n_classes = experiment.model.n_classes
    per_class = min(2000, max(1, n_train // n_classes))
    layers = {info.name: info for info in experiment.extractor.valid_layers}
    svdd_s = {}
    rng = np.random.default_rng(0)
    for name, width in (("mdl", layers[plan.mdl].feature_dim if plan.mdl else 64), ("logits", n_classes)):
        features = rng.normal(size=(per_class, width)).astype(np.float32)
        svdd_s[name] = _seconds(lambda: ClassConditionalSVDD().fit(features, np.zeros(per_class, int), 1), 1,
                                warm_up=False) * n_classes
    if plan.mdl:
        found = [("features", f"features of {n_train:,} training and {n_val:,} validation images at {plan.mdl} (the "
                              f"MDL shipped with the network) and the {LOGITS}", forward_s * (n_train + n_val)),
                 ("fit", f"one SVDD per class on {plan.mdl} and on the {LOGITS}", sum(svdd_s.values()))]
    else:
        candidates = len(experiment.extractor.candidates()) - 1
        found = [("fit", f"features of {n_train + 2 * n_val:,} training, validation and mix images at every candidate "
                         f"layer, one SVDD per class on each of the {candidates} to choose the MDL, then on the {LOGITS}",
                  forward_s * (n_train + 2 * n_val) + svdd_s["mdl"] * candidates + svdd_s["logits"])]
    return FitEstimate((*found, *accuracy))
