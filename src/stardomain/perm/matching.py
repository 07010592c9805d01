"""Weight matching: the coordinate-descent matcher of Git Re-Basin (Ainsworth et al., ICLR 2023, Alg. 1).

For one permutation at a time, holding the others fixed, the best permutation of its units solves a
linear assignment problem on the summed weight correlations of every axis it touches. Rounds repeat
in a seeded random order until no permutation improves.

Head-structured permutations (attention, see `stardomain.perm.spec`) are solved jointly per head
group: for every pair (target head i, source head j) the best within-head assignment of each member
is a small assignment problem; the head permutation then maximises the summed pair scores. This is
the exact optimum of the group given the other permutations, so the descent still never gets worse.

Speed: correlation matrices are computed on the tensors' device (the training device in Starlight);
only the assignment itself runs on CPU (scipy). Warm starts (`init_perm`) make per-epoch re-alignment
in Starlight cheap: the star moves little in one epoch, so one or two rounds confirm the old perm.
"""

from __future__ import annotations

import numpy as np
import torch

from stardomain.perm.spec import Perm, PermutationSpec, State, permute_axes


def _unit_rows(w: torch.Tensor, axis: int, offset: int, units: int, inner: int) -> torch.Tensor:
    """The `units` of one segment of `w` along `axis` as rows: (units, everything else)."""
    seg = torch.narrow(w, axis, offset, units * inner)
    seg = torch.movedim(seg, axis, 0)  # (units * inner, rest...)
    return seg.reshape(units, -1)  # unit-major: a unit's inner entries stay together


def _signature(spec: PermutationSpec, w: torch.Tensor, term: tuple) -> torch.Tensor:
    """Rows of one term that no permutation of the tensor's other axes can change: (units, stats).

    Sum, sum of squares, max and min over every permuted other axis, per position of the
    unpermuted ones (e.g. kernel taps). Used while a neighbouring permutation is still unsolved.
    """
    key, axis, offset, units, inner = term
    seg = torch.movedim(torch.narrow(w, axis, offset, units * inner), axis, 0)
    seg = seg.reshape(units, inner, *seg.shape[1:])  # (units, inner, other axes...)
    others = [a for a in range(w.dim()) if a != axis]
    dims = [2 + j for j, a in enumerate(others) if spec.axes[key][a] is not None]
    if not dims:
        return seg.reshape(units, -1)
    stats = (seg.sum(dims), seg.square().sum(dims), seg.amax(dims), seg.amin(dims))
    return torch.stack(stats, 1).reshape(units, -1)


def _names(entry) -> set[str]:
    if entry is None:
        return set()
    if isinstance(entry, str):
        return {entry}
    return {name for name, _, _ in entry if name is not None}


def _assign(cost: np.ndarray) -> tuple[np.ndarray, float]:
    """Column assigned to each row maximising the total, and that total."""
    # imported here: scipy.optimize costs ~1 s of start-up that training jobs need not pay
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost, maximize=True)
    return cols[np.argsort(rows)], float(cost[rows, cols].sum())


def _solve_heads(costs: list[np.ndarray], head_dim: int) -> list[np.ndarray]:
    """Joint optimum of head-structured members sharing one head permutation.

    costs: one (units, units) correlation per member, units = heads * head_dim.
    Returns one unit assignment per member (target unit -> source unit).
    """
    n_heads = costs[0].shape[0] // head_dim
    blocks = [c.reshape(n_heads, head_dim, n_heads, head_dim) for c in costs]
    score = np.zeros((n_heads, n_heads))
    within = [[[None] * n_heads for _ in range(n_heads)] for _ in costs]
    for m, block in enumerate(blocks):
        for i in range(n_heads):
            for j in range(n_heads):
                within[m][i][j], value = _assign(block[i, :, j, :])
                score[i, j] += value
    heads, _ = _assign(score)
    return [
        np.concatenate([heads[i] * head_dim + within[m][i][heads[i]] for i in range(n_heads)])
        for m in range(len(costs))
    ]


