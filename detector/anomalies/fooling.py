"""Fooling images (the paper's NS-II anomaly set), after Nguyen et al. (2015).

Nguyen, Yosinski, Clune. Deep neural networks are easily fooled: high confidence
predictions for unrecognizable images. CVPR 2015, Sec. 3 (directly encoded EA).

Each image is the best individual of one population, started from clipped noise
and evolved until the model gives its target class the confidence target (99.99 %
for 28x28 models, 99.9 % for 32x32, as in the paper) or a generation limit is hit.
The algorithm is in :mod:`detector.anomalies.evolution`. Targets cycle over all classes
(image ``i`` -> ``i % n_classes``).

Settings, tuned on lenet-mnist for images per CPU-second (2026-11-25, 1,000 images):
model evaluations are the whole cost (~2,000 LeNet images per CPU-second). With the
authors' population of 50 an image reaching 99.99 % costs ~1,700 evaluations; with
20 (2 elites, 2 parents) ~1,000 and 90 % of the populations reach the target within
120 generations (every class but "1", which no setting we tried reaches); with 10,
~800 but class "9" is lost too (80 %). Mutations draw from the starting noise
(mostly black, like MNIST) rather than U(0, 1), so that ink can be removed as well
as added; with U(0, 1) far fewer images reach the target. Populations are grouped
ten at a time, one per class, and each new image competes for every class of its
group (all class probabilities come from one forward pass anyway) -- the "any
objective" idea of the MAP-Elites runs in Nguyen et al.; it saves ~10 % of the
evaluations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from ..cache import cached_arrays
from ..runtime import model_device, private_copy
from .evolution import evolve

#: Confidence target by input size (Sec. 4.1 of the paper).
CONFIDENCE = {28: 0.9999, 32: 0.999}


def default_confidence(input_shape: tuple[int, ...]) -> float:
    """0.9999 for 28x28 (and smaller) inputs, 0.999 for larger ones."""
    return CONFIDENCE[28] if int(input_shape[-1]) <= 28 else CONFIDENCE[32]


@dataclass
class FoolingSet:
    """Evolved fooling images.

    Attributes
    ----------
    images : np.ndarray
        float32 (n, C, H, W) in [0, 1]: the best individual of each population.
    target_class : np.ndarray
        int64 (n,): the class each image was evolved for.
    confidence : np.ndarray
        float32 (n,): the model's softmax probability of the target class.
    reached : np.ndarray
        bool (n,): whether the confidence target was reached.
    generations : np.ndarray
        int64 (n,): generations each population ran.
    seconds : float
        Generation time (of the original run when loaded from the cache).
    params : dict
        The EA settings used.
    cached : bool
        Whether this result was loaded from the cache.
    """

    images: np.ndarray
    target_class: np.ndarray
    confidence: np.ndarray
    reached: np.ndarray
    generations: np.ndarray
    seconds: float
    params: dict = field(default_factory=dict)
    cached: bool = False

    def __len__(self) -> int:
        return len(self.images)

    def confident_images(self) -> np.ndarray:
        """The images that reached the confidence target (the paper's NS-II set)."""
        return self.images[self.reached]

    def reached_per_class(self) -> dict[int, tuple[int, int]]:
        """``{class: (reached, total)}``."""
        return {int(c): (int(self.reached[self.target_class == c].sum()), int((self.target_class == c).sum()))
                for c in np.unique(self.target_class)}

    def summary(self) -> str:
        per_class = ", ".join(f"{c}: {r}/{t}" for c, r, t in
                              ((c, *rt) for c, rt in self.reached_per_class().items()))
        return (f"fooling: {int(self.reached.sum())}/{len(self)} reached {100 * self.params.get('confidence', 0):.2f} %"
                f" in {self.seconds:.1f} s (per class {per_class})")

    def to_arrays(self) -> dict[str, np.ndarray]:
        import json
        return {"images": self.images, "target_class": self.target_class, "confidence": self.confidence,
                "reached": self.reached, "generations": self.generations, "seconds": np.float64(self.seconds),
                "params": np.array(json.dumps(self.params, sort_keys=True))}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], cached: bool = False) -> "FoolingSet":
        import json
        return cls(images=arrays["images"].astype(np.float32), target_class=arrays["target_class"].astype(np.int64),
                   confidence=arrays["confidence"].astype(np.float32), reached=arrays["reached"].astype(bool),
                   generations=arrays["generations"].astype(np.int64), seconds=float(arrays["seconds"]),
                   params=json.loads(str(arrays["params"])), cached=cached)


