"""Starlight: train a star model against a set of anchors (Algorithm 1 of the paper;
docs/method.md, section 2).

The interpolated weights theta(t) = (1-t) theta + t theta_n are built with `torch.lerp` from the live
parameters, and the loss is computed by `torch.func.functional_call` at theta(t). Autograd through the
lerp gives exactly the gradient (1-t) * dL/dtheta(t) for the star (step 5); the anchor tensors are
constants. No model is copied per step: the forward pass reads a dict of tensors.

Mixed precision (`train.amp`, stardomain.precision): autocast wraps the forward pass and loss only;
theta(t) is built before it, in float32, so the factor (1-t) of the gradient is applied exactly as
at full precision; with fp16 the GradScaler's power-of-two scale cancels exactly on unscaling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from stardomain.data.core import Data
from stardomain.evaluate import reestimate_bn
from stardomain.models import has_batchnorm
from stardomain.perm import Perm, PermutationSpec, apply_permutation, weight_matching
from stardomain.precision import FULL, Precision, backward_step
from stardomain.resume import ResumeFile
from stardomain.settings import REALIGN, AlignSettings, Recipe, StarSettings
from stardomain.train import epoch_row, images_per_second, make_optimizer, make_scheduler

State = dict[str, torch.Tensor]
# When Starlight re-aligns its anchors (`star.realign`, stardomain.settings.REALIGN): the paper's
# text says at the start of every epoch; the authors' released ResNet-18 and DenseNet star configs
# never do (docs/fidelity.md).


def t_sampler(star: StarSettings, rng: np.random.Generator) -> Callable[[], float]:
    """Draws t per batch: `uniform` U[0,1], `beta` Beta(a, b), or `constant` t_constant."""
    scheme = star.t_sampling
    if scheme == "uniform":
        return lambda: float(rng.uniform())
    if scheme == "beta":
        a, b = star.beta
        return lambda: float(rng.beta(a, b))
    if scheme == "constant":
        return lambda: float(star.t_constant)
    raise ValueError(
        f"star.t_sampling: unknown scheme {scheme!r}; allowed: uniform, beta, constant"
    )


def align_anchors(
    spec: PermutationSpec,
    star_state: State,
    anchors: list[State],
    perms: list[Perm | None],
    seed: int,
    max_iter: int,
    workers: int = 1,
) -> list[Perm]:
    """Weight-match every anchor to the star, warm-started from its previous permutation.

    `workers` > 1 matches that many anchors at once in threads: the assignment problems (scipy,
    on the CPU even when the weights are on a GPU) release the GIL. Each anchor's matching is
    independent and deterministic, so the permutations do not depend on `workers`.
    """

    def match(i: int) -> Perm:
        return weight_matching(
            spec, star_state, anchors[i], seed=seed + i, max_iter=max_iter, init_perm=perms[i]
        )

    workers = min(workers, len(anchors))
    if workers <= 1:
        return [match(i) for i in range(len(anchors))]
    with ThreadPoolExecutor(workers, thread_name_prefix="align") as pool:
        return list(pool.map(match, range(len(anchors))))


def interpolated_loss(
    model: nn.Module,
    params: dict[str, torch.Tensor],
    anchor: State,
    scratch: State,
    t: float,
    x: torch.Tensor,
    y: torch.Tensor,
    mu_star: float = 0.0,
    label_smoothing: float = 0.0,
    precision: Precision = FULL,
) -> torch.Tensor:
    """Cross-entropy at theta(t) = (1-t) params + t anchor (steps 3-4), differentiable in params.

    params: the star's live parameters; anchor: the aligned anchor's parameters (constants);
    scratch: buffers the forward pass may overwrite (BN running stats), so nothing real changes.
    With mu_star > 0: (L(theta(t)) + mu L(theta)) / (1 + mu).
    precision: autocast of the forward passes (theta(t) itself is always built in float32).
    """
    # (step 3) torch.lerp(start, end, t) = start + t (end - start): d/d start = (1 - t)
    theta_t = {k: torch.lerp(p, anchor[k], t) for k, p in params.items()}
    with precision.autocast():
        # (step 4) BN layers run in train mode on batch statistics
        out = functional_call(model, {**theta_t, **scratch}, (x,))
        loss = F.cross_entropy(out, y, label_smoothing=label_smoothing)
        if mu_star > 0:
            own = functional_call(model, {**params, **scratch}, (x,))
            own_loss = F.cross_entropy(own, y, label_smoothing=label_smoothing)
            loss = (loss + mu_star * own_loss) / (1 + mu_star)
    return loss


def train_star(
    model: nn.Module,
    anchors: list[State],
    spec: PermutationSpec,
    data: Data,
    recipe: Recipe,
    star: StarSettings,
    align: AlignSettings,
    label: str = "star",
    progress: Callable | None = None,
    resume: ResumeFile | None = None,
    precision: Precision | None = None,
    workers: int = 1,
    on_epoch: Callable[[dict], None] | None = None,
) -> tuple[list[dict], list[Perm]]:
    """Algorithm 1: train `model` (already initialised from the star's seed) in place.

    anchors: state dicts of the N anchors, on the model's device.
    recipe: the training recipe (optimizer, schedule, batch size); `star.epochs` epochs.
    star: t sampling, `mu_star`, `realign` (REALIGN), `bn_batches`, and `seed` (the star's
    data order and (anchor, t) draws; its init is the caller's).
    align: the re-alignment's weight matching: `max_iter` (its visiting order is seeded from
    the star's seed, anchor n from seed + n).
    resume: side file saved after every epoch (with the anchor/t generator and the permutations);
    if it holds this run's state, training continues at its next epoch (stardomain.resume).
    precision: None = `Precision.of(recipe, model's device)` (train.amp, train.channels_last).
    workers: anchors re-aligned at once (threads; `align_anchors`); the result does not depend on it.
    on_epoch: as in `train.train_regular` (images/s of the whole epoch, re-alignment included).
    Dropout layers are active at theta(t) (and in the star's own forward with mu_star > 0), as
    in regular training; evaluation (test metrics, barriers) runs in eval mode, without them.
    Returns per-epoch metrics and each anchor's final permutation onto the star (none with
    realign "never").
    """
    realign, seed = star.realign, star.seed
    if realign not in REALIGN:
        raise ValueError(f"star.realign: unknown value {realign!r}; allowed: {list(REALIGN)}")
    device = next(model.parameters()).device
    precision = precision or Precision.of(recipe, device)
    precision.prepare(model)  # before params and optimizer, which take the weights' layout
    # dropout at theta(t) is active (train mode, as the authors' Starlight) and draws its masks
    # from torch's global generator: seed it so the star depends on its seed alone
    torch.manual_seed(seed)
    params = dict(model.named_parameters())
    # BN layers at theta(t) run in train mode and write batch statistics into whatever buffers they
    # are given: hand them a scratch copy (allocated once) so neither star nor anchors are touched.
    scratch = {k: v.detach().clone() for k, v in model.named_buffers()}
    rng = np.random.default_rng(seed)
    sample_t = t_sampler(star, rng)
    batches = data.batches("train", recipe.batch_size, shuffle=True, seed=seed, augment=True)
    epochs = star.epochs
    opt = make_optimizer(model.parameters(), recipe)
    sched = make_scheduler(opt, recipe, epochs, len(batches))
    mu, smooth = star.mu_star, recipe.label_smoothing
    scaler = precision.scaler()
    perms: list[Perm | None] = [None] * len(anchors)
    aligned: list[State] = []
    start, history = 0, []
    if resume is not None:
        start, history, extra = resume.restore(model, opt, sched, batches, scaler)
        if start > 0:
            rng.bit_generator.state = extra["rng"]
            perms = [p and {k: v.to(device) for k, v in p.items()} for p in extra["perms"]]
            scratch = {k: v.to(device) for k, v in extra["scratch"].items()}
    for epoch in progress(range(start, epochs), desc=label) if progress else range(start, epochs):
        start_time, images = time.perf_counter(), 0
        # (step 1) re-align every anchor to the current star: every epoch (the paper), before
        # the first epoch only ("once"), or never (anchors as trained; REALIGN)
        if realign == "every_epoch" or (epoch == 0 and realign == "once"):
            star_state = {k: v.detach() for k, v in model.state_dict().items()}
            perms = align_anchors(spec, star_state, anchors, perms, seed, align.max_iter, workers)
            aligned = []
        if not aligned:  # after a fresh alignment, on resuming, or at the start with "never"
            moved = (
                a if p is None else apply_permutation(spec, p, a)
                for p, a in zip(perms, anchors, strict=True)
            )
            aligned = [{k: precision.layout(m[k]) for k in params} for m in moved]
        model.train()
        loss_sum = torch.zeros((), device=device)
        for x, y in batches:
            # (step 2) one anchor n uniformly and one t per batch
            n = int(rng.integers(len(aligned)))
            t = sample_t()
            # (steps 3-4) loss at theta(t) = (1-t) theta + t theta_n
            x = precision.layout(x)
            loss = interpolated_loss(
                model, params, aligned[n], scratch, t, x, y, mu, smooth, precision
            )
            # (step 5) backward through the lerp yields (1-t) * grad L(theta(t)); plain optimizer step
            opt.zero_grad(set_to_none=True)
            backward_step(loss, opt, scaler)
            sched.step()
            loss_sum += loss.detach()  # stays on device: no sync per step
            images += len(y)
        # after each epoch: re-estimate the star's own BN statistics on training data, on the
        # augmented training loader as the paper; `bn_batches` bounds it in all but the last epoch
        if has_batchnorm(model):
            bn = data.batches("train", recipe.batch_size, True, seed + epoch, augment=True)
            bn_batches = None if epoch == epochs - 1 else star.bn_batches
            with precision.autocast():  # as the BN statistics of regular training
                reestimate_bn(model, bn, bn_batches)
        speed = images_per_second(loss_sum, images, start_time)
        where = f"{label}, epoch {epoch}"
        row = epoch_row(
            model, data, precision, sched, loss_sum, len(batches), "train_loss_interpolated", where
        )
        history.append(dict(epoch=epoch, **row))
        if on_epoch is not None:
            on_epoch(dict(history[-1], images_per_s=speed))
        if resume is not None:
            extra = dict(rng=rng.bit_generator.state, perms=perms, scratch=scratch)
            resume.save(epoch + 1, history, model, opt, sched, batches, extra, scaler)
    precision.release(model)
    return history, [p for p in perms if p is not None]
