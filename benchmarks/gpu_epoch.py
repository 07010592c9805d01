"""Benchmark: the GPU fast path for ResNet-18 on CIFAR-10-sized data, in one process.

On the available device (CUDA if present, else CPU), with random tensors of CIFAR-10's shape
(50,000 training and 10,000 test images of 3x32x32; no download, so timings only):
1. ResNet-18 (CIFAR variant, batch 128, SGD + Nesterov, the paper's recipe) epoch time for
   (a) a torchvision-style DataLoader: uint8 images in a TensorDataset, per-sample RandomCrop(32,
       padding=4) + RandomHorizontalFlip + normalisation in `--workers` processes, pinned, float32;
   (b) the GPU-resident in-memory path (stardomain.data: Data, Augment, Batches), float32;
   (c) (b) + bf16 autocast + channels-last (`train.amp: bf16`, `train.channels_last: true`);
   (c+) (c) with torch.backends.cudnn.benchmark on (GPU only; the library leaves it off).
   Each path: `--warmup` untimed steps, then `--batches` steps between two device syncs,
   extrapolated to one epoch. The per-epoch test evaluation is timed once per path (c).
2. Starlight step / plain SGD step on the device, float32 and (c)'s precision (goal <= 1.10), with
   the step closures of benchmarks/starlight_step.py.
3. Re-alignment of 8 anchors by weight matching, warm-started, after one real Starlight epoch in
   (c)'s precision (benchmarks/matching.py), one after another and 8 at a time in threads (as a
   train_star job with 8 CPUs), projected to N = 50 anchors per epoch as a fraction of a Starlight
   epoch (= (c) epoch x the step ratio; goal <= 10 %).
4. The projected wall time of a 200-epoch run in (c): 200 x (epoch + test evaluation); goal < 30
   minutes on one H100-class GPU.

Parts 2 and 3 run their variants interleaved for --repeats rounds and give medians, spreads and a
verdict only when the spread allows one (benchmarks/_timing.py); part 1's paths are timed once each.

Usage: python benchmarks/gpu_epoch.py [--repeats 15] [--json gpu_epoch.json]. Sized to stay well within 8 minutes
on an H100 (about 1,000 timed training steps, one Starlight epoch and a few matchings; not yet
measured there). `--smoke` runs every part at tiny sizes on CPU in seconds, to check that the
script works (tests/test_precision.py).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from dataclasses import replace

import torch
from _timing import Spread, compare, compare_text, interleaved, summary, verdict, write_json
from matching import starlight_realign
from starlight_step import make_steps
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms import v2

from stardomain.data import Augment, Data, Split
from stardomain.data.vision import IMAGENET_MEAN, IMAGENET_STD
from stardomain.evaluate import evaluate
from stardomain.models import build_model
from stardomain.precision import Precision
from stardomain.settings import ModelSettings, Recipe
from stardomain.train import make_optimizer, make_scheduler, train_step

IN_SHAPE = (3, 32, 32)
RECIPE = Recipe(epochs=200, batch_size=128, lr=0.1)  # the paper's CIFAR recipe
# full: CIFAR-10 and ResNet-18 as the paper; smoke: every code path in seconds on CPU
SIZES = {
    "full": dict(images=50_000, test=10_000, width=64, batch=128, warmup=20, batches=150,
                 rounds=15, repeat=10, workers=min(8, os.cpu_count() or 1), anchors=8,
                 align_workers=min(8, os.cpu_count() or 1)),
    "smoke": dict(images=256, test=64, width=4, batch=32, warmup=1, batches=2, rounds=2, repeat=1,
                  workers=1, anchors=2, align_workers=2),
}  # fmt: skip
N_ANCHORS, EPOCHS, GOALS = 50, 200, dict(ratio=1.10, realign=0.10, run_min=30.0)


class Transformed(TensorDataset):
    """A TensorDataset whose images pass a per-sample transform, as torchvision's CIFAR10 does."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform):
        super().__init__(x, y)
        self.transform = transform

    def __getitem__(self, i):
        x, y = super().__getitem__(i)
        return self.transform(x), y


