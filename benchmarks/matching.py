"""Benchmark: our weight matching vs the `rebasin` 0.0.47 package, on CPU, side by side.

Run: `python benchmarks/matching.py [--parts 123] [--models resnet18 vgg11] [--repeats 5]
[--json PATH]` (needs `pip install 'stardomain[rebasin]'`; `--no-rebasin` prints ours only).
Three parts, each measured in this one run on the same machine:

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

Timings are wall-clock on whatever CPU runs this (the header prints it). Parts 1 and 3 run the
variants they compare interleaved for --repeats rounds after an untimed one, and print medians,
spreads and the speed-up's verdict against its goal only when the spread allows one
(benchmarks/_timing.py); part 2's barriers are deterministic, its seconds one run each.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from _timing import (
    Spread,
    compare,
    compare_text,
    interleaved,
    summary,
    summary_text,
    verdict,
    write_json,
)

from stardomain import barrier
from stardomain.data import Data, Split, load_data
from stardomain.evaluate import reestimate_bn
from stardomain.models import build_model
from stardomain.perm import apply_permutation, fraction_moved, spec_from_trace, weight_matching
from stardomain.perm.rebasin import rebasin_align, units_moved
from stardomain.settings import (
    AlignSettings,
    DataSettings,
    EvalSettings,
    ModelSettings,
    Recipe,
    StarSettings,
)
from stardomain.starlight import align_anchors, train_star
from stardomain.train import train_regular

RECIPE = Recipe(epochs=8, batch_size=64)
MODELS = {
    "ResNet-18 (CIFAR)": dict(name="resnet18", width=64),
    "VGG-11 (CIFAR)": dict(name="vgg", depth=11, batchnorm=False, width=64),
}
MODEL_KEYS = {"resnet18": "ResNet-18 (CIFAR)", "vgg11": "VGG-11 (CIFAR)"}  # --models
# docs/performance.md: speed-up = rebasin / ours (cold start); ours_s = our seconds
GOALS = {"resnet18": {"speedup": ">= 3"}, "vgg11": {"ours_s": "< 60"}}
SMALL = {
    "ResNet-18 (CIFAR), width 16": dict(name="resnet18", width=16),
    "VGG-11 (CIFAR), width 16": dict(name="vgg", depth=11, batchnorm=False, width=16),
}
IN_SHAPE = (3, 32, 32)


def digits32() -> Data:
    """scikit-learn's digits, 8x8 grey upsampled to 3x32x32 (CIFAR-shaped, no download)."""
    digits = load_data(DataSettings.of({"name": "digits", "test_fraction": 0.2, "split_seed": 0}))

    def up(split: Split) -> Split:
        x = F.interpolate(split.x.reshape(-1, 1, 8, 8), size=32, mode="bilinear")
        return Split(x.repeat(1, 3, 1, 1).contiguous(), split.y)

    return Data(up(digits.train), up(digits.test), IN_SHAPE, 10)


def ours(cfg: dict, target: dict, source: dict, init_perm=None) -> tuple[dict, float, float]:
    """Our matcher, from nothing: returns perm, seconds tracing, seconds matching."""
    start = time.perf_counter()
    spec = spec_from_trace(build_model(ModelSettings.of(cfg), IN_SHAPE, 10, 0), IN_SHAPE).spec
    traced = time.perf_counter()
    perm = weight_matching(spec, target, source, seed=0, max_iter=100, init_perm=init_perm)
    return perm, traced - start, time.perf_counter() - traced


def theirs(cfg: dict, target: dict, source: dict) -> tuple[dict, float]:
    """rebasin's matcher: returns the moved source state (BN stale) and seconds."""
    model_a, model_b = (
        build_model(ModelSettings.of(cfg), IN_SHAPE, 10, 0),
        build_model(ModelSettings.of(cfg), IN_SHAPE, 10, 0),
    )
    model_a.load_state_dict(target)
    model_b.load_state_dict(source)
    start = time.perf_counter()
    rebasin_align(model_a, model_b, torch.randn(2, *IN_SHAPE), max_iter=100)
    return {
        k: v.detach().clone() for k, v in model_b.state_dict().items()
    }, time.perf_counter() - start


