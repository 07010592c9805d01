"""Star model as ensemble substitute, and Bayesian model averaging (BMA) over the star domain.

The paper's §5 (docs/method.md, "Star models as ensembles"): the star is compared with a single regular model and with a deep ensemble
of its anchors (average of softmax outputs), and BMA over the star domain samples an anchor n
uniformly and t ~ U[0, 1], evaluates theta(t) = (1-t) theta* + t pi_n(theta_n) with the anchor
permuted onto the star, and averages the softmax outputs. Reported: accuracy, negative
log-likelihood, expected calibration error (ECE; Guo et al., ICML 2017, equal-width confidence bins)
and misclassification AUROC (the max-softmax confidence separating correct from wrong predictions;
Hendrycks & Gimpel, ICLR 2017).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from stardomain.data.core import Batches, Data
from stardomain.evaluate import interpolate_state, param_keys, reestimate_bn
from stardomain.models import has_batchnorm
from stardomain.perm import PermutationSpec, apply_permutation, weight_matching
from stardomain.settings import AlignSettings, EnsembleSettings, EvalSettings

State = dict[str, torch.Tensor]


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE = sum over bins b of (n_b / n) |accuracy_b - confidence_b|; probs (n, classes)."""
    confidence = probs.max(1)
    correct = probs.argmax(1) == labels
    # bin i holds confidences in (i/bins, (i+1)/bins]; confidence is >= 1/classes > 0
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def misclassification_auroc(probs: np.ndarray, labels: np.ndarray) -> float:
    """AUROC of the max-softmax confidence for "prediction is correct" (NaN if all right or wrong);
    ties count one half (scikit-learn's `roc_auc_score`)."""
    correct = probs.argmax(1) == labels
    if correct.all() or not correct.any():
        return float("nan")
    return float(roc_auc_score(correct, probs.max(1)))


def metrics(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict[str, float]:
    """Accuracy (fraction), NLL (nats), ECE (fraction) and misclassification AUROC of `probs`."""
    picked = probs[np.arange(len(labels)), labels]
    return dict(
        accuracy=float((probs.argmax(1) == labels).mean()),
        nll=float(-np.log(np.clip(picked, 1e-12, None)).mean()),
        ece=expected_calibration_error(probs, labels, bins),
        auroc_misclassification=misclassification_auroc(probs, labels),
    )


@torch.no_grad()
def predict(
    model: nn.Module,
    state: State,
    x: torch.Tensor,
    bn_loader: Batches | None,
    bn_batches: int | None,
) -> torch.Tensor:
    """Softmax outputs (n, classes) of `state`; BN statistics re-estimated on `bn_batches` batches
    of `bn_loader` when one is given."""
    model.load_state_dict(state)
    if bn_loader is not None and has_batchnorm(model):
        reestimate_bn(model, bn_loader, bn_batches)
    model.eval()
    return F.softmax(model(x), dim=1)


def bma_probs(
    model: nn.Module,
    star: State,
    aligned_anchors: list[State],
    samples: int,
    seed: int,
    x: torch.Tensor,
    bn_loader: Batches | None,
    bn_batches: int | None,
) -> torch.Tensor:
    """Mean softmax over `samples` draws theta(t) = (1-t) star + t anchor_n, n uniform, t ~ U[0,1]."""
    rng = np.random.default_rng(seed)
    keys = param_keys(model)
    total = None
    for _ in range(samples):
        n, t = int(rng.integers(len(aligned_anchors))), float(rng.uniform())
        probs = predict(
            model, interpolate_state(star, aligned_anchors[n], t, keys), x, bn_loader, bn_batches
        )
        total = probs if total is None else total + probs
    return total / samples


def compare(
    model: nn.Module,
    spec: PermutationSpec,
    data: Data,
    heldout: dict[str, State],
    stars: dict[str, tuple[State, dict[str, State]]],
    *,
    evaluation: EvalSettings,
    align: AlignSettings,
    ensemble: EnsembleSettings,
) -> list[dict]:
    """Metric rows on the test split: each held-out model alone, and per star: the star, the deep
    ensemble of its anchors and BMA over its domain.

    stars: star id -> (star state, {anchor id: anchor state}); `spec`: the model's permutation
    spec (anchors are weight-matched onto the star). BN statistics of interpolated models come
    from `evaluation.bn_batches` batches of the augmented training loader, as in `barrier.curve`.
    Rows: method, star, model, members, and `metrics`.
    """
    x, labels = data.test.x, data.test.y.cpu().numpy()
    bn_loader = data.batches("train", evaluation.bn_batch_size, True, evaluation.seed, augment=True)

    def row(method: str, star: str, name: str, members: int, probs: torch.Tensor) -> dict:
        scores = metrics(probs.cpu().numpy(), labels, ensemble.ece_bins)
        return dict(method=method, star=star, model=name, members=members, split="test", **scores)

    rows = [
        row("single", "", rid, 1, predict(model, state, x, None, None))
        for rid, state in heldout.items()
    ]
    for sid, (star, anchors) in stars.items():
        rows.append(row("star", sid, sid, 1, predict(model, star, x, None, None)))
        mean = sum(predict(model, s, x, None, None) for s in anchors.values()) / len(anchors)
        rows.append(row("ensemble", sid, f"anchors of {sid}", len(anchors), mean))
        aligned = [
            apply_permutation(
                spec,
                weight_matching(spec, star, s, seed=align.seed + i, max_iter=align.max_iter),
                s,
            )
            for i, s in enumerate(anchors.values())
        ]
        probs = bma_probs(
            model,
            star,
            aligned,
            ensemble.bma_samples,
            ensemble.seed,
            x,
            bn_loader,
            evaluation.bn_batches,
        )
        rows.append(row("bma", sid, f"star domain of {sid}", ensemble.bma_samples, probs))
    return rows
