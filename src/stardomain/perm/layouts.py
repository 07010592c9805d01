"""Bookkeeping of the tracer (`stardomain.perm.trace`): unit spaces, union-find, feature layouts.

A *space* is a set of units that one permutation moves together (an id). A *layout* describes a
tensor's feature axis as segments `(space, units, inner)`: `units * inner` entries, unit-major.
Space 0 is FIXED: units merged with it are never permuted (network input and output, and whatever
the tracer does not understand).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.fx as fx

FIXED = 0
Layout = tuple[tuple[int, int, int], ...]  # ((space, units, inner), ...)


@dataclass(frozen=True)
class TracedFeat:
    """A tensor whose axis `dim` (may be negative) is laid out as `layout`.

    `layout=None` marks an *opaque* tensor: its units are fixed in an unknown way, so anything
    combined with it is fixed too. `within` is set on tensors whose features were split into
    attention heads: axis `dim` then indexes heads and axis `within` the units inside a head.
    """

    dim: int | None
    layout: Layout | None
    within: int | None = None

    @property
    def opaque(self) -> bool:
        return self.layout is None


OPAQUE = TracedFeat(None, None)


class Unions:
    """Union-find over spaces; the smallest id is the root, so FIXED absorbs and names are stable."""

    def __init__(self, prefix: str = "P"):
        self.prefix = prefix  # names: P_ for unit permutations, H_ for head groups
        self.parent = [FIXED]
        self.units: list[int | None] = [None]
        self.hint = ["fixed"]

    def new(self, units: int, hint: str) -> int:
        self.parent.append(len(self.parent))
        self.units.append(units)
        self.hint.append(hint)
        return len(self.parent) - 1

    def find(self, s: int) -> int:
        root = s
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[s] != root:  # path compression
            self.parent[s], s = root, self.parent[s]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if FIXED not in (ra, rb) and self.units[ra] != self.units[rb]:
            # spaces of different sizes cannot share a permutation: fix both
            self.parent[ra] = self.parent[rb] = FIXED
            return
        lo, hi = min(ra, rb), max(ra, rb)
        self.parent[hi] = lo

    def fix_layout(self, layout: Layout | None) -> None:
        for space, _, _ in layout or ():
            self.union(space, FIXED)

    def merge_layouts(self, a: Layout, b: Layout) -> bool:
        """Merge two layouts segment by segment; if their segments differ, fix both (False)."""
        if [(u, i) for _, u, i in a] != [(u, i) for _, u, i in b]:
            self.fix_layout(a)
            self.fix_layout(b)
            return False
        for (sa, _, _), (sb, _, _) in zip(a, b, strict=True):
            self.union(sa, sb)
        return True

    def names(self) -> dict[int, str]:
        """Name of every free root: `<prefix>_<hint of the space that created it>`."""
        roots = sorted({self.find(s) for s in range(1, len(self.parent))} - {FIXED})
        return {r: f"{self.prefix}_{self.hint[r]}" for r in roots}


def shape_of(node) -> tuple[int, ...] | None:
    """Output shape of a traced node (None for non-tensors and tuples)."""
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None
