"""Tracer rules for functions and tensor methods (see `stardomain.perm.trace`).

Each rule receives the walker and an fx node and returns the node's feature layout: a
`TracedFeat`, None (no feature axis: a size, or a reduction over the features, which is
permutation invariant), OPAQUE, or a list of those for tuple outputs. Rules that cannot prove
a permutation harmless fix every space they touch.
"""

from __future__ import annotations

import math

import torch.fx as fx

from stardomain.perm.layouts import OPAQUE, TracedFeat, shape_of

# pointwise (or equivariant along the feature axis) with broadcasting; scalars are ignored
POINTWISE = {
    "add", "sub", "mul", "truediv", "div", "iadd", "isub", "imul", "itruediv", "add_", "mul_",
    "sub_", "div_", "neg", "pow", "relu", "relu_", "relu6", "gelu", "silu", "sigmoid", "tanh",
    "leaky_relu", "hardtanh", "elu", "selu", "celu", "softplus", "hardswish", "hardsigmoid",
    "mish", "exp", "sqrt", "rsqrt", "abs", "erf", "softmax", "log_softmax", "dropout",
    "dropout1d", "dropout2d", "alpha_dropout", "contiguous", "clone", "float", "half", "double",
    "to", "detach", "type_as", "expand", "expand_as",
}  # fmt: skip
# act on the last k axes only (pooling, resizing): harmless while the features are elsewhere
SPATIAL = {
    "avg_pool1d": 1, "max_pool1d": 1, "adaptive_avg_pool1d": 1, "adaptive_max_pool1d": 1,
    "avg_pool2d": 2, "max_pool2d": 2, "adaptive_avg_pool2d": 2, "adaptive_max_pool2d": 2,
    "avg_pool3d": 3, "max_pool3d": 3, "adaptive_avg_pool3d": 3, "interpolate": 2,
}  # fmt: skip
RESHAPES = {"view", "reshape", "flatten", "unsqueeze", "squeeze", "unflatten", "view_as"}
TRANSPOSES = {"transpose", "permute", "movedim", "swapaxes", "t"}
REDUCTIONS = {"mean", "sum", "amax", "amin", "std", "var", "logsumexp", "norm"}
SPLITS = {"chunk", "split", "unbind", "tensor_split"}


def op_name(node: fx.Node) -> str:
    return node.target if node.op == "call_method" else getattr(node.target, "__name__", "")


def arg(node: fx.Node, pos: int, name: str, default=None):
    """Argument `name` of a call, positional (after the tensor) or keyword."""
    if name in node.kwargs:
        return node.kwargs[name]
    return node.args[pos] if len(node.args) > pos else default


def unknown(w, node: fx.Node, why: str):
    """Fix everything the node reads; its output is opaque."""
    w.fix(list(node.all_input_nodes), f"{node.name}: {why}")
    meta = node.meta.get("tensor_meta")
    return [OPAQUE] * len(meta) if isinstance(meta, list | tuple) else OPAQUE


def function_rule(w, node: fx.Node):
    """Layout of a call_function / call_method node."""
    name = op_name(node)
    if name == "getitem" and isinstance(w.info.get(node.args[0]), list):
        return w.info[node.args[0]][node.args[1]]
    if node.meta.get("tensor_meta") is None:
        return None  # sizes, shapes, python values
    split_heads = any(
        (f := w.feat(a)) is not None and f.within is not None for a in node.all_input_nodes
    )
    if split_heads and name not in POINTWISE | RESHAPES | TRANSPOSES | {
        "scaled_dot_product_attention"
    }:
        return unknown(w, node, f"{name} on features split into heads")
    if name == "scaled_dot_product_attention":
        return attention(w, node)
    if name == "getitem":
        return getitem(w, node)
    if name in POINTWISE:
        return pointwise(w, node, name)
    if name in SPATIAL:
        return spatial(w, node, SPATIAL[name])
    if name in RESHAPES:
        return reshape(w, node, node.args[0])
    if name in TRANSPOSES:
        return transpose(w, node, name)
    if name in ("cat", "concat", "concatenate"):
        return cat(w, node)
    if name in REDUCTIONS:
        return reduction(w, node)
    if name in SPLITS:
        return split(w, node, name)
    return unknown(w, node, f"unsupported operation {name!r}")


