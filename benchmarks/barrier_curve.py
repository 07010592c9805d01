"""Benchmark: one pair's interpolation curve vs the forward passes it cannot avoid.

floor  = for every grid point: the BN re-estimation forward passes (interior t, train mode) plus
         one eval pass over the train split and one over the test split, on a fixed model;
curve  = stardomain.barrier.curve for the same pair, grid and batches (interpolating, loading
         states, resetting BN statistics, bookkeeping included).
Both are timed interleaved for --repeats rounds (benchmarks/_timing.py: medians, spreads, the
ratio's spread over rounds and a verdict against the goal only when that spread allows one).

Second part: the trade-off of BN re-estimation on k batches vs a full pass, on two trained
digits MLPs with BatchNorm (the default experiment's data and recipe): barrier error vs time.

Usage: python benchmarks/barrier_curve.py [--repeats 7] [--threads 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from _timing import compare, compare_text, interleaved, summary, summary_text, write_json

from stardomain import barrier
from stardomain.data import Data, Split, load_data
from stardomain.models import build_model, has_batchnorm
from stardomain.settings import DataSettings, EvalSettings, ModelSettings, Recipe
from stardomain.train import train_regular

GRID = tuple(i / 10 for i in range(11))
RECIPE = Recipe(epochs=30)
GOAL = "<= 1.2"  # curve / floor of the CNN (docs/performance.md)


@torch.no_grad()
def floor(model, data: Data, eval_bs: int, bn_bs: int, bn_batches: int | None) -> None:
    """The unavoidable forward passes of one 11-point curve (BN passes only if the model has BN)."""
    bn = has_batchnorm(model)
    for t in GRID:
        if bn and 0 < t < 1:
            model.train()
            for i, (x, _) in enumerate(data.batches("train", bn_bs, True, 0)):
                if bn_batches is not None and i >= bn_batches:
                    break
                model(x)
        model.eval()
        for split in ("train", "test"):
            for x, _ in data.batches(split, eval_bs, False):
                model(x)


def fake_images(n_train: int, n_test: int) -> Data:
    """Random 3x32x32 images (CIFAR-sized) for a conv model; timing only."""
    gen = torch.Generator().manual_seed(0)

    def split(n):
        return Split(
            torch.randn(n, 3, 32, 32, generator=gen), torch.randint(0, 10, (n,), generator=gen)
        )

    return Data(train=split(n_train), test=split(n_test), in_shape=(3, 32, 32), num_classes=10)


def timings(cfg: dict, data: Data, repeats: int, eval_bs=1024, bn_bs=128, bn_batches=None):
    """Seconds of the curve and of its forward floor, interleaved for `repeats` rounds."""
    a = build_model(ModelSettings.of(cfg), data.in_shape, data.num_classes, 0)
    b = build_model(ModelSettings.of(cfg), data.in_shape, data.num_classes, 1)
    sa, sb = a.state_dict(), b.state_dict()
    return interleaved(
        {
            "curve": lambda: barrier.curve(
                a, sa, sb, data, EvalSettings(GRID, eval_bs, bn_bs, bn_batches, 0)
            ),
            "floor": lambda: floor(b, data, eval_bs, bn_bs, bn_batches),
        },
        repeats,
    )


def bn_tradeoff(data: Data) -> list[tuple]:
    cfg = dict(name="mlp", width=8, depth=2, batchnorm=True)
    states = []
    for seed in (0, 1):
        m = build_model(ModelSettings.of(cfg), data.in_shape, 10, seed)
        train_regular(m, data, RECIPE, seed)
        states.append(m.state_dict())
    model = build_model(ModelSettings.of(cfg), data.in_shape, 10, 0)
    rows = []
    for k in (None, 1, 2, 4, 8):
        start = time.perf_counter()
        out = barrier.barriers(
            barrier.curve(model, *states, data, EvalSettings(GRID, 1024, 128, k, 0))
        )
        rows.append(
            (k, out["barrier_loss_train"], out["barrier_loss_test"], time.perf_counter() - start)
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, CPU, {args.threads} threads, {args.repeats} interleaved "
          f"rounds (curve floor ...), load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    digits = load_data(DataSettings.of(dict(name="digits", test_fraction=0.2, split_seed=0)))
    cases = [  # (key, label, model, data, goal of curve / floor)
        ("mlp", "MLP 64-8-8-10, digits, no BN", dict(name="mlp", width=8, depth=2), digits, None),
        ("mlp_bn", "MLP 64-8-8-10 + BN, digits", dict(name="mlp", width=8, depth=2, batchnorm=True),
         digits, None),
        ("cnn", "small CNN + BN, 1024/512 fake 32x32 images", dict(name="cnn"),
         fake_images(1024, 512), GOAL),
    ]  # fmt: skip
    out: dict = dict(torch=torch.__version__, threads=args.threads, repeats=args.repeats)
    for key, label, cfg, data, goal in cases:
        times = timings(cfg, data, args.repeats)
        out[key] = dict(model=label, seconds=summary(times),
                        ratio=compare(times, "curve", "floor", goal))  # fmt: skip
        print(f"{label}, ms: median (interquartile range, min-max)")
        print(summary_text(times))
        print(f"  {compare_text(out[key]['ratio'])}")
    rows = bn_tradeoff(digits)
    full = rows[0]
    out["bn_batches"] = [
        dict(zip(("k", "train", "test", "seconds"), row, strict=True)) for row in rows
    ]
    print("BN re-estimation batches (128 images each) vs full pass, MLP+BN pair on digits:")
    for k, train, test, seconds in rows:
        print(
            f"  k={'full' if k is None else k:>4}: train-loss barrier {train:.4f} "
            f"(error {abs(train - full[1]):.4f}), test {test:.4f} (error {abs(test - full[2]):.4f}), "
            f"{1e3 * seconds:.0f} ms"
        )
    write_json(args.json, out)


if __name__ == "__main__":
    main()
