"""Mixed precision and channels-last (train.amp, train.channels_last) on CPU: bf16 runs, defaults
change nothing, channels-last matches the standard layout, Starlight's (1-t) factor stays exact."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from stardomain.data import Augment, Data, Split, load_data
from stardomain.models import MLP, build_model, model_spec
from stardomain.precision import FULL, Precision
from stardomain.settings import AlignSettings, DataSettings, ModelSettings, Recipe, StarSettings
from stardomain.starlight import interpolated_loss, train_star
from stardomain.train import train_regular

from conftest import REPO, starlight_gradient_case

RECIPE = Recipe(epochs=3, batch_size=64)
BF16 = dict(amp="bf16")
CNN = ModelSettings.of(dict(name="cnn", width=8))  # conv + BN + max-pool
MLP_BN = ModelSettings.of(dict(name="mlp", width=16, depth=2, batchnorm=True))


@pytest.fixture(scope="module")
def digits() -> Data:
    return load_data(DataSettings.of(dict(name="digits", test_fraction=0.2, split_seed=0)))


@pytest.fixture(scope="module")
def digit_images(digits) -> Data:
    """The digits as 1x8x8 images, with a 1-pixel random crop (batched augmentation; no flips)."""

    def image(split: Split) -> Split:
        return Split(split.x.reshape(-1, 1, 8, 8), split.y)  # (n, 64) -> (n, 1, 8, 8)

    augment = Augment(padding=1, flip=False, fill=torch.tensor([digits.train.x.min().item()]))
    return Data(image(digits.train), image(digits.test), (1, 8, 8), 10, augment=augment)


def fit(cfg: ModelSettings, data: Data, recipe: Recipe, seed: int = 0, **kwargs):
    model = build_model(cfg, data.in_shape, data.num_classes, seed)
    history = train_regular(model, data, recipe, seed, **kwargs)
    return model, history


def test_defaults_and_explicit_off_add_nothing():
    assert Precision.of(Recipe.of({}), "cpu") == FULL
    assert (
        Precision.of(Recipe.of(dict(amp=False, channels_last=False)), "cpu") == FULL
    )  # YAML's `off`
    assert Precision.of(Recipe.of(dict(amp="off")), torch.device("cpu")) == FULL
    assert FULL.scaler() is None and FULL.layout(x := torch.randn(2, 3, 4, 4)) is x


def test_fp16_is_refused_on_cpu_and_unknown_values_are_named():
    with pytest.raises(ValueError, match="train.amp: fp16 needs a GPU"):
        Precision.of(Recipe.of(dict(amp="fp16")), "cpu")
    with pytest.raises(ValueError, match="train.amp: unknown value 'fp8'"):
        Precision.of(Recipe.of(dict(amp="fp8")), "cpu")
    assert (
        Precision.of(Recipe.of(dict(amp="fp16")), "cuda").dtype is torch.float16
    )  # resolving needs no GPU


def test_explicit_off_trains_bitwise_as_without_the_keys(digit_images):
    plain, _ = fit(CNN, digit_images, replace(RECIPE, epochs=1))
    off_cfg = dict(RECIPE.params(), epochs=1, amp=False, channels_last=False)  # YAML's `off`
    off, _ = fit(CNN, digit_images, Recipe.of(off_cfg))
    for k, v in plain.state_dict().items():
        assert torch.equal(off.state_dict()[k], v), k


@pytest.mark.parametrize("cfg", [MLP_BN, CNN], ids=["mlp-bn", "cnn-bn"])
def test_bf16_training_lowers_the_loss_and_keeps_float32_weights(digits, digit_images, cfg):
    data = digit_images if cfg.name == "cnn" else digits
    model, history = fit(cfg, data, replace(RECIPE, **BF16, channels_last=cfg.name == "cnn"))
    losses = [h["train_loss"] for h in history]
    assert losses[-1] < 0.7 * losses[0], losses
    assert history[-1]["test_accuracy"] > 0.8
    assert all(v.dtype in (torch.float32, torch.int64) for v in model.state_dict().values())
    assert all(p.is_contiguous() for p in model.parameters())  # handed back in the standard layout


def test_bf16_is_close_to_float32(digits):
    _, full = fit(MLP_BN, digits, RECIPE)
    _, half = fit(MLP_BN, digits, replace(RECIPE, **BF16))
    assert half[-1]["train_loss"] == pytest.approx(full[-1]["train_loss"], rel=0.1)
    assert half[-1]["train_loss"] != full[-1]["train_loss"]  # bf16 did run


def test_channels_last_matches_the_standard_layout(digit_images):
    standard, h_std = fit(CNN, digit_images, RECIPE)
    last, h_last = fit(CNN, digit_images, replace(RECIPE, channels_last=True))
    assert h_last[-1]["test_loss"] == pytest.approx(h_std[-1]["test_loss"], rel=1e-4)
    for k, v in standard.state_dict().items():
        torch.testing.assert_close(last.state_dict()[k], v, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_starlight_gradient_is_exactly_one_minus_t_times_the_gradient_under_autocast(dtype):
    """Autocast wraps only the forward pass: the (1-t) of step 5 is applied in float32; fp16's
    loss scale (a power of two) cancels exactly."""
    t = 0.3
    precision = Precision("cpu", dtype)  # fp16 on CPU only here, to test the scaler path
    model, params, anchor, scratch, x, y = starlight_gradient_case()
    loss = interpolated_loss(model, params, anchor, scratch, t, x, y, precision=precision)
    scale = 1024.0 if dtype is torch.float16 else 1.0  # what a GradScaler multiplies by
    grads = [g / scale for g in torch.autograd.grad(loss * scale, list(params.values()))]
    explicit = MLP(64, 10, 8, 2, batchnorm=True).train()
    with torch.no_grad():
        for k, p in explicit.named_parameters():
            p.copy_(torch.lerp(params[k], anchor[k], t))  # the same float32 theta(t)
    with precision.autocast():
        ref = F.cross_entropy(explicit(x), y)
    # same scale for the reference: unscaled fp16 gradients below 6e-5 would lose digits
    ref_grads = [r / scale for r in torch.autograd.grad(ref * scale, list(explicit.parameters()))]
    assert loss.dtype == torch.float32 and loss.item() == ref.item()
    for g, r in zip(grads, ref_grads, strict=True):
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, (1 - t) * r, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_starlight_with_bf16_and_channels_last_lowers_its_loss(digit_images):
    anchors = [fit(CNN, digit_images, RECIPE, seed)[0].state_dict() for seed in (0, 1)]
    frozen = [{k: v.clone() for k, v in a.items()} for a in anchors]
    star = build_model(CNN, digit_images.in_shape, 10, 7)
    spec = model_spec(CNN, star, digit_images.in_shape)
    recipe = replace(RECIPE, **BF16, channels_last=True)
    star_cfg = StarSettings(anchors=(0, 1), epochs=4, seed=7)
    history, perms = train_star(
        star, anchors, spec, digit_images, recipe, star_cfg, AlignSettings(max_iter=20)
    )
    losses = [h["train_loss_interpolated"] for h in history]
    assert losses[-1] < 0.7 * losses[0], losses
    assert len(perms) == 2 and all(p.is_contiguous() for p in star.parameters())
    assert all(v.dtype in (torch.float32, torch.int64) for v in star.state_dict().values())
    for a, f in zip(anchors, frozen, strict=True):
        assert all(torch.equal(a[k], f[k]) for k in a)


@pytest.mark.slow
def test_gpu_benchmark_smoke_run_prints_every_part():
    """benchmarks/gpu_epoch.py --smoke: the GPU benchmark's code paths, at tiny sizes on CPU."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    cmd = [sys.executable, str(REPO / "benchmarks/gpu_epoch.py"), "--smoke"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for text in ("(a) DataLoader", "(b) GPU-resident", "(c) GPU-resident, bf16",
                 "Starlight step / plain step, fp32", "N = 50:", "projected 200-epoch run"):  # fmt: skip
        assert text in proc.stdout, text
