"""Benchmark: our weight matching vs the `rebasin` 0.0.47 package, on CPU, side by side (issue 3).

Run: `python benchmarks/matching.py` (needs `pip install 'stardomain[rebasin]'`; `--no-rebasin`
prints ours only). Three parts, each measured in this one run on the same machine:

1. Cold-start matching time of two independently initialised full-size models, ResNet-18 (CIFAR)
   and VGG-11 (CIFAR, no BN): ours (tracing the spec + weight matching) vs rebasin's
   PermutationCoordinateDescent (its tracing + matching), both with at most 100 rounds.
2. Train-loss barrier (11-point grid, BN re-estimated at interior t) of one pair of trained small
   models (width-16 ResNet-18 and VGG-11 on scikit-learn's digits upsampled to 3x32x32): naive,
   after our matcher, after rebasin (+ BN statistics re-estimated on the train split, as the
   authors did). Also each matcher's max |f_perm(x) - f(x)| in eval mode and units moved.
3. Starlight: one full-size ResNet-18 star epoch against four anchors on small fake data, then
   re-aligning one anchor to the moved star cold (from the identity) vs warm (from the previous
   epoch's permutation), and all four warm one after another vs up to four at a time in threads;
   projected re-alignment time per epoch for N = 50 anchors.

Timings are wall-clock on whatever CPU runs this (the header prints it); the machine may be shared,
so compare the two matchers only within one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from stardomain import barrier
from stardomain.data import Data, Split, load_data
from stardomain.evaluate import reestimate_bn
from stardomain.models import build_model
from stardomain.perm import apply_permutation, fraction_moved, spec_from_trace, weight_matching
from stardomain.perm.rebasin import rebasin_align, units_moved
from stardomain.starlight import align_anchors, train_star
from stardomain.train import DEFAULT_RECIPE, train_regular

RECIPE = dict(DEFAULT_RECIPE, epochs=8, batch_size=64)
MODELS = {
    "ResNet-18 (CIFAR)": dict(name="resnet18", width=64),
    "VGG-11 (CIFAR)": dict(name="vgg", depth=11, batchnorm=False, width=64),
}
SMALL = {
    "ResNet-18 (CIFAR), width 16": dict(name="resnet18", width=16),
    "VGG-11 (CIFAR), width 16": dict(name="vgg", depth=11, batchnorm=False, width=16),
}
IN_SHAPE = (3, 32, 32)


def digits32() -> Data:
    """scikit-learn's digits, 8x8 grey upsampled to 3x32x32 (CIFAR-shaped, no download)."""
    digits = load_data({"name": "digits", "test_fraction": 0.2, "split_seed": 0})

    def up(split: Split) -> Split:
        x = F.interpolate(split.x.reshape(-1, 1, 8, 8), size=32, mode="bilinear")
        return Split(x.repeat(1, 3, 1, 1).contiguous(), split.y)

    return Data(up(digits.train), up(digits.test), IN_SHAPE, 10)


def ours(cfg: dict, target: dict, source: dict, init_perm=None) -> tuple[dict, float, float]:
    """Our matcher, from nothing: returns perm, seconds tracing, seconds matching."""
    start = time.perf_counter()
    spec = spec_from_trace(build_model(cfg, IN_SHAPE, 10, 0), IN_SHAPE).spec
    traced = time.perf_counter()
    perm = weight_matching(spec, target, source, seed=0, max_iter=100, init_perm=init_perm)
    return perm, traced - start, time.perf_counter() - traced


def theirs(cfg: dict, target: dict, source: dict) -> tuple[dict, float]:
    """rebasin's matcher: returns the moved source state (BN stale) and seconds."""
    model_a, model_b = build_model(cfg, IN_SHAPE, 10, 0), build_model(cfg, IN_SHAPE, 10, 0)
    model_a.load_state_dict(target)
    model_b.load_state_dict(source)
    start = time.perf_counter()
    rebasin_align(model_a, model_b, torch.randn(2, *IN_SHAPE), max_iter=100)
    return {
        k: v.detach().clone() for k, v in model_b.state_dict().items()
    }, time.perf_counter() - start


def part_speed(use_rebasin: bool) -> None:
    print("\n== 1. cold-start matching time, two independently initialised models (s)")
    print(
        f"{'model':<22} {'ours: trace':>12} {'ours: match':>12} {'ours: total':>12} {'rebasin':>10} {'speed-up':>9}"
    )
    for label, cfg in MODELS.items():
        a, b = (build_model(cfg, IN_SHAPE, 10, seed).state_dict() for seed in (1, 2))
        _, t_trace, t_match = ours(cfg, a, b)
        total = t_trace + t_match
        t_rebasin = theirs(cfg, a, b)[1] if use_rebasin else float("nan")
        print(
            f"{label:<22} {t_trace:>12.2f} {t_match:>12.2f} {total:>12.2f} {t_rebasin:>10.2f} {t_rebasin / total:>8.1f}x"
        )


