"""Regular training: the paper's SGD recipe (momentum, Nesterov, weight decay, cosine or step).

One function per concern: `make_optimizer`, `make_scheduler` (stepped once per batch), `train_step`
(one batch), and `train_regular`, which fits one model from its seed and returns its per-epoch
metrics. Mixed precision and channels-last (`train.amp`, `train.channels_last`): stardomain.precision.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from stardomain.data.core import Data
from stardomain.evaluate import evaluate
from stardomain.precision import FULL, Precision, backward_step
from stardomain.resume import ResumeFile
from stardomain.settings import Recipe


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def make_optimizer(params, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov, weight decay) or Adam from the training recipe."""
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=recipe.lr,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov and recipe.momentum > 0,
            weight_decay=recipe.weight_decay,
        )
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    raise ValueError(f"train.optimizer: unknown optimizer {recipe.optimizer!r}")


def lr_factor(recipe: Recipe, epochs: int, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the base lr after `step` batches: cosine to zero, step decay, or constant."""
    total = epochs * steps_per_epoch
    warmup = recipe.warmup_epochs * steps_per_epoch

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if recipe.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        if recipe.schedule == "step":
            epoch = step // steps_per_epoch
            return recipe.gamma ** sum(epoch >= m for m in recipe.milestones)
        return 1.0

    return factor


def make_scheduler(opt, recipe: Recipe, epochs: int, steps_per_epoch: int):
    """A LambdaLR stepped after every batch."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(recipe, epochs, steps_per_epoch))


def check_finite(loss: torch.Tensor, where: str) -> None:
    """Raise `TrainingDiverged` naming `where` if the loss is NaN or infinite."""
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"{where}: loss became {float(loss)}")


def epoch_row(
    model: nn.Module,
    data: Data,
    precision: Precision,
    sched,
    loss_sum: torch.Tensor,
    steps: int,
    loss_name: str,
    where: str,
) -> dict:
    """End of an epoch: refuse a non-finite summed loss, evaluate the test split; the history row."""
    check_finite(loss_sum, where)
    with precision.autocast():
        test_loss, test_acc = evaluate(model, data.batches("test", 1024, shuffle=False))
    return {
        "lr": sched.get_last_lr()[0],
        loss_name: float(loss_sum) / steps,
        "test_loss": test_loss,
        "test_accuracy": test_acc,
    }


def images_per_second(loss_sum: torch.Tensor, images: int, start: float) -> float:
    """Throughput of an epoch: `images` trained on since `start` (time.perf_counter), once the
    device has finished the epoch's queued steps (reading `loss_sum` waits for them)."""
    loss_sum.item()
    return images / max(time.perf_counter() - start, 1e-9)


def train_step(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    opt: torch.optim.Optimizer,
    sched,
    label_smoothing: float = 0.0,
    precision: Precision = FULL,
    scaler: torch.amp.GradScaler | None = None,
) -> torch.Tensor:
    """One SGD step on batch x (b, ...), y (b,); returns the batch's loss (detached, on device)."""
    with precision.autocast():
        loss = F.cross_entropy(model(precision.layout(x)), y, label_smoothing=label_smoothing)
    opt.zero_grad(set_to_none=True)
    backward_step(loss, opt, scaler)
    sched.step()
    return loss.detach()


def train_regular(
    model: nn.Module,
    data: Data,
    recipe: Recipe,
    seed: int,
    label: str = "regular",
    progress: Callable | None = None,
    resume: ResumeFile | None = None,
    precision: Precision | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train `model` in place with the recipe; data order drawn from `seed`.

    resume: side file saved after every epoch; if it holds this run's state, training continues
    at its next epoch (stardomain.resume).
    precision: None = `Precision.of(recipe, model's device)` (train.amp, train.channels_last).
    on_epoch: called after every epoch with its history row plus `images_per_s` (the log line,
    a tracker: stardomain.tracking); the throughput is not part of the history, which stays
    bitwise reproducible.
    Returns one dict per epoch: epoch, lr, train_loss (running mean over the epoch's batches),
    test_loss, test_accuracy.
    """
    device = next(model.parameters()).device
    precision = precision or Precision.of(recipe, device)
    precision.prepare(model)  # before the optimizer, whose buffers take the weights' layout
    torch.manual_seed(seed)  # dropout masks come from torch's global generator (resume restores it)
    batches = data.batches("train", recipe.batch_size, shuffle=True, seed=seed, augment=True)
    opt = make_optimizer(model.parameters(), recipe)
    sched = make_scheduler(opt, recipe, recipe.epochs, len(batches))
    scaler = precision.scaler()
    start, history = 0, []
    if resume is not None:
        start, history, _ = resume.restore(model, opt, sched, batches, scaler)
    epochs = range(start, recipe.epochs)
    for epoch in progress(epochs, desc=label) if progress else epochs:
        model.train()
        loss_sum = torch.zeros((), device=device)
        start_time, images = time.perf_counter(), 0
        for x, y in batches:
            loss_sum += train_step(  # stays on device: no sync per step
                model, x, y, opt, sched, recipe.label_smoothing, precision, scaler
            )
            images += len(y)
        speed = images_per_second(loss_sum, images, start_time)
        where = f"{label}, epoch {epoch}"
        row = epoch_row(model, data, precision, sched, loss_sum, len(batches), "train_loss", where)
        history.append(dict(epoch=epoch, **row))
        if on_epoch is not None:
            on_epoch(dict(history[-1], images_per_s=speed))
        if resume is not None:
            resume.save(epoch + 1, history, model, opt, sched, batches, scaler=scaler)
    precision.release(model)
    return history
