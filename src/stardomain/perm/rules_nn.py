"""Tracer rules for torch.nn layers (fx leaves), attention included (see `stardomain.perm.trace`).

Weights: a layer's output units form a fresh space; its weight's input axis takes the layout of
its input (a flattened conv map, a concatenation). Normalisation layers and their running
buffers take the layout of their input. Attention (Vaswani et al. 2017; the ViT's encoder):
q and k of a head must share a unit order (their dot product), v and the output projection's
input another; heads move as blocks, by one head permutation per attention layer.
"""

from __future__ import annotations

import torch.fx as fx
from torch import nn

from stardomain.perm.layouts import FIXED, Layout, TracedFeat
from stardomain.perm.rules import arg, pointwise, reshape, spatial, unknown

POINTWISE = (
    nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.SELU,
    nn.CELU, nn.Mish, nn.Softplus, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softmax,
    nn.LogSoftmax, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity,
)  # fmt: skip
POOLS = {
    nn.MaxPool1d: 1, nn.AvgPool1d: 1, nn.AdaptiveAvgPool1d: 1, nn.AdaptiveMaxPool1d: 1,
    nn.MaxPool2d: 2, nn.AvgPool2d: 2, nn.AdaptiveAvgPool2d: 2, nn.AdaptiveMaxPool2d: 2,
    nn.MaxPool3d: 3, nn.AvgPool3d: 3, nn.AdaptiveAvgPool3d: 3, nn.Upsample: 2,
}  # fmt: skip


def _record(w, key: str, axis: int, layout: Layout) -> None:
    if key in w.state:
        w.record(key, axis, layout)


def module_rule(w, node: fx.Node, mod: nn.Module):
    """Layout of a call_module node."""
    path = node.target
    x = node.args[0] if node.args else next(iter(node.kwargs.values()))
    if isinstance(mod, POINTWISE):
        return pointwise(w, node, type(mod).__name__)
    if type(mod) in POOLS:
        return spatial(w, node, POOLS[type(mod)])
    if isinstance(mod, nn.Flatten):
        return reshape(w, node, x)
    if isinstance(mod, nn.Linear):
        inp = w.input_layout(x, -1, mod.in_features, path)
        out = w.fresh(mod.out_features, path)
        _record(w, f"{path}.weight", 0, out)  # (out, in)
        _record(w, f"{path}.weight", 1, inp)
        _record(w, f"{path}.bias", 0, out)
        return TracedFeat(-1, out)
    if isinstance(mod, nn.modules.conv._ConvNd) and not mod.transposed:
        return conv(w, node, mod, x, path)
    if isinstance(mod, nn.modules.batchnorm._BatchNorm) or (
        isinstance(mod, nn.GroupNorm) and mod.num_groups in (1, mod.num_channels)
    ):
        # per-channel affine and statistics (GroupNorm with 1 or C groups: order-free statistics)
        size = mod.num_features if hasattr(mod, "num_features") else mod.num_channels
        layout = w.input_layout(x, 1, size, path)
        for name in ("weight", "bias", "running_mean", "running_var"):
            _record(w, f"{path}.{name}", 0, layout)
        return TracedFeat(1, layout)
    if isinstance(mod, nn.LayerNorm) and len(mod.normalized_shape) == 1:
        layout = w.input_layout(x, -1, mod.normalized_shape[0], path)
        for name in ("weight", "bias"):
            _record(w, f"{path}.{name}", 0, layout)
        return TracedFeat(-1, layout)
    if isinstance(mod, nn.Embedding):
        out = w.fresh(mod.embedding_dim, path)
        _record(w, f"{path}.weight", 1, out)
        return TracedFeat(-1, out)
    if isinstance(mod, nn.MultiheadAttention):
        return multihead_attention(w, node, mod, path)
    if isinstance(mod, nn.TransformerEncoderLayer):
        stream = w.input_layout(x, -1, mod.linear1.in_features, path)
        return TracedFeat(-1, encoder_layer(w, mod, path, stream))
    if isinstance(mod, nn.TransformerEncoder) and all(
        isinstance(layer, nn.TransformerEncoderLayer) for layer in mod.layers
    ):
        stream = w.input_layout(x, -1, mod.layers[0].linear1.in_features, path)
        for i, layer in enumerate(mod.layers):
            stream = encoder_layer(w, layer, f"{path}.layers.{i}", stream)
        for name in ("weight", "bias"):
            _record(w, f"{path}.norm.{name}", 0, stream)
        return TracedFeat(-1, stream)
    return unknown(w, node, f"unsupported layer {type(mod).__name__} at {path!r}")