def barrier_of(cfg: dict, data: Data, a: dict, b: dict) -> float:
    model = build_model(cfg, IN_SHAPE, 10, 0)
    rows = barrier.curve(model, a, b, [i / 10 for i in range(11)], data, 512, 128, None, seed=0)
    return barrier.barriers(rows)["barrier_loss_train"]


def output_change(cfg: dict, before: dict, after: dict, x: torch.Tensor) -> float:
    model = build_model(cfg, IN_SHAPE, 10, 0).eval()
    with torch.no_grad():
        model.load_state_dict(before)
        y0 = model(x)
        model.load_state_dict(after)
        return float((model(x) - y0).abs().max())


def part_barrier(use_rebasin: bool) -> None:
    data = digits32()
    print(
        f"\n== 2. train-loss barrier of a trained pair ({RECIPE['epochs']} epochs on digits at 3x32x32)"
    )
    print(f"{'model':<30} {'matcher':<16} {'barrier':>8} {'max|df|':>9} {'moved':>6} {'time s':>7}")
    for label, cfg in SMALL.items():
        states = []
        for seed in (1, 2):
            model = build_model(cfg, IN_SHAPE, 10, seed)
            history = train_regular(model, data, RECIPE, seed, label)
            states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        a, b = states
        x = data.test.x[:256]
        spec = spec_from_trace(build_model(cfg, IN_SHAPE, 10, 0), IN_SHAPE).spec
        print(f"{label:<30} {'none':<16} {barrier_of(cfg, data, a, b):>8.3f} {0:>9.1e} {0:>6.2f} {0:>7.1f}"
              f"   (test acc {history[-1]['test_accuracy']:.3f})")  # fmt: skip
        perm, t_trace, t_match = ours(cfg, a, b)
        moved = apply_permutation(spec, perm, b)
        print(f"{'':<30} {'weight_matching':<16} {barrier_of(cfg, data, a, moved):>8.3f} "
              f"{output_change(cfg, b, moved, x):>9.1e} {fraction_moved(perm):>6.2f} {t_trace + t_match:>7.1f}")  # fmt: skip
        if use_rebasin:
            moved_r, seconds = theirs(cfg, a, b)
            change_stale = output_change(cfg, b, moved_r, x)
            model = build_model(cfg, IN_SHAPE, 10, 0)
            model.load_state_dict(moved_r)
            reestimate_bn(model, data.batches("train", 128, shuffle=True, seed=0))
            moved_r = {k: v.detach().clone() for k, v in model.state_dict().items()}
            print(f"{'':<30} {'rebasin+BN':<16} {barrier_of(cfg, data, a, moved_r):>8.3f} "
                  f"{output_change(cfg, b, moved_r, x):>9.1e} {units_moved(spec, b, moved_r):>6.2f} {seconds:>7.1f}"
                  f"   (max|df| before BN re-estimation {change_stale:.1e})")  # fmt: skip


def similarity(spec, target: dict, source: dict, perm: dict) -> float:
    """Weight matching's objective: sum over matched tensors of <target, permuted source>."""
    moved = apply_permutation(spec, perm, source)
    keys = [k for k in spec.axes if k not in spec.evidence_free]
    return float(sum((target[k].double() * moved[k].double()).sum() for k in keys))


def assignment_seconds(work) -> float:
    """Seconds `work()` spends in scipy's linear_sum_assignment: the part of weight matching that
    runs on the CPU whatever the weights' device (timed through a wrapper around `_assign`)."""
    from stardomain.perm import matching

    spent = [0.0]
    original = matching._assign

    def timed(cost):
        start = time.perf_counter()
        try:
            return original(cost)
        finally:
            spent[0] += time.perf_counter() - start

    matching._assign = timed
    try:
        work()
    finally:
        matching._assign = original
    return spent[0]