def pointwise(w, node: fx.Node, name: str):
    """Broadcasting pointwise op: features of every operand must align; their spaces merge."""
    out = shape_of(node)
    feats = []
    for a in node.all_input_nodes:
        inf = w.feat(a)
        if inf is None:
            continue
        if inf.opaque:
            return unknown(w, node, f"{name} combines with an opaque tensor")
        d_in = w.dim(a, inf)
        d = d_in + len(out) - len(shape_of(a))
        if d < 0 or shape_of(a)[d_in] != out[d]:
            return unknown(w, node, f"{name} broadcasts or resizes the feature axis")
        within = None if inf.within is None else w.within(a, inf) + len(out) - len(shape_of(a))
        feats.append(((d, within), inf.layout))
    if not feats:
        return None
    if len({d for d, _ in feats}) > 1:
        return unknown(w, node, f"{name} combines different feature axes")
    first = feats[0][1]
    for _, layout in feats[1:]:
        if not w.u.merge_layouts(first, layout):
            w.notes.append(f"{node.name}: {name} of differently segmented features")
        elif feats[0][0][1] is not None:
            w.same_heads(first[0][0], layout[0][0])
    return TracedFeat(*feats[0][0][:1], first, feats[0][0][1])


def spatial(w, node: fx.Node, k: int):
    """Pooling/resizing over the last k axes."""
    x = node.args[0]
    inf = w.feat(x)
    if inf is not None and not inf.opaque and w.dim(x, inf) >= len(shape_of(x)) - k:
        return unknown(w, node, "pooling over the feature axis")
    return pointwise(w, node, op_name(node))


def remap(in_shape, d: int, out_shape) -> tuple[int, int] | None:
    """Where axis d of a row-major reshape in_shape -> out_shape lands, and its new inner factor."""
    before = math.prod(in_shape[:d])
    for k in range(len(out_shape)):
        if math.prod(out_shape[:k]) != before:
            continue
        acc = 1
        for m in range(d, len(in_shape)):
            acc *= in_shape[m]
            if acc == out_shape[k]:
                return k, acc // in_shape[d]  # units stay outermost: inner grows by the merged axes
            if acc > out_shape[k]:
                break
    return None


def reshape(w, node: fx.Node, x):
    inf = w.feat(x)
    if inf is None:
        return None if w.info.get(x) is None else unknown(w, node, "reshape of a tuple")
    if inf.opaque:
        return OPAQUE
    in_shape, out_shape, d = shape_of(x), shape_of(node), w.dim(x, inf)
    found = remap(in_shape, d, out_shape)
    if inf.within is not None:  # merging heads back: (heads, head_dim) -> features
        if found is None or w.within(x, inf) != d + 1 or found[1] != in_shape[d + 1]:
            return unknown(w, node, "reshape of features split into heads")
        return TracedFeat(found[0], inf.layout)
    if found is not None:
        k, factor = found
        return TracedFeat(k, tuple((s, n, i * factor) for s, n, i in inf.layout))
    heads = split_heads(in_shape, d, out_shape)
    if heads is None or len(inf.layout) != 1 or inf.layout[0][2] != 1:
        return unknown(w, node, "reshape splits the feature axis")
    w.mark_heads(inf.layout[0][0], out_shape[heads + 1], w.u.hint[inf.layout[0][0]])
    return TracedFeat(heads, inf.layout, heads + 1)


def split_heads(in_shape, d: int, out_shape) -> int | None:
    """Axis k if a reshape splits feature axis d into consecutive axes (heads k, head_dim k+1)."""
    before = math.prod(in_shape[:d])
    for k in range(len(out_shape) - 1):
        if (
            math.prod(out_shape[:k]) == before
            and out_shape[k] * out_shape[k + 1] == in_shape[d]
            and out_shape[k] > 1
        ):
            return k
    return None


def transpose(w, node: fx.Node, name: str):
    x = node.args[0]
    inf = w.feat(x)
    if inf is None or inf.opaque:
        return None if inf is None else OPAQUE
    nd, d = len(shape_of(x)), w.dim(x, inf)
    rest = node.args[1:]
    if name == "t":
        order = [1, 0] if nd == 2 else [0]
    elif name == "permute":
        order = list(rest[0] if len(rest) == 1 and isinstance(rest[0], list | tuple) else rest)
        order = [o % nd for o in order]
    else:  # transpose, swapaxes, movedim: two axes
        a, b = (r % nd for r in rest[:2])
        if name == "movedim":
            order = [i for i in range(nd) if i != a]
            order.insert(b, a)
        else:
            order = list(range(nd))
            order[a], order[b] = b, a
    within = None if inf.within is None else order.index(w.within(x, inf))
    return TracedFeat(order.index(d), inf.layout, within)


