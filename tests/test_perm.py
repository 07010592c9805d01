"""Traced permutation specs and weight matching: function unchanged, planted permutations found.

Small modules cover each construct of the paper's architectures (residual stream with BN, DenseNet
concatenation, VGG flatten into a Linear, attention heads, depthwise conv, LayerNorm); the registry's
architectures are tested in tests/test_perm_archs.py. All on CPU in eval mode with randomised BN
statistics, float32; "unchanged" means max |f_perm(x) - f(x)| <= 1e-5 * max |f(x)|.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from stardomain.archs.resnet import BasicBlock
from stardomain.models import MLP
from stardomain.perm import (
    apply_permutation,
    fraction_moved,
    mlp_spec,
    random_perm,
    spec_from_trace,
    weight_matching,
)

from helpers import (
    REL_TOL,
    check_permutation_invariance_and_recovery,
    randomise_bn,
    relative_change,
)


class TinyResNet(nn.Module):
    """Stem, two identity blocks (one stream), a downsampling block (a second stream), head."""

    def __init__(self, w: int = 6):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU()
        )
        self.blocks = nn.Sequential(
            BasicBlock(w, w, 1), BasicBlock(w, w, 1), BasicBlock(w, 2 * w, 2)
        )
        self.head = nn.Linear(2 * w, 5)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(nn.functional.adaptive_avg_pool2d(x, 1).flatten(1))


class DenseBlock(nn.Module):
    """DenseNet without bottleneck: each layer's output is concatenated onto its input."""

    def __init__(self, c: int, growth: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(c + i * growth), nn.ReLU(), nn.Conv2d(c + i * growth, growth, 3, 1, 1))
            for i in range(layers)
        )  # fmt: skip

    def forward(self, x):
        for layer in self.layers:
            x = torch.cat([x, layer(x)], 1)
        return x


class TinyDenseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, 1, 1)
        self.dense = DenseBlock(4, 3, 3)
        self.bn = nn.BatchNorm2d(13)
        self.head = nn.Linear(13, 5)

    def forward(self, x):
        x = torch.relu(self.bn(self.dense(self.stem(x))))
        return self.head(x.mean((2, 3)))


