"""Permutation specs: which permutation acts on which axis of which state entry, and applying them.

A *spec* (Ainsworth, Hayase, Srinivasa, "Git Re-Basin", ICLR 2023, Sec. 3) lists, for every entry of
a state dict, the permutation acting on each of its axes. Two generalisations cover the paper's
architectures:

- An axis may be a *layout*: a sequence of segments `(perm name | None, units, inner)`, each
  `units * inner` entries long with the unit index outermost. Concatenation gives several segments
  (DenseNet: every concatenated block keeps its producer's permutation); flattening a conv feature
  map before a Linear gives `inner = H * W` (VGG classifier: a channel moves with all its pixels).
- A permutation may be *head-structured* (`heads`): it moves whole attention heads (blocks of
  `head_dim` units), by a head permutation shared with every other member of the same head group,
  and permutes units freely within each head (q/k and v/out-projection units of one attention).

BatchNorm running buffers are part of the spec, so a permuted model computes the same function in
eval mode; they are applied but never used as matching evidence (they are statistics, not weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

Perm = dict[str, torch.Tensor]  # permutation name -> LongTensor of unit indices
State = dict[str, torch.Tensor]
Segment = tuple[str | None, int, int]  # (permutation name or None, units, inner entries per unit)
Axis = str | None | tuple[Segment, ...]


@dataclass(frozen=True)
class PermutationSpec:
    """Which permutation acts on which axis of which state entry.

    axes: state key -> one entry per tensor axis: a permutation name, None, or a layout (tuple of
        segments). Keys absent from `axes` (e.g. `num_batches_tracked`) are never permuted.
    evidence_free: keys that are permuted but not used as matching evidence (BN running buffers).
    heads: permutation name -> (head group, head_dim) for head-structured permutations.
    """

    axes: dict[str, tuple[Axis, ...]]
    evidence_free: frozenset[str] = field(default_factory=frozenset)
    heads: dict[str, tuple[str, int]] = field(default_factory=dict)

    def layout(self, key: str, axis: int, size: int) -> tuple[Segment, ...]:
        """Axis `axis` of `key` (of length `size`) as a tuple of segments."""
        entry = self.axes[key][axis]
        if entry is None or isinstance(entry, str):
            return ((entry, size, 1),)
        return entry

    def terms(self, state: State) -> dict[str, list[tuple[str, int, int, int, int]]]:
        """Permutation name -> every (key, axis, offset, units, inner) it acts on, in spec order."""
        out: dict[str, list[tuple[str, int, int, int, int]]] = {}
        for key, entries in self.axes.items():
            for axis in range(len(entries)):
                offset = 0
                for name, units, inner in self.layout(key, axis, state[key].shape[axis]):
                    if name is not None:
                        out.setdefault(name, []).append((key, axis, offset, units, inner))
                    offset += units * inner
        return out

    def sizes(self, state: State) -> dict[str, int]:
        """Number of units of each permutation, read off the spec and `state`."""
        return {p: terms[0][3] for p, terms in self.terms(state).items()}


def axis_index(layout: tuple[Segment, ...], perm: Perm, device: torch.device) -> torch.Tensor:
    """Index vector along an axis laid out as `layout`: `new = old.index_select(axis, index)`."""
    parts, offset = [], 0
    for name, units, inner in layout:
        base = perm[name].to(device) if name is not None else torch.arange(units, device=device)
        within = torch.arange(inner, device=device)
        parts.append(offset + (base[:, None] * inner + within[None, :]).reshape(-1))
        offset += units * inner
    return torch.cat(parts)


def permute_axes(
    spec: PermutationSpec, perm: Perm, key: str, value: torch.Tensor, skip: int = -1
) -> torch.Tensor:
    """`value` (the state entry `key`) with every spec'd axis re-indexed, except axis `skip`."""
    for axis, entry in enumerate(spec.axes.get(key, ())):
        if axis == skip or entry is None:
            continue
        if isinstance(entry, str):
            index = perm[entry].to(value.device)
        else:
            if all(name is None for name, _, _ in entry):
                continue
            index = axis_index(entry, perm, value.device)
        value = torch.index_select(value, axis, index)
    return value


def apply_permutation(spec: PermutationSpec, perm: Perm, state: State) -> State:
    """Return a new state with every spec'd axis re-indexed: `new.index_select(ax, perm[p])`."""
    return {key: permute_axes(spec, perm, key, value) for key, value in state.items()}


def identity_perm(spec: PermutationSpec, state: State) -> Perm:
    """The identity permutation for every group of `spec`."""
    return {p: torch.arange(n) for p, n in spec.sizes(state).items()}


def random_perm(spec: PermutationSpec, state: State, seed: int) -> Perm:
    """A uniformly random permutation of every group (for planted-permutation tests).

    Head-structured groups get one random head permutation per head group and an independent random
    permutation within every head of every member.
    """
    gen = torch.Generator().manual_seed(seed)
    sizes = spec.sizes(state)
    head_perms: dict[str, torch.Tensor] = {}
    out = {}
    for p in sorted(sizes):
        if p not in spec.heads:
            out[p] = torch.randperm(sizes[p], generator=gen)
            continue
        group, head_dim = spec.heads[p]
        n_heads = sizes[p] // head_dim
        if group not in head_perms:
            head_perms[group] = torch.randperm(n_heads, generator=gen)
        within = torch.stack([torch.randperm(head_dim, generator=gen) for _ in range(n_heads)])
        out[p] = (head_perms[group][:, None] * head_dim + within).reshape(-1)
    return out


def inverse_perm(perm: Perm) -> Perm:
    """The inverse of every group: applying `perm` then `inverse_perm(perm)` is the identity."""
    return {p: torch.argsort(v) for p, v in perm.items()}


def fraction_moved(perm: Perm) -> float:
    """Fraction of all hidden units (pooled over groups) that the permutation moves."""
    total = sum(len(p) for p in perm.values())
    moved = sum(int((p.cpu() != torch.arange(len(p))).sum()) for p in perm.values())
    return moved / max(total, 1)


def mlp_spec(depth: int, batchnorm: bool = False, prefix: str = "layers") -> PermutationSpec:
    """Spec of `stardomain.models.MLP`: hidden layer i has units permuted by `P_i`.

    The MLP stores its blocks as `layers.{i}.linear` (+ `layers.{i}.bn`) and the classifier as `head`.
    """
    axes: dict[str, tuple[Axis, ...]] = {}
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