def conv(w, node: fx.Node, mod: nn.Module, x, path: str):
    """Convolution: (out, in / groups, *kernel) weights; depthwise keeps its input's units."""
    inp = w.input_layout(x, 1, mod.in_channels, path)
    if mod.groups == 1:
        out = w.fresh(mod.out_channels, path)
        _record(w, f"{path}.weight", 1, inp)
    elif mod.groups == mod.in_channels == mod.out_channels:
        out = inp  # depthwise: channel c only ever sees channel c
    else:
        return unknown(w, node, f"grouped convolution at {path!r}")
    _record(w, f"{path}.weight", 0, out)
    _record(w, f"{path}.bias", 0, out)
    return TracedFeat(1, out)


def attention(w, mha: nn.MultiheadAttention, path: str, inp: Layout) -> Layout:
    """Spec of one nn.MultiheadAttention reading a stream laid out as `inp`; returns its output."""
    e, head_dim = mha.embed_dim, mha.head_dim
    if not mha._qkv_same_embed_dim or mha.bias_k is not None:
        w.u.fix_layout(inp)
        w.notes.append(f"{path}: separate q/k/v projections or bias_kv are not supported")
        return ((FIXED, e, 1),)
    qk, vo = w.u.new(e, f"{path}.qk"), w.u.new(e, f"{path}.vo")
    w.mark_heads(qk, head_dim, path)
    w.mark_heads(vo, head_dim, path)
    w.same_heads(qk, vo)
    rows = ((qk, e, 1), (qk, e, 1), (vo, e, 1))  # in_proj stacks q, k, v
    _record(w, f"{path}.in_proj_weight", 0, rows)
    _record(w, f"{path}.in_proj_weight", 1, inp)
    _record(w, f"{path}.in_proj_bias", 0, rows)
    out = w.fresh(e, f"{path}.out_proj")
    _record(w, f"{path}.out_proj.weight", 0, out)
    _record(w, f"{path}.out_proj.weight", 1, ((vo, e, 1),))
    _record(w, f"{path}.out_proj.bias", 0, out)
    return out


def multihead_attention(w, node: fx.Node, mha: nn.MultiheadAttention, path: str):
    """Called as a layer: query, key and value must share units (they share in_proj columns)."""
    e = mha.embed_dim
    q, k, v = (arg(node, i, name) for i, name in enumerate(("query", "key", "value")))
    inp = w.input_layout(q, -1, e, path)
    for other in (k, v):
        if other is not q:
            w.u.merge_layouts(inp, w.input_layout(other, -1, e, path))
    return [TracedFeat(-1, attention(w, mha, path, inp)), None]  # (output, attention weights)


def encoder_layer(w, layer: nn.TransformerEncoderLayer, path: str, stream: Layout) -> Layout:
    """Pre- or post-norm encoder layer: attention and MLP both add back into the stream."""
    out = attention(w, layer.self_attn, f"{path}.self_attn", stream)
    w.u.merge_layouts(stream, out)  # residual connection
    hidden = w.fresh(layer.linear1.out_features, f"{path}.linear1")
    _record(w, f"{path}.linear1.weight", 0, hidden)
    _record(w, f"{path}.linear1.weight", 1, stream)
    _record(w, f"{path}.linear1.bias", 0, hidden)
    _record(w, f"{path}.linear2.weight", 0, stream)
    _record(w, f"{path}.linear2.weight", 1, hidden)
    _record(w, f"{path}.linear2.bias", 0, stream)
    for norm in ("norm1", "norm2"):
        for name in ("weight", "bias"):
            _record(w, f"{path}.{norm}.{name}", 0, stream)
    return stream