def matchers(cfg: dict, a: dict, b: dict, traced: list, use_rebasin: bool) -> dict:
    """Closures matching b onto a from nothing: ours (appending its tracing seconds to `traced`)
    and, if asked, rebasin's."""
    variants = {"ours": lambda: traced.append(ours(cfg, a, b)[1])}
    if use_rebasin:
        variants["rebasin"] = lambda: theirs(cfg, a, b)
    return variants


def part_speed(use_rebasin: bool, models: list[str], repeats: int) -> dict:
    print(f"\n== 1. cold-start matching time, two independently initialised models (s), "
          f"{repeats} interleaved rounds (ours rebasin ...) after one untimed")  # fmt: skip
    out = {}
    for key in models:
        label, cfg = MODEL_KEYS[key], MODELS[MODEL_KEYS[key]]
        a, b = (
            build_model(ModelSettings.of(cfg), IN_SHAPE, 10, seed).state_dict() for seed in (1, 2)
        )
        traced: list[float] = []  # seconds of each call of ours spent tracing the spec
        times = interleaved(matchers(cfg, a, b, traced, use_rebasin), repeats, warmup=1)
        r = out[key] = dict(model=label, seconds=summary(times),
                            trace_s=Spread.of(traced[-repeats:]).as_dict())  # fmt: skip
        print(f"{label}, seconds: median (interquartile range, min-max)")
        print(summary_text(times, 1.0, "s"))
        print(
            f"  of which ours tracing the spec: {Spread.of(traced[-repeats:]).text(1.0, '.2f')} s"
        )
        if "ours_s" in GOALS[key]:
            r["ours_goal"] = dict(goal=GOALS[key]["ours_s"],
                                  verdict=verdict(Spread.of(times["ours"]), GOALS[key]["ours_s"]))  # fmt: skip
            print(f"  ours, goal {GOALS[key]['ours_s']} s: {r['ours_goal']['verdict']}")
        if use_rebasin:
            r["speedup"] = compare(times, "rebasin", "ours", GOALS[key].get("speedup"))
            print(f"  speed-up {compare_text(r['speedup'])}")
    return out


def barrier_of(cfg: dict, data: Data, a: dict, b: dict) -> float:
    model = build_model(ModelSettings.of(cfg), IN_SHAPE, 10, 0)
    rows = barrier.curve(
        model, a, b, data, EvalSettings(tuple(i / 10 for i in range(11)), 512, 128, None, seed=0)
    )
    return barrier.barriers(rows)["barrier_loss_train"]


def output_change(cfg: dict, before: dict, after: dict, x: torch.Tensor) -> float:
    model = build_model(ModelSettings.of(cfg), IN_SHAPE, 10, 0).eval()
    with torch.no_grad():
        model.load_state_dict(before)
        y0 = model(x)
        model.load_state_dict(after)
        return float((model(x) - y0).abs().max())


