"""Typed settings at the library's edge: frozen views of the config's `eval`, `align` and `ensemble`.

The workflow passes plain dicts (Snakemake's `params:`, whose values decide what reruns); a stage
function turns them into these dataclasses once, and everything below it reads attributes with
one name per config key (`eval.bn_batches` is `EvalSettings.bn_batches` down to
`evaluate.reestimate_bn(..., bn_batches=)`). Building a view never changes a value, so the numbers
and the rerun behaviour are those of the dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


def _pick(cls, cfg: dict) -> dict:
    """The entries of `cfg` that `cls` has fields for (absent optional ones keep their defaults)."""
    return {f.name: cfg[f.name] for f in fields(cls) if f.name in cfg}


@dataclass(frozen=True)
class EvalSettings:
    """`eval:` of an experiment: how a pair's interpolation curve is evaluated (docs/method.md)."""

    grid: tuple[float, ...]  # the t values, from 0 to 1
    batch_size: int  # evaluation batch size (changes no number)
    bn_batch_size: int  # batch size of BN re-estimation at interior t
    bn_batches: int | None  # batches of BN re-estimation; None: one full pass of the training set
    seed: int  # order of the BN batches and of the evaluation subsets
    train_subset: int | None = None  # images of the train split evaluated (None: all)
    test_subset: int | None = None  # images of the test split evaluated (None: all)

    @classmethod
    def of(cls, cfg: dict) -> EvalSettings:
        picked = _pick(cls, cfg)
        return cls(**dict(picked, grid=tuple(float(t) for t in cfg["grid"])))


@dataclass(frozen=True)
class AlignSettings:
    """`align:` of an experiment: how model b is matched onto model a (docs/alignment.md)."""

    matcher: str  # weight_matching | rebasin
    max_iter: int
    seed: int
    bn_batch_size: int = 128  # rebasin only: BN re-estimation of the moved model

    @classmethod
    def of(cls, cfg: dict) -> AlignSettings:
        return cls(**_pick(cls, cfg))


@dataclass(frozen=True)
class EnsembleSettings:
    """`ensemble:` of an experiment: the star vs ensembles and BMA comparison."""

    bma_samples: int
    ece_bins: int
    seed: int

    @classmethod
    def of(cls, cfg: dict) -> EnsembleSettings:
        return cls(**_pick(cls, cfg))
