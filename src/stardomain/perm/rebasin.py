"""Adapter to the `rebasin` 0.0.47 package (PyPI), the matcher the paper's authors used.

Offered for fidelity with the paper's numbers (`align.matcher: rebasin`, optional extra
`pip install 'stardomain[rebasin]'`). Known faults, measured (docs/alignment.md): it does
not permute BatchNorm running statistics (so, as the authors did, the caller re-estimates them on
training data afterwards), leaves some residual streams and all of DenseNet un-permuted, and is
slow on large Linear layers. It permutes a model in place rather than returning a permutation,
so the pipeline stores the permuted state; `units_moved` measures what it did in terms of a spec.
"""

from __future__ import annotations

import torch
from torch import nn

from stardomain.perm.spec import PermutationSpec, State


def rebasin_align(
    target: nn.Module, source: nn.Module, example: torch.Tensor, max_iter: int
) -> None:
    """Permute `source` in place onto `target` with rebasin's PermutationCoordinateDescent.

    example: an input batch on the models' device (rebasin traces the model with it).
    BN running statistics of `source` are left stale: re-estimate them afterwards.
    """
    try:
        from rebasin import PermutationCoordinateDescent
    except ImportError as err:
        raise ImportError(
            "align.matcher: 'rebasin' needs the optional package rebasin==0.0.47; "
            "install it with: pip install 'stardomain[rebasin]'"
        ) from err
    target.eval()
    source.eval()
    with torch.no_grad():
        PermutationCoordinateDescent(target, source, example).rebasin(max_iterations=max_iter)


def units_moved(spec: PermutationSpec, before: State, after: State) -> float:
    """Fraction of the spec's units (pooled) whose weights changed position from before to after.

    A unit counts as moved when its slice of the first evidence tensor of its permutation differs.
    """
    moved = total = 0
    for terms in spec.terms(before).values():
        evidence = [t for t in terms if t[0] not in spec.evidence_free]
        if not evidence:
            continue
        key, axis, offset, units, inner = evidence[0]
        rows = []
        for state in (before, after):
            seg = torch.narrow(state[key].detach().cpu(), axis, offset, units * inner)
            rows.append(torch.movedim(seg, axis, 0).reshape(units, -1))
        moved += int((rows[0] != rows[1]).any(dim=1).sum())
        total += units
    return moved / max(total, 1)
