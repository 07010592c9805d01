"""Evaluation, BatchNorm re-estimation and weight interpolation of state dicts.

Interpolation follows the paper (docs/method.md, section 3): only learnable parameters are interpolated, theta(t) = (1-t) a + t b;
at interior t the BN running statistics are re-estimated on training data (train mode, cumulative
average) because averaged weights make the endpoints' statistics wrong.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from stardomain.models import has_batchnorm

State = dict[str, torch.Tensor]


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy (fraction) of `model` in eval mode over `batches`."""
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for x, y in batches:
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        count += len(y)
    return loss_sum / count, correct / count


@torch.no_grad()
def reestimate_bn(model: nn.Module, loader: Iterable, bn_batches: int | None = None) -> None:
    """Reset and re-estimate every BN layer's running stats from the first `bn_batches` batches of
    `loader` (a cumulative average); `bn_batches=None` uses one full pass. Leaves the model in eval
    mode.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # None = cumulative moving average over all batches seen
    model.train()
    for i, (x, _) in enumerate(loader):
        if bn_batches is not None and i >= bn_batches:
            break
        model(x)
    for m, momentum in zip(bns, saved, strict=True):
        m.momentum = momentum
    model.eval()


def param_keys(model: nn.Module) -> list[str]:
    """Names of learnable parameters (what Starlight and interpolation mix)."""
    return [k for k, _ in model.named_parameters()]


def interpolate_state(a: State, b: State, t: float, keys: Iterable[str]) -> State:
    """theta(t) = (1-t) a + t b for `keys`; other entries (buffers) come from `a` if t < 0.5 else `b`.

    Exact endpoints: t = 0 returns a's tensors, t = 1 returns b's.
    """
    if t == 0.0:
        return dict(a)
    if t == 1.0:
        return dict(b)
    keys = set(keys)
    near = a if t < 0.5 else b
    return {k: (torch.lerp(a[k], b[k], t) if k in keys else near[k]) for k in a}


def evaluate_at(
    model: nn.Module,
    state: State,
    splits: dict[str, Iterable],
    bn_loader: Iterable | None,
    bn_batches: int | None,
) -> dict[str, tuple[float, float]]:
    """Load `state`, re-estimate BN (`bn_batches` batches of `bn_loader`) if a loader is given and
    the model has BN, evaluate splits."""
    model.load_state_dict(state)
    if bn_loader is not None and has_batchnorm(model):
        reestimate_bn(model, bn_loader, bn_batches)
    return {name: evaluate(model, batches) for name, batches in splits.items()}
