"""Model registry: builds a network from its config entry (`model:` of an experiment).

`model.name` is a registry name (the paper's architectures, `stardomain.archs`) or the import path
`package.module:function` of a user's factory, called as `function(num_classes=, in_shape=, **kwargs)`
with `model.kwargs`. Settings left null in config take the architecture's published default;
`variant` picks between the published architecture (`reference`) and the one in the paper's
authors' code (`authors`) for vgg, wrn and densenet40_12 (docs/fidelity.md).
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


def _get(cfg: dict, key: str, default):
    """cfg[key], or the architecture's `default` where the key is absent or null."""
    value = cfg.get(key)
    return default if value is None else value


def _mlp(cfg: dict, shape: tuple[int, ...], k: int) -> nn.Module:
    features = int(torch.tensor(shape).prod())
    return MLP(
        features, k, _get(cfg, "width", 8), _get(cfg, "depth", 2), _get(cfg, "batchnorm", False)
    )


def _vit(cfg: dict, shape: tuple[int, ...], k: int) -> nn.Module:
    return archs.vit(
        k,
        image_size=shape[-1],
        patch_size=_get(cfg, "patch_size", 7),
        in_channels=shape[0],
        dim=_get(cfg, "width", 64),
        depth=_get(cfg, "depth", 4),
        heads=_get(cfg, "heads", 4),
        mlp_dim=_get(cfg, "mlp_dim", 128),
    )


def _variant(cfg: dict) -> dict:
    """`variant` (reference: the published architecture; authors: the paper's authors' code) and
    `dropout` (None: the variant's own default) of vgg, wrn and densenet40_12."""
    return dict(variant=_get(cfg, "variant", "reference"), dropout=cfg.get("dropout"))


# name -> (builder(cfg, in_shape, num_classes) -> module, spec(cfg) -> PermutationSpec, or None)
Builder = Callable[[dict, tuple[int, ...], int], nn.Module]
REGISTRY: dict[str, tuple[Builder, Callable[[dict], PermutationSpec] | None]] = {
    "mlp": (_mlp, lambda cfg: mlp_spec(_get(cfg, "depth", 2), _get(cfg, "batchnorm", False))),
    "cnn": (lambda cfg, s, k: archs.small_cnn(k, _get(cfg, "width", 16), s[0]), None),
    "resnet18": (lambda cfg, s, k: archs.resnet18_cifar(k, _get(cfg, "width", 64), s[0]), None),
    "resnet18_imagenet": (lambda cfg, s, k: archs.resnet18_imagenet(k), None),
    "vgg": (
        lambda cfg, s, k: archs.vgg(
            _get(cfg, "depth", 11),
            _get(cfg, "batchnorm", False),
            k,
            _get(cfg, "width", 64),
            s[0],
            **_variant(cfg),
        ),
        None,
    ),
    "wrn": (
        lambda cfg, s, k: archs.wide_resnet(
            _get(cfg, "depth", 22), _get(cfg, "width_factor", 1), k, s[0], **_variant(cfg)
        ),
        None,
    ),
    "densenet40_12": (
        lambda cfg, s, k: archs.densenet40_12(
            k, s[0], growth=_get(cfg, "width", 12), **_variant(cfg)
        ),
        None,
    ),
    "vit": (_vit, None),
}


def _builder(cfg: dict) -> Builder:
    name = cfg["name"]
    if is_import_path(name):
        factory = import_factory(name, "model.name")
        kwargs = cfg.get("kwargs") or {}
        return lambda cfg, shape, k: factory(num_classes=k, in_shape=tuple(shape), **kwargs)
    if name not in REGISTRY:
        raise ValueError(
            f"model.name: unknown model {name!r}; allowed: {sorted(REGISTRY)} "
            "or an import path package.module:function"
        )
    return REGISTRY[name][0]


def build_model(cfg: dict, in_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """Build the model named by `cfg["name"]`, initialised from `seed` (independent of global RNG)."""
    builder = _builder(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(cfg, tuple(in_shape), num_classes)


def model_spec(cfg: dict, model: nn.Module, in_shape: tuple[int, ...]) -> PermutationSpec:
    """Permutation spec of `model` (built from `cfg` for inputs of shape `in_shape`).

    The registry's hand-written spec where it has one, otherwise the spec derived by tracing the
    model (`stardomain.perm.spec_from_trace`), which covers any nn.Module the tracer can read.
    """
    hand = REGISTRY.get(cfg["name"], (None, None))[1]
    if hand is not None:
        return hand(cfg)
    return spec_from_trace(model, tuple(in_shape)).spec


def has_batchnorm(model: nn.Module) -> bool:
    """True if any BatchNorm layer tracks running statistics."""
    return any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
        for m in model.modules()
    )