def part_barrier(use_rebasin: bool) -> list[dict]:
    """Barriers are deterministic; the seconds here are one run each (part 1 times matching)."""
    data = digits32()
    rows = []
    print(
        f"\n== 2. train-loss barrier of a trained pair ({RECIPE.epochs} epochs on digits at 3x32x32)"
    )
    print(f"{'model':<30} {'matcher':<16} {'barrier':>8} {'max|df|':>9} {'moved':>6} {'time s':>7}")
    for label, cfg in SMALL.items():
        states = []
        for seed in (1, 2):
            model = build_model(ModelSettings.of(cfg), IN_SHAPE, 10, seed)
            history = train_regular(model, data, RECIPE, seed, label)
            states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        a, b = states
        x = data.test.x[:256]
        spec = spec_from_trace(build_model(ModelSettings.of(cfg), IN_SHAPE, 10, 0), IN_SHAPE).spec
        rows.append(dict(model=label, matcher="none", barrier=barrier_of(cfg, data, a, b), max_df=0.0,
                         moved=0.0, seconds=0.0, test_accuracy=history[-1]["test_accuracy"]))  # fmt: skip
        print(f"{label:<30} {'none':<16} {rows[-1]['barrier']:>8.3f} {0:>9.1e} {0:>6.2f} {0:>7.1f}"
              f"   (test acc {history[-1]['test_accuracy']:.3f})")  # fmt: skip
        perm, t_trace, t_match = ours(cfg, a, b)
        moved = apply_permutation(spec, perm, b)
        rows.append(dict(model=label, matcher="weight_matching", barrier=barrier_of(cfg, data, a, moved),
                         max_df=output_change(cfg, b, moved, x), moved=fraction_moved(perm),
                         seconds=t_trace + t_match))  # fmt: skip
        print(f"{'':<30} {'weight_matching':<16} {rows[-1]['barrier']:>8.3f} "
              f"{rows[-1]['max_df']:>9.1e} {rows[-1]['moved']:>6.2f} {rows[-1]['seconds']:>7.1f}")  # fmt: skip
        if use_rebasin:
            moved_r, seconds = theirs(cfg, a, b)
            change_stale = output_change(cfg, b, moved_r, x)
            model = build_model(ModelSettings.of(cfg), IN_SHAPE, 10, 0)
            model.load_state_dict(moved_r)
            reestimate_bn(model, data.batches("train", 128, shuffle=True, seed=0))
            moved_r = {k: v.detach().clone() for k, v in model.state_dict().items()}
            rows.append(dict(model=label, matcher="rebasin+BN", barrier=barrier_of(cfg, data, a, moved_r),
                             max_df=output_change(cfg, b, moved_r, x), moved=units_moved(spec, b, moved_r),
                             seconds=seconds, max_df_stale_bn=change_stale))  # fmt: skip
            print(f"{'':<30} {'rebasin+BN':<16} {rows[-1]['barrier']:>8.3f} "
                  f"{rows[-1]['max_df']:>9.1e} {rows[-1]['moved']:>6.2f} {seconds:>7.1f}"
                  f"   (max|df| before BN re-estimation {change_stale:.1e})")  # fmt: skip
    return rows


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
    repeats: int = 3,
) -> dict:
    """One Starlight epoch of a fresh star against `n_anchors` anchors, then re-aligning them.

    Anchor 0 re-aligned cold (from the identity) and warm (from the epoch's own permutation, as
    Starlight does at the next epoch); every anchor warm, one after another and `workers` at a
    time in threads (`align_anchors`); the four interleaved for `repeats` rounds. `sync` waits for
    the device before each clock reading. Returns median seconds (epoch_s, cold_s, warm_s,
    serial_s, threads_s for all anchors, assign_s: serial's time in scipy's assignment solver),
    their spreads (seconds) and ratios (warm_vs_cold, threads_vs_serial), whether cold and warm
    found the same permutation and whether threads gave serial's, the fraction of units whose match
    changed in the epoch, and the matching objective of cold and warm.
    """
    anchors = [
        {
            k: v.to(device)
            for k, v in build_model(ModelSettings.of(cfg), IN_SHAPE, 10, seed).state_dict().items()
        }
        for seed in range(1, n_anchors + 1)
    ]
    star = build_model(ModelSettings.of(cfg), IN_SHAPE, 10, 0).to(device)
    spec = spec_from_trace(build_model(ModelSettings.of(cfg), IN_SHAPE, 10, 0), IN_SHAPE).spec
    star_cfg = StarSettings(anchors=tuple(range(1, n_anchors + 1)), epochs=1, seed=0)
    sync()
    start = time.perf_counter()
    _, perms = train_star(star, anchors, spec, data, recipe, star_cfg, AlignSettings(max_iter=100))
    sync()
    epoch = time.perf_counter() - start
    state = {k: v.detach() for k, v in star.state_dict().items()}
    found: dict = {}

    def keep(key: str, match):
        return lambda: found.__setitem__(key, match())

    variants = {
        "cold": keep("cold", lambda: weight_matching(spec, state, anchors[0], seed=0)),
        "warm": keep("warm", lambda: weight_matching(spec, state, anchors[0], seed=0,
                                                     init_perm=perms[0])),
        "serial": keep("serial", lambda: align_anchors(spec, state, anchors, perms, 0, 100)),
        "threads": keep("threads", lambda: align_anchors(spec, state, anchors, perms, 0, 100,
                                                         workers=workers)),
    }  # fmt: skip
    times = interleaved(variants, repeats, warmup=1, sync=sync)
    cold, warm = found["cold"], found["warm"]
    changed = sum(int((warm[p] != perms[0][p]).sum()) for p in warm) / sum(map(len, warm.values()))
    assign_s = assignment_seconds(lambda: align_anchors(spec, state, anchors, perms, 0, 100))
    return dict(
        epoch_s=epoch,
        assign_s=assign_s,
        **{f"{k}_s": statistics.median(v) for k, v in times.items()},
        seconds=summary(times),
        warm_vs_cold=compare(times, "cold", "warm"),
        threads_vs_serial=compare(times, "serial", "threads"),
        n_anchors=n_anchors,
        workers=workers,
        threads_same=all(
            torch.equal(a[p], b[p])
            for a, b in zip(found["serial"], found["threads"], strict=True)
            for p in a
        ),
        same=all(torch.equal(cold[p], warm[p]) for p in cold),
        changed=changed,
        objective_cold=similarity(spec, state, anchors[0], cold),
        objective_warm=similarity(spec, state, anchors[0], warm),
    )