def starlight_realign(
    cfg: dict,
    data: Data,
    recipe: dict,
    device: torch.device | str = "cpu",
    sync=lambda: None,
    n_anchors: int = 2,
    workers: int = 2,
) -> dict:
    """One Starlight epoch of a fresh star against `n_anchors` anchors, then re-aligning them.

    Anchor 0 re-aligned cold (from the identity) and warm (from the epoch's own permutation, as
    Starlight does at the next epoch); then every anchor warm, one after another and `workers` at a
    time in threads (`align_anchors`), alternately, median of 3 each. `sync` waits for the device
    before each clock reading. Returns seconds (epoch_s, cold_s, warm_s, serial_s, threads_s for
    all anchors, assign_s: serial's time in scipy's assignment solver), whether cold and warm found the same permutation and whether threads gave
    serial's, the fraction of units whose match changed in the epoch, and the matching objective
    of cold and warm.
    """
    anchors = [
        {k: v.to(device) for k, v in build_model(cfg, IN_SHAPE, 10, seed).state_dict().items()}
        for seed in range(1, n_anchors + 1)
    ]
    star = build_model(cfg, IN_SHAPE, 10, 0).to(device)
    spec = spec_from_trace(build_model(cfg, IN_SHAPE, 10, 0), IN_SHAPE).spec
    star_cfg = dict(epochs=1, t_sampling="uniform", beta=[2.0, 2.0], t_constant=0.5, mu_star=0.0,
                    realign="every_epoch", seed=0)  # fmt: skip
    sync()
    start = time.perf_counter()
    _, perms = train_star(star, anchors, spec, data, recipe, star_cfg, dict(max_iter=100), seed=0)
    sync()
    epoch = time.perf_counter() - start
    state = {k: v.detach() for k, v in star.state_dict().items()}
    start = time.perf_counter()
    cold = weight_matching(spec, state, anchors[0], seed=0)
    sync()
    t_cold = time.perf_counter() - start
    start = time.perf_counter()
    warm = weight_matching(spec, state, anchors[0], seed=0, init_perm=perms[0])
    sync()
    t_warm = time.perf_counter() - start
    changed = sum(int((warm[p] != perms[0][p]).sum()) for p in warm) / sum(map(len, warm.values()))
    runs: dict[int, list[float]] = {1: [], workers: []}
    found = {}
    for _ in range(3):
        for w in runs:
            start = time.perf_counter()
            found[w] = align_anchors(spec, state, anchors, perms, 0, 100, workers=w)
            sync()
            runs[w].append(time.perf_counter() - start)
    assign_s = assignment_seconds(lambda: align_anchors(spec, state, anchors, perms, 0, 100))
    return dict(
        epoch_s=epoch,
        assign_s=assign_s,
        cold_s=t_cold,
        warm_s=t_warm,
        n_anchors=n_anchors,
        workers=workers,
        serial_s=statistics.median(runs[1]),
        threads_s=statistics.median(runs[workers]),
        threads_same=all(
            torch.equal(a[p], b[p])
            for a, b in zip(found[1], found[workers], strict=True)
            for p in a
        ),
        same=all(torch.equal(cold[p], warm[p]) for p in cold),
        changed=changed,
        objective_cold=similarity(spec, state, anchors[0], cold),
        objective_warm=similarity(spec, state, anchors[0], warm),
    )


def part_starlight(n_anchors: int = 50) -> None:
    cfg = MODELS["ResNet-18 (CIFAR)"]
    gen = torch.Generator().manual_seed(0)
    fake = Split(
        torch.randn(256, *IN_SHAPE, generator=gen), torch.randint(0, 10, (256,), generator=gen)
    )
    data = Data(fake, Split(fake.x[:64], fake.y[:64]), IN_SHAPE, 10)
    workers = min(4, os.cpu_count() or 1)
    r = starlight_realign(
        cfg, data, dict(RECIPE, lr=0.1, batch_size=64), n_anchors=4, workers=workers
    )
    print(f"\n== 3. Starlight re-alignment, ResNet-18 (CIFAR), after one star epoch ({len(fake)} fake images, "
          f"{r['epoch_s']:.1f} s incl. aligning {r['n_anchors']} anchors)")  # fmt: skip
    print(
        f"cold start (identity):        {r['cold_s']:7.2f} s   -> N = {n_anchors}: {n_anchors * r['cold_s']:7.1f} s per epoch"
    )
    print(
        f"warm start (last epoch's perm): {r['warm_s']:5.2f} s   -> N = {n_anchors}: {n_anchors * r['warm_s']:7.1f} s per epoch"
    )
    print(f"speed-up {r['cold_s'] / r['warm_s']:.1f}x; same permutation: {r['same']}; "
          f"units whose match changed in the epoch: {r['changed']:.3f}")  # fmt: skip
    print(f"objective <star, P anchor>: cold {r['objective_cold']:.2f}, "
          f"warm {r['objective_warm']:.2f}")  # fmt: skip
    per = {k: r[k] / r["n_anchors"] for k in ("serial_s", "threads_s")}
    print(f"all {r['n_anchors']} anchors warm, one after another: {r['serial_s']:.2f} s; "
          f"{r['workers']} at a time in threads: {r['threads_s']:.2f} s "
          f"({r['serial_s'] / r['threads_s']:.2f}x; same permutations: {r['threads_same']}) -> "
          f"N = {n_anchors}: {n_anchors * per['serial_s']:.1f} s vs {n_anchors * per['threads_s']:.1f} s "
          f"per epoch")  # fmt: skip
    print(f"of the serial {r['serial_s']:.2f} s, scipy's assignment solver (on the CPU whatever the "
          f"device): {r['assign_s']:.2f} s = {1e3 * r['assign_s'] / r['n_anchors']:.0f} ms per anchor")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads")
    parser.add_argument("--no-rebasin", action="store_true", help="skip the rebasin package")
    parser.add_argument("--parts", default="123", help="which parts to run, e.g. 13")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    use_rebasin = not args.no_rebasin
    if use_rebasin:
        import rebasin  # noqa: F401  (fail early with the package's own error if missing)
    print(f"stardomain matching benchmark: {platform.processor() or platform.machine()}, "
          f"{args.threads} threads, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if "1" in args.parts:
        part_speed(use_rebasin)
    if "2" in args.parts:
        part_barrier(use_rebasin)
    if "3" in args.parts:
        part_starlight()


if __name__ == "__main__":
    main()