def attention(w, node: fx.Node):
    """scaled_dot_product_attention(q, k, v): (..., heads, tokens, head_dim) each.

    q and k must share units within a head (their dot product), v's units pass to the output;
    all three move heads by one head permutation.
    """
    q, k, v = (arg(node, i, n) for i, n in enumerate(("query", "key", "value")))
    infos = [w.feat(t) for t in (q, k, v)]
    nd = len(shape_of(node))
    ok = all(
        i is not None and i.within is not None and w.within(t, i) == nd - 1 and w.dim(t, i) < nd - 2
        for t, i in zip((q, k, v), infos, strict=True)
    )
    if not ok or len({w.dim(t, i) for t, i in zip((q, k, v), infos, strict=True)}) != 1:
        return unknown(w, node, "attention on tensors not split into heads")
    qs, ks, vs = (i.layout[0][0] for i in infos)
    w.u.union(qs, ks)
    w.same_heads(qs, ks)
    w.same_heads(qs, vs)
    return TracedFeat(w.dim(v, infos[2]), infos[2].layout, nd - 1)


def cat(w, node: fx.Node):
    tensors = arg(node, 0, "tensors")
    nd = len(shape_of(node))
    dim = arg(node, 1, "dim", 0) % nd
    infos = [w.feat(t) for t in tensors]
    if any(i is None or i.opaque for i in infos):
        return unknown(w, node, "concatenation with an unlabelled tensor")
    dims = {w.dim(t, i) for t, i in zip(tensors, infos, strict=True)}
    if len(dims) > 1:
        return unknown(w, node, "concatenation of different feature axes")
    d = dims.pop()
    if d == dim:  # DenseNet: each segment keeps its producer's permutation
        return TracedFeat(d, tuple(seg for i in infos for seg in i.layout))
    for i in infos[1:]:
        w.u.merge_layouts(infos[0].layout, i.layout)
    return TracedFeat(d, infos[0].layout)


def reduction(w, node: fx.Node):
    x = node.args[0]
    inf = w.feat(x)
    if inf is None or inf.opaque:
        return None if inf is None else OPAQUE
    nd, d = len(shape_of(x)), w.dim(x, inf)
    dims = arg(node, 1, "dim")
    if dims is None:
        return None  # a full reduction is permutation invariant
    dims = {a % nd for a in (dims if isinstance(dims, list | tuple) else [dims])}
    if d in dims:
        return None  # summed over the units: invariant
    keep = arg(node, 2, "keepdim", False)
    return TracedFeat(d if keep else d - sum(a < d for a in dims), inf.layout)


def split(w, node: fx.Node, name: str):
    x = node.args[0]
    inf = w.feat(x)
    n = len(node.meta["tensor_meta"])
    if inf is None or inf.opaque:
        return [inf] * n
    nd, d = len(shape_of(x)), w.dim(x, inf)
    dim = arg(node, 1 if name == "unbind" else 2, "dim", 0) % nd
    if dim == d:
        return unknown(w, node, f"{name} along the feature axis")
    new = d - (name == "unbind" and dim < d)
    return [TracedFeat(new, inf.layout)] * n


def getitem(w, node: fx.Node):
    """Indexing that leaves the feature axis whole (`x[:, 0]`, `x[..., None]`)."""
    x, index = node.args
    inf = w.feat(x)
    if inf is None or inf.opaque:
        return None if inf is None else OPAQUE
    nd, d = len(shape_of(x)), w.dim(x, inf)
    items = list(index) if isinstance(index, tuple) else [index]
    pos_in = pos_out = 0
    for item in items:
        if item is Ellipsis:
            span = nd - sum(i is not None and i is not Ellipsis for i in items)
            if pos_in <= d < pos_in + span:
                return TracedFeat(pos_out + d - pos_in, inf.layout)
            pos_in, pos_out = pos_in + span, pos_out + span
        elif item is None:
            pos_out += 1
        elif isinstance(item, int | slice):
            if pos_in == d:
                if item != slice(None):
                    return unknown(w, node, "indexing into the feature axis")
                return TracedFeat(pos_out, inf.layout)
            pos_in, pos_out = pos_in + 1, pos_out + isinstance(item, slice)
        else:
            return unknown(w, node, "advanced indexing")
    return TracedFeat(pos_out + d - pos_in, inf.layout)
