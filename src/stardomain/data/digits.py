"""scikit-learn's digits: the embedded default data set (no download, 1,797 8x8 images)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from pathlib import Path

import numpy as np
import torch

from stardomain.data.core import Data, Split
from stardomain.io import atomic_path


def _cache_dir() -> Path:
    """Where derived, re-creatable data is cached: $STARDOMAIN_CACHE, else ~/.cache/stardomain."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stardomain"
    return Path(os.environ.get("STARDOMAIN_CACHE") or default)


def _digits_split(test_fraction: float, split_seed: int) -> dict[str, np.ndarray]:
    """scikit-learn's digits split by a stratified `train_test_split`; x in 0..16, float64.

    Importing scikit-learn costs about a second, most of a small job's start-up, so the split is
    cached as .npz (keyed by the scikit-learn version and the split's settings); an unreadable or
    unwritable cache only means recomputing it.
    """
    version = importlib.metadata.version("scikit-learn")
    path = _cache_dir() / f"digits-sklearn{version}-test{test_fraction}-seed{split_seed}.npz"
    with contextlib.suppress(OSError, ValueError, KeyError), np.load(path) as cached:
        return {k: cached[k] for k in ("x_tr", "x_te", "y_tr", "y_te")}
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=split_seed, stratify=y
    )
    split = dict(x_tr=x_tr, x_te=x_te, y_tr=y_tr, y_te=y_te)
    with contextlib.suppress(OSError), atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **split)
    return split


def load_digits(test_fraction: float, split_seed: int) -> Data:
    """scikit-learn's digits with a stratified split fixed by `split_seed`.

    1,797 8x8 greyscale images, pixels scaled to [0, 1] and standardised with the training split's
    mean and std; flattened to 64 features. No download, no augmentation.
    """
    split = _digits_split(test_fraction, split_seed)
    x_tr = torch.tensor(split["x_tr"], dtype=torch.float32) / 16.0  # pixel values are 0..16
    x_te = torch.tensor(split["x_te"], dtype=torch.float32) / 16.0
    mean, std = x_tr.mean(), x_tr.std()
    return Data(
        train=Split((x_tr - mean) / std, torch.tensor(split["y_tr"], dtype=torch.long)),
        test=Split((x_te - mean) / std, torch.tensor(split["y_te"], dtype=torch.long)),
        in_shape=(64,),
        num_classes=10,
    )