class TinyVGG(nn.Module):
    """Convs, max-pool, then flatten of a 2x2 map into a Linear (a channel moves with 4 inputs)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(5, 7, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Linear(7 * 2 * 2, 9), nn.ReLU(), nn.Linear(9, 5))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class TinyViT(nn.Module):
    """Patch conv, position embedding, hand-written multi-head attention (SDPA), MLP, LayerNorms."""

    def __init__(self, dim: int = 12, heads: int = 3):
        super().__init__()
        self.heads = heads
        self.embed = nn.Conv2d(1, dim, 4, 4)
        self.pos = nn.Parameter(torch.randn(1, 4, dim))
        self.norm1, self.norm2, self.norm = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(dim, 2 * dim), nn.Linear(2 * dim, dim)
        self.head = nn.Linear(dim, 5)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2) + self.pos  # (batch, tokens, dim)
        h = self.norm1(x)
        q, k, v = (
            f(h).unflatten(-1, (self.heads, -1)).transpose(1, 2) for f in (self.q, self.k, self.v)
        )
        a = nn.functional.scaled_dot_product_attention(
            q, k, v
        )  # (batch, heads, tokens, dim / heads)
        x = x + self.out(a.transpose(1, 2).flatten(2))
        x = x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))
        return self.head(self.norm(x).mean(1))


class LibraryViT(nn.Module):
    """nn.TransformerEncoder (nn.MultiheadAttention inside), class token."""

    def __init__(self, dim: int = 12, heads: int = 3):
        super().__init__()
        self.embed = nn.Linear(16, dim)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 5)

    def forward(self, x):
        x = self.embed(x.reshape(x.shape[0], 4, 16))  # (batch, tokens, dim)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        return self.head(self.encoder(x)[:, 0])


class DepthwiseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.pw = nn.Conv2d(3, 6, 1)
        self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=6)
        self.gn = nn.GroupNorm(1, 6)
        self.head = nn.Linear(6, 5)

    def forward(self, x):
        return self.head(self.gn(self.dw(self.pw(x))).amax((2, 3)))


CASES = {
    "resnet": (TinyResNet, (3, 8, 8)),
    "densenet": (TinyDenseNet, (3, 6, 6)),
    "vgg": (TinyVGG, (3, 8, 8)),
    "vit_sdpa": (TinyViT, (1, 8, 8)),
    "vit_library": (LibraryViT, (1, 8, 8)),
    "depthwise": (DepthwiseNet, (3, 6, 6)),
    "mlp_bn": (lambda: MLP(12, 5, 7, 3, batchnorm=True), (12,)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_traced_spec_keeps_function_and_matching_recovers_planted_perm(name):
    build, in_shape = CASES[name]
    check_permutation_invariance_and_recovery(build(), in_shape)


def test_residual_streams_are_single_permutations_and_all_permuted():
    spec = spec_from_trace(TinyResNet(), (3, 8, 8)).spec
    # two streams (stem + identity blocks; after downsampling) + one hidden group per block
    assert len(spec.sizes(TinyResNet().state_dict())) == 2 + 3
    stream = spec.axes["stem.0.weight"][0]
    assert spec.axes["blocks.1.bn2.running_mean"] == (stream,)
    assert spec.axes["blocks.2.conv1.weight"][1] == stream
    assert spec.axes["blocks.2.shortcut.0.weight"][1] == stream
    assert spec.axes["head.weight"][1] == spec.axes["blocks.2.bn2.weight"][0]
    a, b = TinyResNet().state_dict(), TinyResNet().state_dict()
    perm = weight_matching(spec, a, b, seed=0)
    assert all(fraction_moved({p: v}) > 0.5 for p, v in perm.items())


def test_densenet_concat_keeps_each_producers_permutation():
    spec = spec_from_trace(TinyDenseNet(), (3, 6, 6)).spec
    layout = spec.axes["dense.layers.2.2.weight"][1]  # input of the third conv: stem + 2 layers
    names = [name for name, _, _ in layout]
    assert names == ["P_stem", "P_dense.layers.0.2", "P_dense.layers.1.2"]
    assert [units for _, units, _ in layout] == [4, 3, 3]
    assert spec.axes["bn.running_var"][0][-1][0] == "P_dense.layers.2.2"
    torch.manual_seed(0)
    a, b = TinyDenseNet().state_dict(), TinyDenseNet().state_dict()
    assert fraction_moved(weight_matching(spec, a, b, seed=0)) > 0.6


def test_flatten_before_linear_moves_a_channel_with_its_pixels():
    spec = spec_from_trace(TinyVGG(), (3, 8, 8)).spec
    assert spec.axes["classifier.0.weight"][1] == (("P_features.4", 7, 4),)


def test_attention_heads_move_as_blocks():
    model = TinyViT(dim=12, heads=3)
    spec = spec_from_trace(model, (1, 8, 8)).spec
    assert spec.heads["P_q"] == spec.heads["P_v"] == ("H_q", 4)
    assert spec.axes["k.weight"][0] == "P_q" and spec.axes["out.weight"][1] == "P_v"
    perm = random_perm(spec, model.state_dict(), seed=0)
    for p in ("P_q", "P_v"):
        heads = perm[p].reshape(3, 4) // 4  # each head's units come from one source head
        assert (heads == heads[:, :1]).all()
    assert torch.equal(perm["P_q"].reshape(3, 4)[:, 0] // 4, perm["P_v"].reshape(3, 4)[:, 0] // 4)


def test_traced_mlp_spec_equals_the_hand_spec():
    traced = spec_from_trace(MLP(12, 5, 7, 3, batchnorm=True), (12,)).spec
    hand = mlp_spec(3, batchnorm=True)
    rename = {traced.axes[f"layers.{i}.linear.weight"][0]: f"P_{i}" for i in range(3)}
    permuted = {k: v for k, v in hand.axes.items() if any(v)}  # head.bias: (None,) is a no-op
    assert {k: tuple(rename.get(n, n) for n in v) for k, v in traced.axes.items()} == permuted
    assert traced.evidence_free == hand.evidence_free


class Unknown(nn.Module):
    """torch.roll along the features: not a permutation the tracer may assume harmless."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 8), nn.Linear(8, 8), nn.Linear(8, 3)

    def forward(self, x):
        h = torch.roll(torch.relu(self.fc1(x)), 1, dims=1)
        return self.fc3(torch.relu(self.fc2(h)))


def test_unknown_operation_fixes_its_units_and_says_so():
    traced = spec_from_trace(Unknown(), (6,))
    assert "fc1.weight" not in traced.spec.axes  # its units are rolled: fixed
    assert traced.spec.axes["fc2.weight"] == ("P_fc2", None)
    assert any("roll" in note for note in traced.notes)
    check_permutation_invariance_and_recovery(Unknown(), (6,))


def test_torchvision_resnet18_every_stream_permuted_and_function_kept():
    model = randomise_bn(torchvision.models.resnet18(num_classes=10))
    spec = spec_from_trace(model, (3, 32, 32)).spec
    state = model.state_dict()
    groups = spec.sizes(state)
    assert len(groups) == 4 + 8  # 4 residual streams, one hidden group per basic block
    streams = {spec.axes[f"layer{i}.1.bn2.weight"][0] for i in range(1, 5)}
    assert len(streams) == 4 and None not in streams
    perm = random_perm(spec, state, seed=0)
    assert all(fraction_moved({s: perm[s]}) > 0.9 for s in streams)
    x = torch.randn(2, 3, 32, 32)
    assert relative_change(model, state, apply_permutation(spec, perm, state), x) <= REL_TOL
