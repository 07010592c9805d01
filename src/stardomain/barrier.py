"""Interpolation curves and barriers (docs/method.md, section 3; the paper's barrier definition).

Loss barrier of (A, B): max over the grid of L(theta(t)) - ((1-t) L(A) + t L(B)), floored at 0.
Accuracy barrier: the largest drop of accuracy below the straight line between the endpoint
accuracies, in percentage points (positive = drop), floored at 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from stardomain.data.core import Data
from stardomain.evaluate import evaluate_at, interpolate_state, param_keys
from stardomain.resume import PointsFile
from stardomain.settings import EvalSettings

State = dict[str, torch.Tensor]
SPLITS = ("train", "test")


def loss_barrier(ts: Sequence[float], losses: Sequence[float]) -> float:
    """max_t [L(t) - ((1-t) L(0) + t L(1))], floored at 0; `ts` must start at 0 and end at 1."""
    ts, losses = np.asarray(ts, float), np.asarray(losses, float)
    line = (1 - ts) * losses[0] + ts * losses[-1]
    return float(max(0.0, np.max(losses - line)))


def accuracy_barrier_pp(ts: Sequence[float], accuracies: Sequence[float]) -> float:
    """Largest drop of accuracy (fractions in, percentage points out) below the endpoint line."""
    ts, acc = np.asarray(ts, float), np.asarray(accuracies, float)
    line = (1 - ts) * acc[0] + ts * acc[-1]
    return float(max(0.0, np.max(line - acc)) * 100)


class Subset:
    """The first `n` images of a split in a fixed random order (`seed`), as batches; iterating it
    again gives the same images. `n` None: the whole split in file order."""

    def __init__(self, data: Data, split: str, batch_size: int, n: int | None, seed: int):
        self.data, self.split, self.batch_size, self.n, self.seed = data, split, batch_size, n, seed

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.n is None:
            yield from self.data.batches(self.split, self.batch_size, shuffle=False)
            return
        # a fresh iterator with the same seed: the same shuffled order, so the same images
        batches: Iterable = self.data.batches(self.split, self.batch_size, True, self.seed)
        left = self.n
        for x, y in batches:
            if left <= 0:
                break
            yield x[:left], y[:left]
            left -= len(y)


def curve(
    model: nn.Module,
    state_a: State,
    state_b: State,
    data: Data,
    settings: EvalSettings,
    *,
    progress: Callable | None = None,
    resume: PointsFile | None = None,
) -> list[dict]:
    """Loss and accuracy of theta(t) at the t of `settings.grid`, on the train split (no
    augmentation) and the test split (docs/method.md, "Barriers").

    BN statistics are re-estimated at interior t (not at the endpoints, which keep their own) on
    `settings.bn_batches` shuffled training batches of `settings.bn_batch_size` (None: a full
    pass), in a fixed order from `settings.seed`.
    resume: side file of finished points: its points are not evaluated again, and every newly
    finished point is added to it (a job stopped at a time limit continues at the next t).
    `settings.train_subset` / `test_subset`: evaluate on that many images of the split, the same
    seeded random subset at every t and for both endpoints (None: the whole split, the paper's
    protocol). Returns long-format rows: t, split, loss, accuracy.
    """
    keys = param_keys(model)
    # private copies: the states may alias the model's own tensors, which evaluation overwrites
    state_a = {k: v.detach().clone() for k, v in state_a.items()}
    state_b = {k: v.detach().clone() for k, v in state_b.items()}
    splits = {  # the train split is never augmented here
        "train": Subset(data, "train", settings.batch_size, settings.train_subset, settings.seed),
        "test": Subset(data, "test", settings.batch_size, settings.test_subset, settings.seed),
    }
    rows = resume.load() if resume is not None else []
    done = {r["t"] for r in rows}
    todo = [float(t) for t in settings.grid if float(t) not in done]
    for t in progress(todo, desc="t") if progress else todo:
        interior = 0.0 < t < 1.0
        # BN statistics from the augmented training loader, as the paper
        bn_loader = (
            data.batches("train", settings.bn_batch_size, True, settings.seed, augment=True)
            if interior
            else None
        )
        state = interpolate_state(state_a, state_b, t, keys)
        metrics = evaluate_at(model, state, splits, bn_loader, settings.bn_batches)
        for split, (loss, acc) in metrics.items():
            rows.append(dict(t=t, split=split, loss=loss, accuracy=acc))
        if resume is not None:
            resume.save(rows)
    return rows


def barriers(rows: list[dict]) -> dict[str, float]:
    """Barrier and endpoint metrics of one curve (rows as returned by `curve`)."""
    out: dict[str, float] = {}
    for split in SPLITS:
        part = sorted((r for r in rows if r["split"] == split), key=lambda r: r["t"])
        ts = [r["t"] for r in part]
        loss = [r["loss"] for r in part]
        acc = [r["accuracy"] for r in part]
        out[f"barrier_loss_{split}"] = loss_barrier(ts, loss)
        out[f"barrier_accuracy_drop_pp_{split}"] = accuracy_barrier_pp(ts, acc)
        out[f"loss_{split}_a"], out[f"loss_{split}_b"] = loss[0], loss[-1]
        out[f"accuracy_{split}_a"], out[f"accuracy_{split}_b"] = acc[0], acc[-1]
    return out
