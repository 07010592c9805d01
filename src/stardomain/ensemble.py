"""Star model as ensemble substitute, and Bayesian model averaging (BMA) over the star domain.

PAPER.md, "Other facts": the star is compared with a single regular model and with a deep ensemble
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
from scipy.stats import rankdata
from torch import nn

from stardomain import io
from stardomain.data import Batches, Data, load_data
from stardomain.evaluate import interpolate_state, param_keys, reestimate_bn
from stardomain.models import build_model, has_batchnorm, model_spec
from stardomain.perm import apply_permutation, weight_matching

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
    """AUROC of the max-softmax confidence for "prediction is correct" (NaN if all right or wrong).

    Mann-Whitney form: (rank sum of correct - n_c (n_c + 1) / 2) / (n_c n_w), ties averaged.
    """
    confidence = probs.max(1)
    correct = probs.argmax(1) == labels
    n_c, n_w = int(correct.sum()), int((~correct).sum())
    if n_c == 0 or n_w == 0:
        return float("nan")
    ranks = rankdata(confidence)
    return float((ranks[correct].sum() - n_c * (n_c + 1) / 2) / (n_c * n_w))


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
    model: nn.Module, state: State, x: torch.Tensor, bn: Batches | None, bn_batches: int | None
) -> torch.Tensor:
    """Softmax outputs (n, classes) of `state`; BN statistics re-estimated on `bn` when given."""
    model.load_state_dict(state)
    if bn is not None and has_batchnorm(model):
        reestimate_bn(model, bn, bn_batches)
    model.eval()
    return F.softmax(model(x), dim=1)


def bma_probs(
    model: nn.Module,
    star: State,
    aligned_anchors: list[State],
    samples: int,
    seed: int,
    x: torch.Tensor,
    bn: Batches | None,
    bn_batches: int | None,
) -> torch.Tensor:
    """Mean softmax over `samples` draws theta(t) = (1-t) star + t anchor_n, n uniform, t ~ U[0,1]."""
    rng = np.random.default_rng(seed)
    keys = param_keys(model)
    total = None
    for _ in range(samples):
        n, t = int(rng.integers(len(aligned_anchors))), float(rng.uniform())
        probs = predict(
            model, interpolate_state(star, aligned_anchors[n], t, keys), x, bn, bn_batches
        )
        total = probs if total is None else total + probs
    return total / samples


def compare(
    model: nn.Module,
    data: Data,
    heldout: dict[str, State],
    stars: dict[str, tuple[State, dict[str, State]]],
    settings: dict,
) -> list[dict]:
    """Metric rows on the test split: each held-out model alone, and per star: the star, the deep
    ensemble of its anchors and BMA over its domain.

    stars: star id -> (star state, {anchor id: anchor state}). settings: {model, align, eval,
    ensemble} as in the config. Rows: method, star, model, members, and `metrics`.
    """
    ev, ens, align = settings["eval"], settings["ensemble"], settings["align"]
    x, labels = data.test.x, data.test.y.cpu().numpy()
    # BN statistics of interpolated models: the augmented training loader, as in barrier.curve
    bn = data.batches("train", ev["bn_batch_size"], True, ev["seed"], augment=True)
    spec = model_spec(settings["model"], model, data.in_shape)

    def row(method: str, star: str, name: str, members: int, probs: torch.Tensor) -> dict:
        scores = metrics(probs.cpu().numpy(), labels, ens["ece_bins"])
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
                weight_matching(spec, star, s, seed=align["seed"] + i, max_iter=align["max_iter"]),
                s,
            )
            for i, s in enumerate(anchors.values())
        ]
        probs = bma_probs(
            model, star, aligned, ens["bma_samples"], ens["seed"], x, bn, ev["bn_batches"]
        )
        rows.append(row("bma", sid, f"star domain of {sid}", ens["bma_samples"], probs))
    return rows


def run_ensemble(
    out_csv: str,
    heldout: dict[str, str],
    stars: dict[str, str],
    anchors: dict[str, list[str]],
    paths: dict[str, str],
    settings: dict,
    device: str,
) -> None:
    """File stage of `compare`: heldout/stars map model ids to files, anchors maps a star id to its
    anchor ids, and `paths` maps every anchor id to its file. Writes one CSV row per evaluation.
    """
    import pandas as pd

    from stardomain.pipeline import arch_of, resolve_device

    device = resolve_device(device)
    data = load_data(settings["data"], device)
    arch = arch_of(settings["model"], data)

    def load(path: str) -> State:
        return {k: v.to(device) for k, v in io.load_model(path, arch)["state"].items()}

    model = build_model(settings["model"], data.in_shape, data.num_classes, 0).to(device)
    star_states = {
        sid: (load(path), {a: load(paths[a]) for a in anchors[sid]}) for sid, path in stars.items()
    }
    rows = compare(model, data, {r: load(p) for r, p in heldout.items()}, star_states, settings)
    table = pd.DataFrame([{"experiment": settings["experiment"], **r} for r in rows])
    with io.atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