def generate_fooling(model: nn.Module, n: int, input_shape: tuple[int, int, int], n_classes: int, *,
                     seed: int = 0, confidence: float | None = None, max_generations: int = 120,
                     population: int = 20, elite: float = 0.1, parent_fraction: float = 0.1,
                     mutation_rate: float = 0.02, mutation: str = "noise", noise_mean: float = -0.5,
                     noise_std: float = 1.0, share: bool = True, populations_at_once: int = 500,
                     forward_batch: int = 1024, progress: bool = True) -> FoolingSet:
    """Evolve ``n`` fooling images (Nguyen et al., CVPR 2015), targets spread over all classes.

    Parameters
    ----------
    model : torch.nn.Module
        Classifier on float (N, C, H, W) images in [0, 1] returning logits; CPU or GPU.
    n : int
        Number of images (one population each).
    input_shape : tuple of int
        ``(C, H, W)``.
    n_classes : int
        Number of classes; the target of image ``i`` is ``i % n_classes``.
    seed : int
        Seed of the torch generator: the same seed gives the same images.
    confidence : float, optional
        Target softmax probability; default 0.9999 for 28x28 inputs, 0.999 for 32x32.
    max_generations : int
        Generations after which a population stops even below the target.
    population : int
        Individuals per population (the authors used 50; 20 is ~1.7x cheaper per image).
    elite : float
        Fraction of each population kept unchanged every generation.
    parent_fraction : float
        Parents are drawn (binary tournament) from this fittest fraction.
    mutation_rate : float
        Probability that a child's pixel gets a fresh value.
    mutation : {"uniform", "noise"}
        Fresh values from U(0, 1), or from the starting clipped-noise distribution.
    noise_mean, noise_std : float
        Starting images: N(noise_mean, noise_std^2) per pixel, clipped to [0, 1]
        (the defaults leave ~70 % of the pixels black).
    share : bool
        Let each group of ``n_classes`` populations (one per class) offer its new
        images to all its classes (MAP-Elites-like, see :func:`evolve`).
    populations_at_once : int
        Populations evolved together (their children share forward passes);
        rounded up to a multiple of ``n_classes``.
    forward_batch : int
        Largest batch given to the model at once.
    progress : bool
        Show a tqdm bar over finished populations.

    Returns
    -------
    FoolingSet
    """
    from tqdm.auto import tqdm

    shape = tuple(int(s) for s in input_shape)
    goal = default_confidence(shape) if confidence is None else float(confidence)
    settings = {"population": population, "elite": elite, "parent_fraction": parent_fraction,
                "mutation_rate": mutation_rate, "mutation": mutation, "noise_mean": noise_mean,
                "noise_std": noise_std, "share": share}
    params = {"n": n, "input_shape": list(shape), "n_classes": n_classes, "seed": seed, "confidence": goal,
              "max_generations": max_generations, "populations_at_once": populations_at_once, **settings}
    device = model_device(model)
    generator = torch.Generator().manual_seed(seed)
    chunk = -(-populations_at_once // n_classes) * n_classes  # chunks start at class 0
    model = private_copy(model).eval()  # its own eval mode: the caller's model is not switched
    start = time.perf_counter()
    images, fitness, generations = [torch.zeros(0, int(np.prod(shape)))], [torch.zeros(0)], [torch.zeros(0, dtype=torch.long)]
    with tqdm(total=n, desc="fooling", unit="img", disable=not progress) as bar:
        for begin in range(0, n, chunk):
            best, best_fit, gens = evolve(
                model, min(chunk, n - begin), n_classes, shape, **settings, log_goal=float(np.log(goal)),
                max_generations=max_generations, generator=generator, device=device,
                forward_batch=forward_batch, on_done=bar.update)
            images.append(best.cpu())
            fitness.append(best_fit.cpu())
            generations.append(gens)
    prob = torch.cat(fitness).exp().numpy().astype(np.float32)
    return FoolingSet(images=torch.cat(images).reshape(n, *shape).numpy().astype(np.float32),
                      target_class=(np.arange(n) % n_classes).astype(np.int64), confidence=prob,
                      reached=prob >= np.float32(goal), generations=torch.cat(generations).numpy().astype(np.int64),
                      seconds=time.perf_counter() - start, params=params)


def cached_fooling(model: nn.Module, model_hash: str, n: int, input_shape: tuple[int, int, int], n_classes: int,
                   seed: int = 0, **kw) -> FoolingSet:
    """:func:`generate_fooling`, cached under ``cache/fooling/`` keyed by model hash and all EA settings.

    Parameters
    ----------
    model_hash : str
        The model's fingerprint (:attr:`ClassifierInfo.fingerprint`: weights and code).
    **kw
        Further keyword arguments of :func:`generate_fooling` (``progress`` is not part of the key).
    """
    import inspect

    defaults = {k: v.default for k, v in inspect.signature(generate_fooling).parameters.items()
                if v.default is not inspect.Parameter.empty}
    settings = {**defaults, **kw, "seed": seed}
    settings.pop("progress")
    if settings["confidence"] is None:
        settings["confidence"] = default_confidence(input_shape)
    key = {"kind": "fooling", "model": model_hash, "n": n, "input_shape": list(input_shape),
           "n_classes": n_classes, **settings}
    computed = []

    def compute() -> dict[str, np.ndarray]:
        result = generate_fooling(model, n, input_shape, n_classes, **{**kw, "seed": seed,
                                                                       "confidence": settings["confidence"]})
        computed.append(result)
        return result.to_arrays()

    arrays = cached_arrays("fooling", key, compute, code=__name__)
    return computed[0] if computed else FoolingSet.from_arrays(arrays, cached=True)
