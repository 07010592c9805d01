"""Model registry: builds a network from its config entry (`model:` of an experiment).

Every model comes with a permutation spec (see `stardomain.perm`), so that alignment works for it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

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


# name -> (builder(cfg, in_shape, num_classes) -> module, spec(cfg) -> PermutationSpec)
Builder = Callable[[dict, tuple[int, ...], int], nn.Module]
REGISTRY: dict[str, tuple[Builder, Callable[[dict], PermutationSpec]]] = {
    "mlp": (
        lambda cfg, shape, k: MLP(
            int(torch.tensor(shape).prod()), k, cfg["width"], cfg["depth"], cfg["batchnorm"]
        ),
        lambda cfg: mlp_spec(cfg["depth"], cfg["batchnorm"]),
    ),
}


def build_model(cfg: dict, in_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """Build the model named by `cfg["name"]`, initialised from `seed` (independent of global RNG)."""
    if cfg["name"] not in REGISTRY:
        raise ValueError(f"model.name: unknown model {cfg['name']!r}; allowed: {sorted(REGISTRY)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return REGISTRY[cfg["name"]][0](cfg, tuple(in_shape), num_classes)


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