class _Problem:
    """The state of one matching: the source permuted by the current perm, and cached terms.

    `moved` holds the source permuted by the current `perm`, so a permutation's cost is its
    correlation in the current basis and an update re-indexes only the tensors it touches. Each
    term's (units x units) correlation is cached with the versions of the other axes of its
    tensor (re-ordering units on its own axis, even in another segment, leaves it unchanged):
    re-solving a permutation after one neighbour changed recomputes only what that neighbour
    touched. DenseNet's concatenations share tensors along one axis, so this matters there.
    """

    def __init__(self, spec: PermutationSpec, target: State, source: State, perm: Perm):
        self.spec, self.perm = spec, perm
        self.terms = {
            p: [t for t in ts if t[0] not in spec.evidence_free]
            for p, ts in spec.terms(source).items()
        }
        keys = {t[0] for ts in self.terms.values() for t in ts}
        self.moved = {k: permute_axes(spec, perm, k, source[k].detach()) for k in keys}
        self.source = {k: source[k].detach() for k in keys}
        self.target = {k: target[k].detach().to(self.moved[k]) for k in keys}
        self.version = {(k, a): 0 for k in keys for a in range(self.moved[k].dim())}
        self.cache: dict[tuple, tuple[tuple, torch.Tensor]] = {}
        self.signatures: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def cost(self, p: str, solved: set[str]) -> np.ndarray:
        """(target units, current source units) correlation of permutation `p` over its terms."""
        cost = 0.0
        for term in self.terms[p]:
            key, axis = term[:2]
            entries = self.spec.axes[key]
            others = {n for a, e in enumerate(entries) if a != axis for n in _names(e)}
            if others <= solved:
                deps = tuple(self.version[(key, a)] for a in range(len(entries)) if a != axis)
                version, value = self.cache.get((p, term), (None, None))
                if version != deps:
                    rows_t = _unit_rows(self.target[key], *term[1:])
                    value = rows_t @ _unit_rows(self.moved[key], *term[1:]).T
                    self.cache[(p, term)] = (deps, value)
            else:  # signatures are computed once; the current source order is a row gather
                if term not in self.signatures:
                    self.signatures[term] = tuple(
                        _signature(self.spec, state[key], term)
                        for state in (self.target, self.source)
                    )
                rows_t, rows_s = self.signatures[term]
                value = rows_t @ rows_s[self.perm[p].to(rows_s.device)].T
            cost = cost + value
        return cost.double().cpu().numpy()

    def update(self, p: str, step: torch.Tensor) -> None:
        """Compose `step` (target unit -> current source unit) into perm[p]; re-index the source."""
        self.perm[p] = self.perm[p][step]
        for term in self.terms[p]:
            key, axis, offset, units, inner = term
            index = _segment_index(self.moved[key].shape[axis], offset, units, inner, step)
            self.moved[key] = torch.index_select(self.moved[key], axis, index)
            self.version[(key, axis)] += 1
            if (p, term) in self.cache:  # p's own term: its columns follow the new order
                deps, value = self.cache[(p, term)]
                self.cache[(p, term)] = (deps, value[:, step])

    def affected(self, members: list[str]) -> set[tuple[str, int]]:
        """(tensor, axis) pairs whose correlations change when `members` are re-ordered."""
        moved_axes = {(t[0], t[1]) for p in members for t in self.terms[p]}
        return {
            (key, a) for key, axis in moved_axes for a in range(self.moved[key].dim()) if a != axis
        }


def weight_matching(
    spec: PermutationSpec,
    target_state: State,
    source_state: State,
    seed: int,
    max_iter: int = 100,
    init_perm: Perm | None = None,
) -> Perm:
    """Find the permutation of `source_state` whose weights best match `target_state`.

    Returns perm (name -> CPU LongTensor) such that `apply_permutation(spec, perm, source_state)`
    is aligned to the target. `init_perm` warm-starts the search (e.g. last epoch's permutation in
    Starlight); `seed` fixes the order in which permutations are visited; `max_iter` bounds the
    rounds over all permutations.
    """
    sizes = spec.sizes(source_state)
    device = next(iter(source_state.values())).device
    start = init_perm if init_perm is not None else {p: torch.arange(n) for p, n in sizes.items()}
    problem = _Problem(spec, target_state, source_state, {p: start[p].to(device) for p in sizes})
    # a unit of work is one permutation, or one head group solved jointly
    work: dict[str, list[str]] = {}
    for p in sorted(sizes):
        if problem.terms[p]:
            work.setdefault(spec.heads[p][0] if p in spec.heads else p, []).append(p)
    reads = {w: {(t[0], t[1]) for p in ps for t in problem.terms[p]} for w, ps in work.items()}
    affects = {
        w: {v for v in work if reads[v] & problem.affected(ps)} - {w} for w, ps in work.items()
    }
    names = sorted(work)
    dirty = set(names)  # whose cost may have changed since it was last solved
    # Before a neighbour is solved its axes are in arbitrary order: compare signatures that are
    # invariant to that order instead, so the first round is not misled by unsolved neighbours.
    solved = set(sizes) if init_perm is not None else set()
    rng = np.random.default_rng(seed)
    for _ in range(max_iter):
        if not dirty:
            break
        for idx in rng.permutation(len(names)):
            name = names[idx]
            if name not in dirty:
                continue
            dirty.discard(name)
            members = work[name]
            costs = [problem.cost(p, solved) for p in members]
            if members[0] in spec.heads:
                cols = _solve_heads(costs, spec.heads[members[0]][1])
            else:
                cols = [_assign(costs[0])[0]]
            old = sum(float(np.trace(c)) for c in costs)
            new = sum(
                float(c[np.arange(len(c)), k].sum()) for c, k in zip(costs, cols, strict=True)
            )
            first = not set(members) <= solved
            solved |= set(members)
            if new > old + 1e-7 * max(1.0, abs(old)):  # float32 costs: smaller gains are noise
                for p, k in zip(members, cols, strict=True):
                    problem.update(p, torch.as_tensor(k, dtype=torch.long, device=device))
            elif not first:
                continue
            dirty |= affects[name]
    return {p: v.cpu() for p, v in problem.perm.items()}


def _segment_index(
    size: int, offset: int, units: int, inner: int, step: torch.Tensor
) -> torch.Tensor:
    """Index along an axis of length `size` that re-orders one segment's units by `step`."""
    index = torch.arange(size, device=step.device)
    within = torch.arange(inner, device=step.device)
    index[offset : offset + units * inner] = offset + (step[:, None] * inner + within).reshape(-1)
    return index
