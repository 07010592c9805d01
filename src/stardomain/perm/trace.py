"""Derive a permutation spec from any `nn.Module` by tracing it (torch.fx).

Every tensor in the traced graph carries a *layout* of its feature axis: segments of permutable
unit spaces (`stardomain.perm.layouts`). Layers with weights create a fresh space for their
outputs; operations that need the same unit order on two tensors merge their spaces:

- residual `add`/`mul` merges the spaces of both operands (a residual stream is one permutation);
- `cat` on the feature axis concatenates layouts (DenseNet: each segment keeps its producer's perm);
- `flatten`/`view` of a conv map into features multiplies `inner` (VGG: a channel moves with its
  pixels); BN/LayerNorm/affine parameters take the layout of their input;
- `nn.MultiheadAttention`, `nn.TransformerEncoderLayer`/`Encoder` permute heads as blocks, units
  within heads (q/k and v/out separately), the MLP hidden units and the residual stream.

The network's input and output are fixed. Anything the tracer does not understand (an unknown
function, a parameter used by a functional call, a reshape that splits the feature axis as in
hand-written multi-head attention) fixes every space it touches: the spec stays correct (every
permutation it allows leaves the function unchanged), it only permutes fewer units. The returned
`TracedSpec.notes` says what was fixed and why. Rules per operation: `stardomain.perm.rules` and `.rules_nn`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from stardomain.perm.layouts import FIXED, OPAQUE, Layout, TracedFeat, Unions, shape_of
from stardomain.perm.rules import function_rule
from stardomain.perm.rules_nn import module_rule
from stardomain.perm.spec import Axis, PermutationSpec


@dataclass
class TracedSpec:
    """A traced spec and the tracer's notes on what it had to fix."""

    spec: PermutationSpec
    notes: list[str] = field(default_factory=list)