def part_starlight(repeats: int, n_anchors: int = 50) -> dict:
    cfg = MODELS["ResNet-18 (CIFAR)"]
    gen = torch.Generator().manual_seed(0)
    fake = Split(
        torch.randn(256, *IN_SHAPE, generator=gen), torch.randint(0, 10, (256,), generator=gen)
    )
    data = Data(fake, Split(fake.x[:64], fake.y[:64]), IN_SHAPE, 10)
    workers = min(4, os.cpu_count() or 1)
    recipe = replace(RECIPE, lr=0.1, batch_size=64)
    r = starlight_realign(cfg, data, recipe, n_anchors=4, workers=workers, repeats=repeats)
    print(f"\n== 3. Starlight re-alignment, ResNet-18 (CIFAR), after one star epoch ({len(fake)} fake images, "
          f"{r['epoch_s']:.1f} s incl. aligning {r['n_anchors']} anchors); {repeats} interleaved "
          "rounds, seconds: median (interquartile range, min-max)")  # fmt: skip
    for key, label in (("cold", "anchor 0, cold start (identity)"),
                       ("warm", "anchor 0, warm start (last epoch's perm)"),
                       ("serial", f"all {r['n_anchors']} warm, one after another"),
                       ("threads", f"all {r['n_anchors']} warm, {r['workers']} at a time in threads")):  # fmt: skip
        print(f"  {label:<42} {Spread(**r['seconds'][key]).text(1.0, '.2f')}")
    print(f"  warm start: {compare_text(r['warm_vs_cold'])}; same permutation: {r['same']}; "
          f"units whose match changed in the epoch: {r['changed']:.3f}")  # fmt: skip
    print(f"  objective <star, P anchor>: cold {r['objective_cold']:.2f}, "
          f"warm {r['objective_warm']:.2f}")  # fmt: skip
    print(f"  threads: {compare_text(r['threads_vs_serial'])}; same permutations: "
          f"{r['threads_same']}")  # fmt: skip
    per = {k: r[k] / r["n_anchors"] for k in ("serial_s", "threads_s")}
    print(f"  N = {n_anchors} per epoch (medians): cold {n_anchors * r['cold_s']:.1f} s, warm "
          f"{n_anchors * r['warm_s']:.1f} s; all warm one after another "
          f"{n_anchors * per['serial_s']:.1f} s vs in threads {n_anchors * per['threads_s']:.1f} s")  # fmt: skip
    print(f"  of the serial {r['serial_s']:.2f} s, scipy's assignment solver (on the CPU whatever the "
          f"device): {r['assign_s']:.2f} s = {1e3 * r['assign_s'] / r['n_anchors']:.0f} ms per anchor")  # fmt: skip
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads")
    parser.add_argument("--no-rebasin", action="store_true", help="skip the rebasin package")
    parser.add_argument("--parts", default="123", help="which parts to run, e.g. 13")
    parser.add_argument("--models", nargs="+", default=list(MODEL_KEYS), choices=list(MODEL_KEYS),
                        help="models of part 1")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (parts 1, 3)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    use_rebasin = not args.no_rebasin
    if use_rebasin:
        import rebasin  # noqa: F401  (fail early with the package's own error if missing)
    print(f"stardomain matching benchmark: {platform.processor() or platform.machine()}, "
          f"{args.threads} threads, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    out: dict = dict(threads=args.threads, torch=torch.__version__, repeats=args.repeats)
    if "1" in args.parts:
        out["speed"] = part_speed(use_rebasin, args.models, args.repeats)
    if "2" in args.parts:
        out["barrier"] = part_barrier(use_rebasin)
    if "3" in args.parts:
        out["starlight"] = part_starlight(args.repeats)
    write_json(args.json, out)


if __name__ == "__main__":
    main()
