"""Permutation specs, applying permutations and weight matching.

Weight matching is the coordinate-descent algorithm of Git Re-Basin (Ainsworth, Hayase, Srinivasa,
ICLR 2023, Algorithm 1): for one permutation at a time, holding the others fixed, the best permutation
of its units solves a linear assignment problem on the summed weight correlations of every axis it
touches. Rounds repeat in a seeded random order until no permutation improves.

A *spec* lists, for every entry of a state dict, which permutation acts on each of its axes. BatchNorm
running buffers are part of the spec, so a permuted model computes the same function in eval mode; they
are applied but never used as matching evidence (they are statistics, not weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

Perm = dict[str, torch.Tensor]  # permutation name -> LongTensor of unit indices
State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class PermutationSpec:
    """Which permutation acts on which axis of which state entry.

    axes: state key -> one permutation name (or None) per tensor axis. Keys absent from `axes`
        (e.g. `num_batches_tracked`) are never permuted.
    evidence_free: keys that are permuted but not used as matching evidence (BN running buffers).
    """

    axes: dict[str, tuple[str | None, ...]]
    evidence_free: frozenset[str] = field(default_factory=frozenset)

    @property
    def perm_to_axes(self) -> dict[str, list[tuple[str, int]]]:
        """Permutation name -> every (state key, axis) it acts on, in spec order."""
        out: dict[str, list[tuple[str, int]]] = {}
        for key, names in self.axes.items():
            for axis, name in enumerate(names):
                if name is not None:
                    out.setdefault(name, []).append((key, axis))
        return out

    def sizes(self, state: State) -> dict[str, int]:
        """Number of units of each permutation, read off `state`."""
        return {p: state[k].shape[ax] for p, ((k, ax), *_) in self.perm_to_axes.items()}


def mlp_spec(depth: int, batchnorm: bool = False, prefix: str = "layers") -> PermutationSpec:
    """Spec of `stardomain.models.MLP`: hidden layer i has units permuted by `P_i`.

    The MLP stores its blocks as `layers.{i}.linear` (+ `layers.{i}.bn`) and the classifier as `head`.
    """
    axes: dict[str, tuple[str | None, ...]] = {}
    buffers = set()
    for i in range(depth):
        here, below = f"P_{i}", (f"P_{i - 1}" if i > 0 else None)
        axes[f"{prefix}.{i}.linear.weight"] = (here, below)  # (out, in)
        axes[f"{prefix}.{i}.linear.bias"] = (here,)
        if batchnorm:
            for name in ("weight", "bias", "running_mean", "running_var"):
                axes[f"{prefix}.{i}.bn.{name}"] = (here,)
            buffers |= {f"{prefix}.{i}.bn.running_mean", f"{prefix}.{i}.bn.running_var"}
    last = f"P_{depth - 1}" if depth > 0 else None
    axes["head.weight"] = (None, last)
    axes["head.bias"] = (None,)
    return PermutationSpec(axes, frozenset(buffers))


def apply_permutation(spec: PermutationSpec, perm: Perm, state: State) -> State:
    """Return a new state with every spec'd axis re-indexed: `new.index_select(ax, perm[p])`."""
    out = {}
    for key, value in state.items():
        for axis, name in enumerate(spec.axes.get(key, ())):
            if name is not None:
                value = torch.index_select(value, axis, perm[name].to(value.device))
        out[key] = value
    return out


def identity_perm(spec: PermutationSpec, state: State) -> Perm:
    """The identity permutation for every group of `spec`."""
    return {p: torch.arange(n) for p, n in spec.sizes(state).items()}


def random_perm(spec: PermutationSpec, state: State, seed: int) -> Perm:
    """A uniformly random permutation of every group (for planted-permutation tests)."""
    gen = torch.Generator().manual_seed(seed)
    return {p: torch.randperm(n, generator=gen) for p, n in spec.sizes(state).items()}


def fraction_moved(perm: Perm) -> float:
    """Fraction of all hidden units (pooled over groups) that the permutation moves."""
    total = sum(len(p) for p in perm.values())
    moved = sum(int((p != torch.arange(len(p))).sum()) for p in perm.values())
    return moved / max(total, 1)


def _permuted_except(spec: PermutationSpec, perm: Perm, key: str, w: torch.Tensor, skip: int):
    """`w` with every spec'd axis permuted except axis `skip`."""
    for axis, name in enumerate(spec.axes[key]):
        if name is not None and axis != skip:
            w = torch.index_select(w, axis, perm[name].to(w.device))
    return w


def weight_matching(
    spec: PermutationSpec,
    target_state: State,
    source_state: State,
    seed: int,
    max_iter: int = 100,
    init_perm: Perm | None = None,
) -> Perm:
    """Find the permutation of `source_state` whose weights best match `target_state`.

    Returns perm such that `apply_permutation(spec, perm, source_state)` is aligned to the target.
    Cost matrices are computed on the tensors' device (float32/64 as stored); only the assignment
    runs on CPU. `init_perm` warm-starts the search (e.g. last epoch's permutation in Starlight).
    """
    # imported here: scipy.optimize costs ~1 s of start-up that training jobs need not pay
    from scipy.optimize import linear_sum_assignment

    groups = spec.perm_to_axes
    sizes = spec.sizes(source_state)
    if init_perm is None:
        perm = {p: torch.arange(n) for p, n in sizes.items()}
    else:
        perm = {p: init_perm[p].clone() for p in sizes}
    rng = np.random.default_rng(seed)
    names = sorted(groups)
    for _ in range(max_iter):
        improved = False
        for idx in rng.permutation(len(names)):
            p = names[idx]
            n = sizes[p]
            cost = None
            for key, axis in groups[p]:
                if key in spec.evidence_free:
                    continue
                w_t = target_state[key].detach()
                w_s = _permuted_except(spec, perm, key, source_state[key].detach(), axis)
                w_t = torch.movedim(w_t, axis, 0).reshape(n, -1)  # (units, rest)
                w_s = torch.movedim(w_s, axis, 0).reshape(n, -1).to(w_t)
                term = w_t @ w_s.T  # (units_target, units_source) correlation
                cost = term if cost is None else cost + term
            if cost is None:
                continue
            cost_np = cost.double().cpu().numpy()
            rows, cols = linear_sum_assignment(cost_np, maximize=True)
            old = cost_np[np.arange(n), perm[p].numpy()].sum()
            new = cost_np[rows, cols].sum()
            if new > old + 1e-12 * max(1.0, abs(old)):
                perm[p] = torch.as_tensor(cols, dtype=torch.long)
                improved = True
        if not improved:
            break
    return perm