def spec_from_trace(model: nn.Module, in_shape: tuple[int, ...]) -> TracedSpec:
    """Trace `model` on a zero batch of shape (2, *in_shape) and derive its permutation spec.

    torch.nn built-in layers are leaves (fx's default); user modules are traced through.
    """
    graph = fx.Tracer().trace(model)
    gm = fx.GraphModule(model, graph)
    was_training = model.training
    model.eval()  # shape propagation must not touch BN running statistics
    try:
        with torch.no_grad():
            param = next(model.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
            ShapeProp(gm).propagate(torch.zeros((2, *in_shape), device=device))
    finally:
        model.train(was_training)
    walker = Walker(model)
    for node in gm.graph.nodes:
        walker.visit(node)
    return walker.finish()


class Walker:
    """Walks the graph once, building layouts, unions and parameter axes."""

    def __init__(self, model: nn.Module):
        self.modules = dict(model.named_modules())
        self.state = model.state_dict()
        self.u = Unions()
        self.info: dict[fx.Node, object] = {}
        self.param_axes: dict[str, list[Layout | None]] = {}
        self.heads: dict[int, tuple[int, int]] = {}  # space -> (head group, head_dim)
        self.head_groups = Unions("H")  # spaces whose heads must move by one head permutation
        self.notes: list[str] = []

    # ---- helpers used by the rules --------------------------------------------------------
    def feat(self, arg) -> TracedFeat | None:
        """The traced feature layout of `arg`, or None (not a tensor, or no feature axis)."""
        inf = self.info.get(arg) if isinstance(arg, fx.Node) else None
        return inf if isinstance(inf, TracedFeat) else None

    def dim(self, arg, inf: TracedFeat) -> int | None:
        """`inf.dim` of tensor `arg` as a non-negative axis."""
        shape = shape_of(arg)
        if inf.dim is None or shape is None:
            return None
        return inf.dim % len(shape)

    def within(self, arg, inf: TracedFeat) -> int:
        """`inf.within` (the axis of units inside a head) as a non-negative axis."""
        return inf.within % len(shape_of(arg))

    def fix(self, arg, why: str) -> None:
        """Fix every space reachable from `arg` (a node, or nested lists/tuples/dicts of nodes)."""
        if isinstance(arg, list | tuple):
            for a in arg:
                self.fix(a, why)
            return
        if isinstance(arg, dict):
            self.fix(list(arg.values()), why)
            return
        inf = self.info.get(arg) if isinstance(arg, fx.Node) else None
        for item in inf if isinstance(inf, list) else [inf]:
            if isinstance(item, TracedFeat) and item.layout is not None:
                if why and any(self.u.find(s) != FIXED for s, _, _ in item.layout):
                    self.notes.append(why)
                self.u.fix_layout(item.layout)

    def record(self, key: str, axis: int, layout: Layout) -> None:
        """State entry `key` has `layout` on `axis`; a second use with another layout merges them."""
        axes = self.param_axes.setdefault(key, [None] * self.state[key].dim())
        if axes[axis] is None:
            axes[axis] = layout
        else:
            self.u.merge_layouts(axes[axis], layout)

    def mark_heads(self, space: int, head_dim: int, hint: str) -> None:
        """Space `space` is split into heads of `head_dim` units: it may only move whole heads."""
        if space not in self.heads:
            self.heads[space] = (self.head_groups.new(1, hint), head_dim)
        elif self.heads[space][1] != head_dim:
            self.u.union(space, FIXED)  # two different head sizes: no permutation fits both

    def same_heads(self, a: int, b: int) -> None:
        """Spaces `a` and `b` (both head-split) share one head permutation."""
        self.head_groups.union(self.heads[a][0], self.heads[b][0])

    def fresh(self, units: int, hint: str) -> Layout:
        """A new space of `units` units, named after `hint`."""
        return ((self.u.new(units, hint), units, 1),)

    def input_layout(self, arg, dim: int, size: int, where: str) -> Layout:
        """Layout of `arg`'s axis `dim` as a layer sees it (fixed if unknown or misplaced)."""
        inf = self.feat(arg)
        shape = shape_of(arg)
        if inf is not None and not inf.opaque and shape is not None:
            if inf.within is None and self.dim(arg, inf) == dim % len(shape):
                return inf.layout
            self.fix(arg, f"{where}: input features on axis {inf.dim}, layer reads axis {dim}")
        return ((FIXED, size, 1),)

    # ---- the walk ----------------------------------------------------------------------
    def visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            shape = shape_of(node)
            self.info[node] = TracedFeat(1, ((FIXED, shape[1], 1),)) if shape else None
        elif node.op == "get_attr":
            self.info[node] = self.get_attr(node)
        elif node.op == "call_module":
            self.info[node] = module_rule(self, node, self.modules[node.target])
        elif node.op in ("call_function", "call_method"):
            self.info[node] = function_rule(self, node)
        elif node.op == "output":
            self.fix(node.args, "")

    def get_attr(self, node: fx.Node):
        """A parameter read directly (position embedding, class token, layer scale)."""
        key = node.target
        shape = shape_of(node)
        if key not in self.state:
            return OPAQUE if shape else None  # a non-persistent tensor: cannot be permuted
        big = [d for d, n in enumerate(shape) if n > 1]
        if not big:
            return None  # a scalar: no units
        dim = big[-1]  # the last non-singleton axis holds the units (1,T,D) -> D, (1,C,1,1) -> C
        layout = self.fresh(shape[dim], key.replace(".", "_"))
        self.record(key, dim, layout)
        return TracedFeat(dim, layout)

    def finish(self) -> TracedSpec:
        heads = self.resolve_heads()
        names = self.u.names()
        axes: dict[str, tuple[Axis, ...]] = {}
        for key, layouts in self.param_axes.items():
            entries: list[Axis] = []
            for layout in layouts:
                segs = tuple((names.get(self.u.find(s)), n, i) for s, n, i in layout or ())
                if all(name is None for name, _, _ in segs):
                    entries.append(None)
                elif len(segs) == 1 and segs[0][2] == 1:
                    entries.append(segs[0][0])
                else:
                    entries.append(segs)
            if any(e is not None for e in entries):
                axes[key] = tuple(entries)
        buffers = {k for k in axes if k.endswith(("running_mean", "running_var"))}
        groups = self.head_groups.names()
        heads = {
            names[root]: (groups[self.head_groups.find(group)], head_dim)
            for root, (group, head_dim) in heads.items()
            if root in names
        }
        return TracedSpec(PermutationSpec(axes, frozenset(buffers), heads), sorted(set(self.notes)))

    def resolve_heads(self) -> dict[int, tuple[int, int]]:
        """Head constraints per merged space: one head size, one head group (merged if needed)."""
        out: dict[int, tuple[int, int]] = {}
        for space, (group, head_dim) in self.heads.items():
            root = self.u.find(space)
            if root == FIXED:
                continue
            if root not in out:
                out[root] = (group, head_dim)
            elif out[root][1] != head_dim:
                self.u.union(root, FIXED)
                self.notes.append(f"space {self.u.hint[space]}: conflicting head sizes")
            else:
                self.head_groups.union(out[root][0], group)
        return {r: g for r, g in out.items() if self.u.find(r) == r}
