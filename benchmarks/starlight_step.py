"""Benchmark: cost of one Starlight step relative to one plain SGD step.

Three step kinds on the same model, batch and device, interleaved round by round so that machine
noise hits all of them alike (benchmarks/_timing.py: medians, spreads, verdict against the goal):
  plain     - forward/backward at theta, SGD step (regular training);
  starlight - draw anchor n and t, theta(t) by torch.lerp inside functional_call, backward gives
              (1-t) grad L(theta(t)), SGD step (stardomain.starlight.interpolated_loss);
  naive     - materialise theta(t) in a second model by flattening and copying all parameters,
              forward/backward there, copy (1-t) x its gradient back, SGD step.
Then the per-epoch overhead of Starlight for the default experiment: re-aligning every anchor
(warm-started weight matching) and re-estimating the star's BN statistics, as a fraction of the
epoch's steps; and the same projected for ResNet-18 on CIFAR-10 with N = 50 anchors, from measured
parts: one warm re-alignment (x 50), BN re-estimation and test evaluation forward passes (x the
epoch's batch count), against the measured Starlight step (x the epoch's 352 steps of 128 images).

Usage: python benchmarks/starlight_step.py [--models mlp resnet18] [--repeats 9] [--threads 2]
       [--no-projection] [--json PATH]
(`make_steps` also gives benchmarks/gpu_epoch.py its GPU steps.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from _timing import compare, compare_text, interleaved, summary, summary_text, write_json
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from stardomain.data import load_data
from stardomain.models import build_model
from stardomain.precision import FULL, Precision
from stardomain.settings import DataSettings, ModelSettings, Recipe
from stardomain.starlight import interpolated_loss

GOALS = {"resnet18": "<= 1.05"}  # Starlight step / plain step (docs/performance.md)
CASES = {  # name -> (model config, input shape, classes, batch size)
    "mlp": (dict(name="mlp", width=8, depth=2, batchnorm=False), (64,), 10, 32),
    "resnet18": (dict(name="resnet18"), (3, 32, 32), 10, 128),
}


def make_steps(
    cfg: dict,
    shape: tuple,
    classes: int,
    batch: int,
    n_anchors: int = 4,
    device: torch.device | str = "cpu",
    precision: Precision = FULL,
    kinds: tuple[str, ...] = ("plain", "starlight", "naive"),
):
    """Closures of the step `kinds`, each doing one full training step on its own model copy.

    `precision` (autocast, channels-last) applies to plain and starlight; naive is float32 only.
    """
    x = precision.layout(torch.randn(batch, *shape).to(device))
    y = torch.randint(0, classes, (batch,)).to(device)
    anchors = [
        {
            k: v.detach()
            for k, v in build_model(ModelSettings.of(cfg), shape, classes, s).named_parameters()
        }
        for s in range(1, n_anchors + 1)
    ]
    anchors = [{k: precision.layout(v.to(device)) for k, v in a.items()} for a in anchors]
    rng = np.random.default_rng(0)

    def model():
        return precision.prepare(
            build_model(ModelSettings.of(cfg), shape, classes, 0).to(device).train()
        )

    def sgd(model):
        return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def plain_step():
        plain_model = model()
        plain_opt = sgd(plain_model)

        def plain():
            with precision.autocast():
                loss = F.cross_entropy(plain_model(x), y)
            plain_opt.zero_grad(set_to_none=True)
            loss.backward()
            plain_opt.step()

        return plain

    def starlight_step():
        star = model()
        star_opt = sgd(star)
        params = dict(star.named_parameters())
        scratch = {k: v.detach().clone() for k, v in star.named_buffers()}

        def starlight():
            n, t = int(rng.integers(n_anchors)), float(rng.uniform())
            loss = interpolated_loss(
                star, params, anchors[n], scratch, t, x, y, precision=precision
            )
            star_opt.zero_grad(set_to_none=True)
            loss.backward()
            star_opt.step()

        return starlight

    def naive_step():
        if precision.dtype is not None or precision.channels_last:
            raise ValueError("the naive step is measured in float32 and the standard layout only")
        flat_anchors = [parameters_to_vector(a.values()) for a in anchors]
        naive_star, work = model(), model()
        naive_opt = sgd(naive_star)

        def naive():
            n, t = int(rng.integers(n_anchors)), float(rng.uniform())
            with torch.no_grad():
                flat = parameters_to_vector(naive_star.parameters())
                vector_to_parameters(torch.lerp(flat, flat_anchors[n], t), work.parameters())
            work.zero_grad(set_to_none=True)
            F.cross_entropy(work(x), y).backward()
            for p, w in zip(naive_star.parameters(), work.parameters(), strict=True):
                p.grad = (1 - t) * w.grad
            naive_opt.step()

        return naive

    makers = {"plain": plain_step, "starlight": starlight_step, "naive": naive_step}
    return {kind: makers[kind]() for kind in kinds}


def epoch_overhead() -> dict[str, float]:
    """Default experiment (digits MLP, 20 anchors): re-alignment + BN re-estimation per epoch."""
    from stardomain.evaluate import reestimate_bn
    from stardomain.models import model_spec
    from stardomain.perm import weight_matching
    from stardomain.train import train_regular

    recipe = Recipe()  # the default experiment's recipe
    data = load_data(DataSettings.of(dict(name="digits", test_fraction=0.2, split_seed=0)))
    out = {}
    for bn in (False, True):
        cfg = dict(name="mlp", width=8, depth=2, batchnorm=bn)
        spec = model_spec(
            ModelSettings.of(cfg),
            build_model(ModelSettings.of(cfg), data.in_shape, 10, 0),
            data.in_shape,
        )
        models = []
        for s in range(21):
            m = build_model(ModelSettings.of(cfg), data.in_shape, 10, s)
            train_regular(m, data, replace(recipe, epochs=5), s)
            models.append(m.state_dict())
        star, anchors = models[0], models[1:]
        perms = [weight_matching(spec, star, a, seed=0) for a in anchors]
        start = time.perf_counter()
        for a, p in zip(anchors, perms, strict=True):
            weight_matching(spec, star, a, seed=0, init_perm=p)
        realign = time.perf_counter() - start
        model = build_model(ModelSettings.of(cfg), data.in_shape, 10, 0)
        model.load_state_dict(star)
        start = time.perf_counter()
        reestimate_bn(model, data.batches("train", recipe.batch_size, True, 0))
        bn_time = time.perf_counter() - start if bn else 0.0
        steps = make_steps(cfg, data.in_shape, 10, recipe.batch_size, n_anchors=20)
        step = statistics.median(
            interleaved({"starlight": steps["starlight"]}, 200, 2)["starlight"]
        )
        epoch = step * len(data.batches("train", recipe.batch_size, True))
        out[f"bn={bn}"] = dict(realign_s=realign, bn_s=bn_time, epoch_steps_s=epoch,
                               overhead=(realign + bn_time) / epoch)  # fmt: skip
    return out


def resnet_projection(
    step_s: float, n_anchors: int = 50, train: int = 45_000, test: int = 10_000, batch: int = 128
) -> dict[str, float]:
    """Per-epoch Starlight overhead for ResNet-18 on CIFAR-10 with `n_anchors`, from measured parts.

    step_s: the measured Starlight step (batch 128). Re-alignment: one anchor matched cold, the star
    then nudged as by an epoch of training, and matched again from the previous permutation (warm).
    """
    from stardomain.models import model_spec
    from stardomain.perm import weight_matching

    cfg, shape, classes, _ = CASES["resnet18"]
    star_model = build_model(ModelSettings.of(cfg), shape, classes, 0)
    spec = model_spec(ModelSettings.of(cfg), star_model, shape)
    star = {k: v.detach().clone() for k, v in star_model.state_dict().items()}
    anchor = build_model(ModelSettings.of(cfg), shape, classes, 1).state_dict()
    start = time.perf_counter()
    perm = weight_matching(spec, star, anchor, seed=0)
    cold = time.perf_counter() - start
    gen = torch.Generator().manual_seed(0)
    moved = {
        k: v + 0.05 * v.std() * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
        for k, v in star.items()
    }  # fmt: skip
    start = time.perf_counter()
    weight_matching(spec, moved, anchor, seed=0, init_perm=perm)
    warm = time.perf_counter() - start
    x = torch.randn(batch, *shape)
    with torch.no_grad():
        star_model.train()  # BN re-estimation: forward in train mode, no gradient
        fwd_train = statistics.median(interleaved({"f": lambda: star_model(x)}, 5, 2)["f"])
        star_model.eval()
        fwd_eval = statistics.median(interleaved({"f": lambda: star_model(x)}, 5, 2)["f"])
    steps = -(-train // batch)
    epoch = steps * step_s
    realign, bn, ev = n_anchors * warm, steps * fwd_train, -(-test // batch) * fwd_eval
    return dict(cold_s=cold, warm_s=warm, epoch_s=epoch, realign_s=realign, bn_s=bn, eval_s=ev,
                n=n_anchors, steps=steps)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument(
        "--repeats",
        type=int,
        default=9,
        help="interleaved rounds (x 50 for the MLP's short steps)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--no-naive", action="store_true", help="skip the naive flatten-and-copy step"
    )
    parser.add_argument(
        "--no-overhead", action="store_true", help="skip the per-epoch overhead part"
    )
    parser.add_argument("--no-projection", action="store_true", help="skip the ResNet-18 N=50 part")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, CPU, {args.threads} threads, {args.repeats} interleaved "
          f"rounds after 2 untimed, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    out: dict = dict(torch=torch.__version__, threads=args.threads, repeats=args.repeats)
    kinds = ("plain", "starlight") if args.no_naive else ("plain", "starlight", "naive")
    for name in args.models:
        cfg, shape, classes, batch = CASES[name]
        rounds = args.repeats if name != "mlp" else 50 * args.repeats
        times = interleaved(make_steps(cfg, shape, classes, batch, kinds=kinds), rounds, warmup=2)
        out[name] = dict(batch=batch, seconds=summary(times))
        print(f"{name}, batch {batch}, ms per step: median (interquartile range, min-max)")
        print(summary_text(times))
        for kind in kinds[1:]:
            out[name][kind] = compare(
                times, kind, "plain", GOALS.get(name) if kind == "starlight" else None
            )
            print(f"  {compare_text(out[name][kind])}")
    out["overhead"] = {} if args.no_overhead else epoch_overhead()
    for key, o in out["overhead"].items():
        print(
            f"default experiment per-epoch overhead (MLP, {key}, 20 anchors): re-alignment "
            f"{1e3 * o['realign_s']:.1f} ms + BN {1e3 * o['bn_s']:.1f} ms vs epoch steps "
            f"{1e3 * o['epoch_steps_s']:.1f} ms = {100 * o['overhead']:.1f} %"
        )
    if "resnet18" in out and not args.no_projection:
        p = out["projection"] = resnet_projection(out["resnet18"]["seconds"]["starlight"]["median"])
        e = p["epoch_s"]
        print(
            f"ResNet-18 CIFAR-10, N = {p['n']}, projected per epoch on this device: steps {e:.0f} s; "
            f"re-alignment {p['realign_s']:.0f} s ({100 * p['realign_s'] / e:.1f} %; warm "
            f"{p['warm_s']:.2f} s vs cold {p['cold_s']:.2f} s per anchor, untrained models); "
            "star BN re-estimation "
            f"{p['bn_s']:.0f} s ({100 * p['bn_s'] / e:.1f} %); test evaluation {p['eval_s']:.0f} s "
            f"({100 * p['eval_s'] / e:.1f} %); with star.bn_batches: 50 the BN part becomes "
            f"{100 * p['bn_s'] * 50 / p['steps'] / e:.1f} % (a full pass only after the last epoch)"
        )
    write_json(args.json, out)


if __name__ == "__main__":
    main()
