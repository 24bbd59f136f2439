"""Fooling images (the paper's NS-II anomaly set), after Nguyen et al. (2015).

Nguyen, Yosinski, Clune. Deep neural networks are easily fooled: high confidence
predictions for unrecognizable images. CVPR 2015, Sec. 3 (directly encoded EA).

Each target class gets a population of images, started from clipped noise and
evolved until the model gives the target class the confidence target (99.99 % for
28x28 models, 99.9 % for 32x32, as in the paper). One generation: keep the top
10 % unchanged (elitism), fill the rest with one-point crossover of two parents
picked by binary tournament, then mutate each pixel of a child to U(0, 1) with a
small probability; fitness is the softmax probability of the target class.

The EA is hand-written because no maintained library evolves images against a
torch model; it is vectorised so that *many populations* (one per target) share
each forward pass: a tensor of shape (populations, individuals, pixels).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from detector.cache import cached_arrays

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


def _target_log_prob(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, shape, chunk: int) -> torch.Tensor:
    """log softmax probability of ``targets`` for flattened images ``x`` (P, K, D) -> (P, K)."""
    p, k, d = x.shape
    flat = x.reshape(p * k, *shape)
    out = torch.cat([torch.log_softmax(model(flat[i:i + chunk]), dim=1) for i in range(0, len(flat), chunk)])
    return out.gather(1, targets.repeat_interleave(k)[:, None]).reshape(p, k)


@torch.no_grad()
def _evolve(model, targets, shape, *, population, elite, mutation_rate, noise_std, log_goal,
            max_generations, generator, device, forward_batch, on_done):
    """Evolve one population per entry of ``targets`` (a LongTensor on ``device``)."""
    n_pop, d = len(targets), int(np.prod(shape))
    n_elite = max(1, int(round(elite * population)))
    n_child = population - n_elite

    def rand(*size):
        return torch.rand(*size, generator=generator).to(device)

    # Clipped Gaussian noise around mid-grey, as the authors' starting images.
    pop = (0.5 + noise_std * torch.randn(n_pop, population, d, generator=generator)).clamp(0, 1).to(device)
    fit = _target_log_prob(model, pop, targets, shape, forward_batch)
    best = torch.zeros(n_pop, d, device=device)
    best_fit = torch.full((n_pop,), -float("inf"), device=device)
    generations = torch.zeros(n_pop, dtype=torch.long)
    active = torch.arange(n_pop, device=device)

    for gen in range(max_generations + 1):
        # Record each population's best, retire those that reached the goal.
        order = fit.argsort(dim=1, descending=True)
        pop = pop.gather(1, order[:, :, None].expand(-1, -1, d))
        fit = fit.gather(1, order)
        best[active], best_fit[active] = pop[:, 0], fit[:, 0]
        generations[active.cpu()] = gen
        done = (fit[:, 0] >= log_goal) if gen < max_generations else torch.ones_like(fit[:, 0], dtype=torch.bool)
        if done.any():
            on_done(int(done.sum()))
            keep = ~done
            active, pop, fit = active[keep], pop[keep], fit[keep]
        if len(active) == 0:
            break
        m = len(active)

        # Parents by binary tournament (population is sorted: lower index = fitter).
        pick = lambda: torch.min(  # noqa: E731
            (rand(m, n_child, 2) * population).long().clamp_max(population - 1), dim=2)[0]
        mother, father = pick(), pick()
        a = pop.gather(1, mother[:, :, None].expand(-1, -1, d))
        b = pop.gather(1, father[:, :, None].expand(-1, -1, d))
        # One-point crossover on the flattened image.
        cut = (rand(m, n_child, 1) * d).long()
        children = torch.where(torch.arange(d, device=device) < cut, a, b)
        # Per-pixel mutation to a fresh uniform value.
        mutate = rand(m, n_child, d) < mutation_rate
        children = torch.where(mutate, rand(m, n_child, d), children)
        del a, b, mutate

        child_fit = _target_log_prob(model, children, targets[active], shape, forward_batch)
        pop = torch.cat([pop[:, :n_elite], children], dim=1)
        fit = torch.cat([fit[:, :n_elite], child_fit], dim=1)
    return best, best_fit, generations


def generate_fooling(model: nn.Module, n: int, input_shape: tuple[int, int, int], n_classes: int, *,
                     seed: int = 0, confidence: float | None = None, max_generations: int = 200,
                     population: int = 50, elite: float = 0.1, mutation_rate: float = 0.005,
                     noise_std: float = 0.5, populations_at_once: int = 200, forward_batch: int = 10000,
                     progress: bool = True) -> FoolingSet:
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
        Number of classes; target of image ``i`` is ``i % n_classes``.
    seed : int
        Seed of the torch generator: the same seed gives the same images.
    confidence : float, optional
        Target softmax probability; default 0.9999 for 28x28 inputs, 0.999 for 32x32.
    max_generations : int
        Generations after which a population stops even below the target.
    population : int
        Individuals per population (50 in the paper's code).
    elite : float
        Fraction of each population kept unchanged every generation.
    mutation_rate : float
        Probability that a child's pixel is replaced by a U(0, 1) value.
    noise_std : float
        Standard deviation of the starting noise around 0.5 (clipped to [0, 1]).
    populations_at_once : int
        Populations evolved together (their children share forward passes).
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
    params = {"n": n, "input_shape": list(shape), "n_classes": n_classes, "seed": seed, "confidence": goal,
              "max_generations": max_generations, "population": population, "elite": elite,
              "mutation_rate": mutation_rate, "noise_std": noise_std, "populations_at_once": populations_at_once}
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    targets = torch.arange(n) % n_classes
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    images, fitness, generations = [], [], []
    try:
        with tqdm(total=n, desc="fooling", unit="img", disable=not progress) as bar:
            for begin in range(0, n, populations_at_once):
                best, best_fit, gens = _evolve(
                    model, targets[begin:begin + populations_at_once].to(device), shape,
                    population=population, elite=elite, mutation_rate=mutation_rate, noise_std=noise_std,
                    log_goal=float(np.log(goal)), max_generations=max_generations, generator=generator,
                    device=device, forward_batch=forward_batch, on_done=bar.update)
                images.append(best.cpu())
                fitness.append(best_fit.cpu())
                generations.append(gens)
    finally:
        model.train(was_training)
    images = torch.cat(images).reshape(n, *shape).numpy().astype(np.float32) if n else np.zeros((0, *shape), np.float32)
    prob = torch.cat(fitness).exp().numpy().astype(np.float32) if n else np.zeros(0, np.float32)
    return FoolingSet(images=images, target_class=targets.numpy().astype(np.int64), confidence=prob,
                      reached=prob >= np.float32(goal) if n else np.zeros(0, bool),
                      generations=torch.cat(generations).numpy() if n else np.zeros(0, np.int64),
                      seconds=time.perf_counter() - start, params=params)


def cached_fooling(model: nn.Module, model_hash: str, n: int, input_shape: tuple[int, int, int], n_classes: int,
                   seed: int = 0, **kw) -> FoolingSet:
    """:func:`generate_fooling`, cached under ``cache/fooling/`` keyed by model hash and all EA settings.

    Parameters
    ----------
    model_hash : str
        Hash of the model weights.
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
    key = {"kind": "fooling", "version": 1, "model": model_hash, "n": n, "input_shape": list(input_shape),
           "n_classes": n_classes, **settings}
    computed = []

    def compute() -> dict[str, np.ndarray]:
        result = generate_fooling(model, n, input_shape, n_classes, **{**kw, "seed": seed,
                                                                       "confidence": settings["confidence"]})
        computed.append(result)
        return result.to_arrays()

    arrays = cached_arrays("fooling", key, compute)
    return computed[0] if computed else FoolingSet.from_arrays(arrays, cached=True)