def fake_cifar(n: int, n_test: int) -> tuple[torch.Tensor, ...]:
    """Random uint8 images (n, 3, 32, 32) and labels (n,), then as many for the test split."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n + n_test, *IN_SHAPE), dtype=torch.uint8, generator=gen)
    y = torch.randint(0, 10, (n + n_test,), generator=gen)
    return x[:n], y[:n], x[n:], y[n:]


def resident(x, y, x_test, y_test, device) -> Data:
    """The images normalised as stardomain.data.vision does, held on `device`."""
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)

    def norm(u: torch.Tensor) -> torch.Tensor:
        return (u.float() / 255.0 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)

    augment = Augment(padding=4, flip=True, fill=-mean / std)  # black border, normalised
    data = Data(Split(norm(x), y), Split(norm(x_test), y_test), IN_SHAPE, 10, augment=augment)
    return data.to(device)


def dataloader(x, y, batch: int, workers: int, pin: bool) -> DataLoader:
    """Path (a): torchvision transforms applied to one uint8 image at a time in worker processes."""
    transform = v2.Compose([
        v2.RandomCrop(32, padding=4),
        v2.RandomHorizontalFlip(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])  # fmt: skip
    return DataLoader(Transformed(x, y, transform), batch_size=batch, shuffle=True,
                      num_workers=workers, pin_memory=pin, persistent_workers=workers > 0,
                      generator=torch.Generator().manual_seed(0))  # fmt: skip


def epoch_seconds(cfg, batches, precision, steps_per_epoch, size, device, sync):
    """Seconds per epoch of the library's training step (stardomain.train.train_step) on a fresh
    model, extrapolated from `size["batches"]` timed steps after `size["warmup"]` untimed ones.

    Returns (seconds per epoch, the trained model)."""
    model = precision.prepare(
        build_model(ModelSettings.of(cfg), IN_SHAPE, 10, 0).to(device)
    ).train()
    opt = make_optimizer(model.parameters(), RECIPE)
    sched = make_scheduler(opt, RECIPE, RECIPE.epochs, steps_per_epoch)
    scaler = precision.scaler()

    def stream():
        while True:
            yield from batches

    it = stream()
    for i in range(size["warmup"] + size["batches"]):
        if i == size["warmup"]:
            sync()
            start = time.perf_counter()
        x, y = next(it)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        train_step(model, x, y, opt, sched, 0.0, precision, scaler)
    sync()
    per_step = (time.perf_counter() - start) / size["batches"]
    return per_step * steps_per_epoch, model


def eval_seconds(model, data: Data, precision: Precision, sync) -> float:
    """Seconds of the per-epoch test evaluation (as train_regular runs it), after one warm-up."""
    for _ in range(2):
        sync()
        start = time.perf_counter()
        with precision.autocast():
            evaluate(model, data.batches("test", 1024, shuffle=False))
        sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on CPU, seconds")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cuda, cpu")
    parser.add_argument("--workers", type=int, help="DataLoader processes of path (a)")
    parser.add_argument("--batches", type=int, help="timed steps per path")
    parser.add_argument("--repeats", type=int, help="interleaved rounds of parts 2 and 3")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    size = dict(SIZES["smoke" if args.smoke else "full"])
    size.update({k: getattr(args, k) for k in ("workers", "batches") if getattr(args, k)})
    size["rounds"] = args.repeats or size["rounds"]
    auto = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    device = torch.device(auto if args.device == "auto" else args.device)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else lambda: None
    name = torch.cuda.get_device_name(device) if cuda else f"CPU {platform.machine()}"
    cfg = dict(name="resnet18", width=size["width"])
    batch = size["batch"]
    steps = math.ceil(size["images"] / batch)
    fp32, fast = Precision(device.type), Precision(device.type, torch.bfloat16, True)
    params = sum(
        p.numel() for p in build_model(ModelSettings.of(cfg), IN_SHAPE, 10, 0).parameters()
    )
    print(f"device: {name} | torch {torch.__version__}"
          + (f", CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}" if cuda else "")
          + f" | {os.cpu_count()} CPUs, {size['workers']} loader workers"
          + (" | SMOKE: tiny sizes, numbers mean nothing" if args.smoke else ""))  # fmt: skip
    print(f"ResNet-18 (CIFAR), width {size['width']}, {params / 1e6:.2f} M parameters, batch "
          f"{batch}, {size['images']:,} fake images = {steps} steps per epoch; epoch times are "
          f"extrapolated from {size['batches']} timed steps after {size['warmup']} warm-up steps")  # fmt: skip
    x, y, x_test, y_test = fake_cifar(size["images"], size["test"])
    out: dict = dict(device=name, torch=torch.__version__, size=size, steps_per_epoch=steps)

    # 1. epoch time of the three data / precision paths
    loader = dataloader(x, y, batch, size["workers"], pin=cuda)
    out["a"], _ = epoch_seconds(cfg, loader, fp32, steps, size, device, sync)
    del loader  # stops its worker processes
    data = resident(x, y, x_test, y_test, device)
    batches = data.batches("train", batch, shuffle=True, seed=0, augment=True)
    out["b"], _ = epoch_seconds(cfg, batches, fp32, steps, size, device, sync)
    out["c"], model = epoch_seconds(cfg, batches, fast, steps, size, device, sync)
    out["eval_c"] = eval_seconds(model, data, fast, sync)
    rows = [
        ("a", "(a) DataLoader, per-sample transforms, fp32"),
        ("b", "(b) GPU-resident Data + Augment, fp32"),
        ("c", "(c) GPU-resident, bf16 autocast, channels-last"),
    ]
    if cuda:
        torch.backends.cudnn.benchmark = True
        out["c+"], _ = epoch_seconds(cfg, batches, fast, steps, size, device, sync)
        torch.backends.cudnn.benchmark = False
        rows.append(("c+", "(c+) (c) with cudnn.benchmark"))
    del model
    print(f"\n{'path':<50} {'ms/step':>8} {'s/epoch':>8} {'vs (a)':>7}")
    for key, label in rows:
        print(f"{label:<50} {1e3 * out[key] / steps:>8.2f} {out[key]:>8.2f} "
              f"{out['a'] / out[key]:>6.2f}x")  # fmt: skip
    print(f"test evaluation, {size['test']:,} images, (c)'s precision: {out['eval_c']:.2f} s")

    # 2. Starlight step / plain step on the device
    ratios = {}
    for label, precision in (("fp32", fp32), ("bf16 + channels-last", fast)):
        closures = make_steps(
            cfg, IN_SHAPE, 10, batch, 4, device, precision, ("plain", "starlight")
        )
        times = interleaved(closures, size["rounds"], 3, sync, size["repeat"])
        med = {k: v["median"] for k, v in summary(times).items()}
        c = out[f"ratio_{label}"] = compare(times, "starlight", "plain", f"<= {GOALS['ratio']}")
        ratios[label] = c["ratio_of_medians"]
        out[f"step_{label}"] = med
        print(f"Starlight step / plain step, {label:<21}: {compare_text(c)} (plain "
              f"{1e3 * med['plain']:.2f} ms, Starlight {1e3 * med['starlight']:.2f} ms)")  # fmt: skip
        del closures
    out["ratio_fast"] = ratios["bf16 + channels-last"]

    # 3. per-epoch re-alignment of N = 50 anchors, warm-started, serial and in threads
    recipe = replace(RECIPE, epochs=1, amp="bf16", channels_last=True)
    r = starlight_realign(
        cfg, data, recipe, device, sync, size["anchors"], size["align_workers"], size["rounds"]
    )
    out["realign"] = r
    star_epoch = out["c"] * out["ratio_fast"]
    per = {k: r[k] / r["n_anchors"] for k in ("serial_s", "threads_s")}
    fraction = {k: N_ANCHORS * v / star_epoch for k, v in per.items()}
    out["realign_fraction"] = fraction["threads_s"]
    # spread of the fraction from the threads' rounds (the epoch time in it is one measurement)
    scale = N_ANCHORS / r["n_anchors"] / star_epoch
    spread = {k: v if k == "n" else v * scale for k, v in r["seconds"]["threads"].items()}
    out["realign_fraction_spread"] = spread
    out["realign_verdict"] = verdict(Spread(**spread), f"<= {GOALS['realign']}")
    out["realign_fraction_serial"] = fraction["serial_s"]
    print(f"re-alignment after one Starlight epoch against {r['n_anchors']} anchors (measured epoch, incl. "
          f"their cold alignment, BN re-estimation and test evaluation: {r['epoch_s']:.1f} s): anchor 0 "
          f"warm {r['warm_s']:.2f} s, cold {r['cold_s']:.2f} s, same permutation: {r['same']}; all "
          f"{r['n_anchors']} warm: {r['serial_s']:.2f} s one after another (scipy's assignment "
          f"solver, on the CPU: {r['assign_s']:.2f} s), {r['threads_s']:.2f} s {r['workers']} at a "
          f"time (same permutations: {r['threads_same']})")  # fmt: skip
    print(f"N = {N_ANCHORS}: {N_ANCHORS * per['threads_s']:.1f} s per epoch in threads = "
          f"{100 * fraction['threads_s']:.1f} % of a Starlight epoch ((c) x {out['ratio_fast']:.3f} = "
          f"{star_epoch:.1f} s; one after another {100 * fraction['serial_s']:.1f} %; threads' rounds: "
          f"{Spread(**spread).text(100, '.1f')} %); goal <= {100 * GOALS['realign']:.0f} %: "
          f"{out['realign_verdict']}")  # fmt: skip

    # 4. projected 200-epoch run
    for key in ("c", "c+"):
        if key in out:
            minutes = EPOCHS * (out[key] + out["eval_c"]) / 60
            out[f"run_{key}_min"] = minutes
            print(f"projected {EPOCHS}-epoch run in ({key}): {EPOCHS} x ({out[key]:.2f} s epoch + "
                  f"{out['eval_c']:.2f} s evaluation) = {minutes:.1f} min (extrapolated; goal < "
                  f"{GOALS['run_min']:.0f} min)")  # fmt: skip
    write_json(args.json, out)


if __name__ == "__main__":
    main()
