"""Model registry: builds a network from its config entry (`model:` of an experiment).

`model.name` is a registry name (the paper's architectures, `stardomain.archs`) or the import path
`package.module:function` of a user's factory, called as `function(num_classes=, in_shape=, **kwargs)`
with `model.kwargs`. Settings left null in config take the architecture's published default
(resolved in `stardomain.settings.ModelSettings`, `ARCH_DEFAULTS`); `variant` picks between the
published architecture (`reference`) and the one in the paper's authors' code (`authors`) for vgg,
wrn and densenet40_12 (docs/fidelity.md).
A registry entry's permutation spec is a function of the config, or None where the spec is derived
from the model itself.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from stardomain import archs
from stardomain.factories import import_factory, is_import_path
from stardomain.perm import PermutationSpec, mlp_spec, spec_from_trace
from stardomain.settings import ModelSettings


class MLPBlock(nn.Module):
    """Linear -> (BatchNorm1d) -> ReLU."""

    def __init__(self, fan_in: int, width: int, batchnorm: bool):
        super().__init__()
        self.linear = nn.Linear(fan_in, width)
        self.bn = nn.BatchNorm1d(width) if batchnorm else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.linear(x)))


class MLP(nn.Module):
    """Multilayer perceptron with `depth` hidden layers of `width` units and a linear `head`."""

    def __init__(
        self, in_features: int, num_classes: int, width: int, depth: int, batchnorm: bool = False
    ):
        super().__init__()
        fan_ins = [in_features] + [width] * max(depth - 1, 0)
        self.layers = nn.ModuleList(MLPBlock(f, width, batchnorm) for f in fan_ins[:depth])
        self.head = nn.Linear(width if depth > 0 else in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # (batch, features)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def _mlp(m: ModelSettings, shape: tuple[int, ...], k: int) -> nn.Module:
    features = int(torch.tensor(shape).prod())
    return MLP(features, k, m.width, m.depth, m.batchnorm)


def _vit(m: ModelSettings, shape: tuple[int, ...], k: int) -> nn.Module:
    return archs.vit(
        k,
        image_size=shape[-1],
        patch_size=m.patch_size,
        in_channels=shape[0],
        dim=m.width,
        depth=m.depth,
        heads=m.heads,
        mlp_dim=m.mlp_dim,
    )


# name -> (builder(model settings, in_shape, num_classes) -> module, spec(model settings) ->
# PermutationSpec, or None: derived by tracing). Each reads the keys of its ARCH_DEFAULTS entry.
Builder = Callable[[ModelSettings, tuple[int, ...], int], nn.Module]
REGISTRY: dict[str, tuple[Builder, Callable[[ModelSettings], PermutationSpec] | None]] = {
    "mlp": (_mlp, lambda m: mlp_spec(m.depth, m.batchnorm)),
    "cnn": (lambda m, s, k: archs.small_cnn(k, m.width, s[0]), None),
    "resnet18": (lambda m, s, k: archs.resnet18_cifar(k, m.width, s[0]), None),
    "resnet18_imagenet": (lambda m, s, k: archs.resnet18_imagenet(k), None),
    "vgg": (
        lambda m, s, k: archs.vgg(
            m.depth, m.batchnorm, k, m.width, s[0], variant=m.variant, dropout=m.dropout
        ),
        None,
    ),
    "wrn": (
        lambda m, s, k: archs.wide_resnet(
            m.depth, m.width_factor, k, s[0], variant=m.variant, dropout=m.dropout
        ),
        None,
    ),
    "densenet40_12": (
        lambda m, s, k: archs.densenet40_12(
            k, s[0], growth=m.width, variant=m.variant, dropout=m.dropout
        ),
        None,
    ),
    "vit": (_vit, None),
}


def _builder(model: ModelSettings) -> Builder:
    name = model.name
    if is_import_path(name):
        factory = import_factory(name, "model.name")
        kwargs = model.kwargs or {}
        return lambda m, shape, k: factory(num_classes=k, in_shape=tuple(shape), **kwargs)
    if name not in REGISTRY:
        raise ValueError(
            f"model.name: unknown model {name!r}; allowed: {sorted(REGISTRY)} "
            "or an import path package.module:function"
        )
    return REGISTRY[name][0]


def build_model(
    model: ModelSettings, in_shape: tuple[int, ...], num_classes: int, seed: int
) -> nn.Module:
    """Build the network `model` describes, initialised from `seed` (independent of global RNG)."""
    builder = _builder(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(model, tuple(in_shape), num_classes)


def model_spec(model: ModelSettings, net: nn.Module, in_shape: tuple[int, ...]) -> PermutationSpec:
    """Permutation spec of the network `net` (built from `model` for inputs of shape `in_shape`).

    The registry's hand-written spec where it has one, otherwise the spec derived by tracing the
    network (`stardomain.perm.spec_from_trace`), which covers any nn.Module the tracer can read.
    """
    hand = REGISTRY.get(model.name, (None, None))[1]
    if hand is not None:
        return hand(model)
    return spec_from_trace(net, tuple(in_shape)).spec


def has_batchnorm(model: nn.Module) -> bool:
    """True if any BatchNorm layer tracks running statistics."""
    return any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        for m in model.modules()
    )
