"""Permutation alignment: specs (by hand or traced), applying permutations, matchers.

- `spec`: PermutationSpec, apply_permutation, random/identity/inverse perms, the MLP's hand spec.
- `trace`: spec_from_trace derives a spec from any nn.Module with torch.fx.
- `matching`: weight_matching (Git Re-Basin, Ainsworth et al. 2023), warm-startable, head-aware.
- `rebasin`: adapter to the `rebasin` 0.0.47 package the paper's authors used (optional extra).
"""

from stardomain.perm.matching import weight_matching
from stardomain.perm.spec import (
    Perm,
    PermutationSpec,
    apply_permutation,
    fraction_moved,
    identity_perm,
    inverse_perm,
    mlp_spec,
    random_perm,
)
from stardomain.perm.trace import TracedSpec, spec_from_trace

MATCHERS = ("weight_matching", "rebasin")

__all__ = [
    "MATCHERS",
    "Perm",
    "PermutationSpec",
    "TracedSpec",
    "apply_permutation",
    "fraction_moved",
    "identity_perm",
    "inverse_perm",
    "mlp_spec",
    "random_perm",
    "spec_from_trace",
    "weight_matching",
]
