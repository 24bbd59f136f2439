"""The evolutionary algorithm behind the fooling images (:mod:`detector.anomalies.fooling`), after
Nguyen et al. (CVPR 2015, Sec. 3, directly encoded EA).

One generation: the elite stays unchanged, children come from one-point crossover of two parents
(binary tournament among the fittest) on the flattened image, then each pixel is mutated with a small
probability; fitness is the softmax probability of the target class.

The EA is hand-written because no maintained library evolves images against a torch model; it is
vectorised so that many populations share each forward pass: a tensor of shape
(populations, individuals, pixels).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn


def log_probs(model: nn.Module, x: torch.Tensor, shape, chunk: int) -> torch.Tensor:
    """log softmax of all classes for flattened images ``x`` (..., D) -> (..., classes)."""
    lead = x.shape[:-1]
    # channels_last inputs take PyTorch's faster CPU convolution path (~1.5x for LeNet).
    flat = x.reshape(-1, *shape).contiguous(memory_format=torch.channels_last)
    out = torch.cat([torch.log_softmax(model(flat[i:i + chunk]).float(), dim=1) for i in range(0, len(flat), chunk)])
    return out.reshape(*lead, out.shape[-1])


@torch.no_grad()
def evolve(model, n_pop, n_classes, shape, *, population, elite, mutation_rate, mutation, parent_fraction,
           noise_mean, noise_std, share, log_goal, max_generations, generator, device, forward_batch, on_done):
    """Evolve populations for targets ``arange(n_pop) % n_classes``.

    Populations come in groups of ``n_classes`` (one per class). With ``share``,
    every new image of a group competes for every class of the group: each forward
    pass gives all class probabilities anyway, and, as in the MAP-Elites runs of
    Nguyen et al., an image that is poor for its own target may be the best yet for
    another. Groups never exchange images, so images of different groups are
    independent runs.
    """
    n_groups = -(-n_pop // n_classes)
    n_all, d = n_groups * n_classes, int(np.prod(shape))
    n_elite = max(1, int(round(elite * population)))
    n_child = population - n_elite
    n_parents = max(2, int(round(parent_fraction * population)))
    targets = (torch.arange(n_all) % n_classes).to(device)
    active = torch.arange(n_all, device=device) < n_pop  # padding populations never run

    def rand(*size):
        return torch.rand(*size, generator=generator).to(device)

    def noise(*size):  # clipped Gaussian noise, the starting images
        return (noise_mean + noise_std * torch.randn(*size, generator=generator)).clamp(0, 1).to(device)

    def select(images, log_p, keep):
        """Per population, the ``keep`` fittest of ``images`` (P, K, d) for its target."""
        if share:  # candidates: all new images of the population's group
            pool, pool_log_p = images.reshape(n_groups, -1, d), log_p.reshape(n_groups, -1, n_classes)
            fit, order = pool_log_p.transpose(1, 2).topk(keep, dim=2)  # (groups, classes, keep)
            chosen = pool.gather(1, order.reshape(n_groups, -1, 1).expand(-1, -1, d))
            return chosen.reshape(n_all, keep, d), fit.reshape(n_all, keep)
        fit = log_p.gather(2, targets[:, None, None].expand(-1, log_p.shape[1], 1))[:, :, 0]
        fit, order = fit.topk(keep, dim=1)
        return images.gather(1, order[:, :, None].expand(-1, -1, d)), fit

    pop = noise(n_all, population, d)
    pop, fit = select(pop, log_probs(model, pop, shape, forward_batch), population)
    generations = torch.zeros(n_all, dtype=torch.long)
    for gen in range(max_generations + 1):
        # Populations are sorted (fittest first); retire those that reached the goal.
        generations[active.cpu()] = gen
        done = active & ((fit[:, 0] >= log_goal) | (gen == max_generations))
        if done.any():
            on_done(int(done.sum()))
            active &= ~done
        if not active.any():
            break
        live = active.nonzero()[:, 0]
        m, parents = len(live), pop[live]

        # Parents by binary tournament among the fittest ``n_parents``.
        def pick():
            return (rand(m, n_child, 2) * n_parents).long().clamp_max(n_parents - 1).min(dim=2)[0]

        a = parents.gather(1, pick()[:, :, None].expand(-1, -1, d))
        b = parents.gather(1, pick()[:, :, None].expand(-1, -1, d))
        # One-point crossover on the flattened image, then per-pixel mutation.
        cut = (rand(m, n_child, 1) * d).long()
        children = torch.where(torch.arange(d, device=device) < cut, a, b)
        fresh = rand(m, n_child, d) if mutation == "uniform" else noise(m, n_child, d)
        children = torch.where(rand(m, n_child, d) < mutation_rate, fresh, children)

        # Score the live children; retired populations offer none (-inf).
        new = torch.zeros(n_all, n_child, d, device=device)
        new_log_p = torch.full((n_all, n_child, n_classes), -float("inf"), device=device)
        new[live], new_log_p[live] = children, log_probs(model, children, shape, forward_batch)
        chosen, chosen_fit = select(new, new_log_p, n_child)
        # Elites stay; the rest of each population is replaced by the chosen children.
        next_fit, order = torch.cat([fit[:, :n_elite], chosen_fit], dim=1).sort(dim=1, descending=True)
        next_pop = torch.cat([pop[:, :n_elite], chosen], dim=1).gather(1, order[:, :, None].expand(-1, -1, d))
        # Retired populations keep their final state.
        pop = torch.where(active[:, None, None], next_pop, pop)
        fit = torch.where(active[:, None], next_fit, fit)
    return pop[:n_pop, 0], fit[:n_pop, 0], generations[:n_pop]
