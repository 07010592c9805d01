"""Unit tests of the core algorithms on CPU: MLP permutation, weight matching, barriers, Starlight."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stardomain import barrier
from stardomain.data import Batches, Data, Split, load_data
from stardomain.models import MLP, build_model
from stardomain.perm import (
    apply_permutation,
    fraction_moved,
    mlp_spec,
    random_perm,
    weight_matching,
)
from stardomain.settings import (
    AlignSettings,
    DataSettings,
    EvalSettings,
    ModelSettings,
    Recipe,
    StarSettings,
)
from stardomain.starlight import interpolated_loss, train_star
from stardomain.train import train_regular

from conftest import starlight_gradient_case

RECIPE = Recipe(epochs=2, batch_size=64)
ALIGN = AlignSettings(max_iter=50)  # Starlight's re-alignment


def randomise_bn(model: torch.nn.Module, seed: int) -> None:
    """Give every BN layer non-trivial running stats and affine parameters."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen))
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.randn(n, generator=gen))
            m.bias.data.copy_(torch.randn(n, generator=gen))


@pytest.mark.parametrize("depth,batchnorm", [(1, False), (3, False), (2, True)])
def test_permuting_mlp_keeps_its_function(depth, batchnorm):
    model = MLP(64, 10, width=16, depth=depth, batchnorm=batchnorm)
    randomise_bn(model, 0)
    model.eval()
    spec = mlp_spec(depth, batchnorm)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    perm = random_perm(spec, state, seed=1)
    x = torch.randn(32, 64)
    with torch.no_grad():
        before = model(x)
        model.load_state_dict(apply_permutation(spec, perm, state))
        after = model(x)
    assert fraction_moved(perm) > 0.8
    assert not torch.equal(
        model.state_dict()["layers.0.linear.weight"], state["layers.0.linear.weight"]
    )
    assert torch.allclose(before, after, atol=1e-5 * before.abs().max())


@pytest.mark.parametrize("batchnorm", [False, True])
def test_weight_matching_recovers_planted_permutation(batchnorm):
    model = MLP(64, 10, width=32, depth=3, batchnorm=batchnorm)
    randomise_bn(model, 2)
    spec = mlp_spec(3, batchnorm)
    target = model.state_dict()
    planted = random_perm(spec, target, seed=3)
    source = apply_permutation(spec, planted, target)
    found = weight_matching(spec, target, source, seed=0)
    realigned = apply_permutation(spec, found, source)
    for key in target:
        assert torch.equal(realigned[key], target[key]), key
    # found undoes planted: planted[found] is the identity for every group
    for name, p in planted.items():
        assert torch.equal(p[found[name]], torch.arange(len(p)))


def test_weight_matching_is_seeded_and_warm_start_is_a_fixed_point():
    a = MLP(64, 10, 16, 2).state_dict()
    b = MLP(64, 10, 16, 2).state_dict()
    spec = mlp_spec(2)
    p1 = weight_matching(spec, a, b, seed=5)
    p2 = weight_matching(spec, a, b, seed=5)
    assert all(torch.equal(p1[k], p2[k]) for k in p1)
    p3 = weight_matching(spec, a, b, seed=6, init_perm=p1)
    assert all(torch.equal(p1[k], p3[k]) for k in p1)


def test_barrier_formulas_match_a_hand_computation():
    ts = [0.0, 0.25, 0.5, 0.75, 1.0]
    losses = [1.0, 2.0, 3.0, 2.0, 0.5]
    # line: 1.0, 0.875, 0.75, 0.625, 0.5 -> gaps 0, 1.125, 2.25, 1.375, 0
    assert barrier.loss_barrier(ts, losses) == pytest.approx(2.25)
    # a convex curve below the line has no barrier (floored at 0)
    assert barrier.loss_barrier(ts, [1.0, 0.5, 0.4, 0.45, 0.5]) == 0.0
    acc = [0.9, 0.8, 0.5, 0.7, 0.7]
    # line: 0.9, 0.85, 0.8, 0.75, 0.7 -> drops 0, 5, 30, 5, 0 percentage points
    assert barrier.accuracy_barrier_pp(ts, acc) == pytest.approx(30.0)


@pytest.fixture(scope="module")
def digits() -> Data:
    return load_data(DataSettings.of(dict(name="digits", test_fraction=0.2, split_seed=0)))


def test_digits_split_is_fixed_and_standardised(digits):
    again = load_data(DataSettings.of(dict(name="digits", test_fraction=0.2, split_seed=0)))
    assert torch.equal(digits.train.x, again.train.x)
    assert (len(digits.train), len(digits.test)) == (1437, 360)
    assert digits.train.x.mean().abs() < 1e-5 and abs(digits.train.x.std() - 1) < 1e-4
    assert set(digits.test.y.tolist()) == set(range(10))


@pytest.mark.parametrize("batchnorm", [False, True])
def test_barrier_of_a_model_with_itself_is_zero(digits, batchnorm):
    cfg = ModelSettings.of(dict(name="mlp", width=8, depth=2, batchnorm=batchnorm))
    model = build_model(cfg, digits.in_shape, 10, seed=0)
    train_regular(model, digits, replace(RECIPE, epochs=1), seed=0)
    state = model.state_dict()
    rows = barrier.curve(model, state, state, digits, EvalSettings((0, 0.5, 1), 512, 128, None, 0))
    out = barrier.barriers(rows)
    # with BN, re-estimated statistics at t = 0.5 differ slightly from the training EMA
    tol = 0.02 if batchnorm else 1e-6
    assert out["barrier_loss_train"] <= tol and out["barrier_loss_test"] <= tol
    assert out["loss_train_a"] == out["loss_train_b"]


@pytest.mark.parametrize("t", [0.0, 0.3, 0.8])
def test_starlight_gradient_is_one_minus_t_times_gradient_at_theta_t(t):
    model, params, anchor, scratch, x, y = starlight_gradient_case()
    loss = interpolated_loss(model, params, anchor, scratch, t, x, y)
    grads = torch.autograd.grad(loss, list(params.values()))
    # explicit interpolation: a separate model holding theta(t) as leaves
    explicit = MLP(64, 10, 8, 2, batchnorm=True)
    with torch.no_grad():
        for k, p in explicit.named_parameters():
            p.copy_((1 - t) * params[k] + t * anchor[k])
    explicit.train()
    ref = F.cross_entropy(explicit(x), y)
    ref_grads = torch.autograd.grad(ref, list(explicit.parameters()))
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    for g, r in zip(grads, ref_grads, strict=True):
        assert torch.allclose(g, (1 - t) * r, atol=1e-6)
    # the star's real BN buffers were not touched (only the scratch copies were)
    assert torch.equal(model.layers[0].bn.running_mean, torch.zeros(8))


def trained_anchors(data, cfg: dict, n: int, epochs: int) -> list[dict]:
    """State dicts of `n` regular models (seeds 0..n-1) trained `epochs` epochs with RECIPE."""
    anchors = []
    for seed in range(n):
        m = build_model(cfg, data.in_shape, 10, seed)
        train_regular(m, data, replace(RECIPE, epochs=epochs), seed)
        anchors.append({k: v.clone() for k, v in m.state_dict().items()})
    return anchors


def test_starlight_lowers_the_loss_along_segments_and_keeps_anchors(digits):
    cfg = ModelSettings.of(dict(name="mlp", width=8, depth=2, batchnorm=False))
    anchors = trained_anchors(digits, cfg, 3, epochs=5)
    frozen = [{k: v.clone() for k, v in a.items()} for a in anchors]
    star = build_model(cfg, digits.in_shape, 10, seed=100)
    spec = mlp_spec(2)
    batches = Batches(digits.train, 512, shuffle=False)

    def segment_loss() -> float:
        state = star.state_dict()
        perms = [weight_matching(spec, state, a, seed=0) for a in anchors]
        losses = []
        for p, a in zip(perms, anchors, strict=True):
            aligned = apply_permutation(spec, p, a)
            for t in (0.25, 0.5, 0.75):
                with torch.no_grad():
                    params = {k: torch.lerp(state[k], aligned[k], t) for k in state}
                    losses.append(
                        np.mean([F.cross_entropy(torch.func.functional_call(star, params, (x,)), y).item()
                                 for x, y in batches])
                    )  # fmt: skip
        return float(np.mean(losses))

    before = segment_loss()
    star_cfg = StarSettings(anchors=(0, 1, 2), epochs=8, seed=7)
    history, perms = train_star(star, anchors, spec, digits, RECIPE, star_cfg, ALIGN)
    after = segment_loss()
    assert len(history) == 8 and len(perms) == 3
    assert after < 0.6 * before, (before, after)
    for a, f in zip(anchors, frozen, strict=True):
        assert all(torch.equal(a[k], f[k]) for k in a)


def test_star_bn_batches_bound_only_the_intermediate_bn_estimates(digits):
    """star.bn_batches: intermediate epochs re-estimate BN on k batches, the last on a full pass.

    The star's own BN buffers feed neither its training (theta(t) uses batch statistics) nor the
    matching (weights only), so the final model is bitwise that of a full pass every epoch.
    """
    from stardomain.models import model_spec

    cfg = ModelSettings.of(dict(name="mlp", width=8, depth=2, batchnorm=True))
    anchors = trained_anchors(digits, cfg, 2, epochs=2)
    star_cfg = StarSettings(anchors=(0, 1, 2), epochs=3, seed=7)
    runs = {}
    for k in (None, 1):
        star = build_model(cfg, digits.in_shape, 10, seed=100)
        spec = model_spec(cfg, star, digits.in_shape)
        history, _ = train_star(
            star, anchors, spec, digits, RECIPE, replace(star_cfg, bn_batches=k), ALIGN
        )
        runs[k] = (star.state_dict(), history)
    full, bounded = runs[None], runs[1]
    assert all(torch.equal(full[0][name], bounded[0][name]) for name in full[0])
    assert full[1][0]["test_loss"] != bounded[1][0]["test_loss"]  # epoch 0: 1 batch vs all
    assert full[1][-1]["test_loss"] == bounded[1][-1]["test_loss"]  # the last: a full pass


def test_anchors_realigned_in_threads_give_the_same_star(digits):
    """train_star(workers=3) matches anchors concurrently: same permutations, bitwise same star."""
    from stardomain.models import model_spec

    cfg = ModelSettings.of(dict(name="mlp", width=8, depth=2, batchnorm=True))
    anchors = trained_anchors(digits, cfg, 3, epochs=2)
    star_cfg = StarSettings(anchors=(0, 1, 2), epochs=3, seed=7)
    runs = {}
    for workers in (1, 3):
        star = build_model(cfg, digits.in_shape, 10, seed=100)
        spec = model_spec(cfg, star, digits.in_shape)
        history, perms = train_star(
            star, anchors, spec, digits, RECIPE, star_cfg, ALIGN, workers=workers
        )
        runs[workers] = (star.state_dict(), history, perms)
    (s1, h1, p1), (s3, h3, p3) = runs[1], runs[3]
    assert all(torch.equal(s1[k], s3[k]) for k in s1) and h1 == h3
    assert all(torch.equal(a[k], b[k]) for a, b in zip(p1, p3, strict=True) for k in a)
    moved = [sum(int((v != torch.arange(len(v))).sum()) for v in p.values()) for p in p1]
    assert min(moved) > 0  # the anchors really were permuted


def test_align_anchors_threads_match_serial_on_a_resnet():
    from stardomain.models import model_spec
    from stardomain.starlight import align_anchors

    cfg = ModelSettings.of(dict(name="resnet18", width=4))
    shape = (3, 16, 16)
    star = build_model(cfg, shape, 10, 0).state_dict()
    anchors = [build_model(cfg, shape, 10, seed).state_dict() for seed in range(1, 5)]
    spec = model_spec(cfg, build_model(cfg, shape, 10, 0), shape)
    serial = align_anchors(spec, star, anchors, [None] * 4, seed=0, max_iter=20)
    threads = align_anchors(spec, star, anchors, [None] * 4, seed=0, max_iter=20, workers=4)
    for a, b in zip(serial, threads, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(v, torch.arange(len(v))) for p in serial for v in p.values())


@pytest.mark.parametrize("scheme,expect", [("constant", 0.5), ("beta", None), ("uniform", None)])
def test_t_sampling_schemes(scheme, expect):
    from stardomain.starlight import t_sampler

    draw = t_sampler(
        StarSettings(anchors=(), epochs=1, t_sampling=scheme), np.random.default_rng(0)
    )
    ts = np.array([draw() for _ in range(4000)])
    assert ts.min() >= 0 and ts.max() <= 1
    if expect is not None:
        assert np.all(ts == expect)
    elif scheme == "beta":
        assert ts.var() == pytest.approx(1 / 20, abs=0.005)  # Beta(2,2): var = 1/20
    else:
        assert ts.var() == pytest.approx(1 / 12, abs=0.005)  # U[0,1]: var = 1/12


def test_split_batches_cover_every_example_once():
    split = Split(torch.arange(10.0).unsqueeze(1), torch.arange(10))
    seen = torch.cat([y for _, y in Batches(split, 3, shuffle=True, seed=0)])
    assert sorted(seen.tolist()) == list(range(10))


def test_evaluation_subset_is_the_same_seeded_images_every_time():
    x = torch.arange(100, dtype=torch.float32).view(100, 1)
    data = Data(Split(x, torch.zeros(100, dtype=torch.long)), Split(x, x[:, 0].long()), (1,), 10)
    subset = barrier.Subset(data, "train", 16, 40, seed=3)
    first = torch.cat([b for b, _ in subset])
    assert first.shape == (40, 1) and len(set(first[:, 0].tolist())) == 40
    assert torch.equal(first, torch.cat([b for b, _ in subset]))  # the same images again
    assert not torch.equal(first, x[:40])  # a random subset, not the first images
    other = torch.cat([b for b, _ in barrier.Subset(data, "train", 16, 40, seed=4)])
    assert not torch.equal(first, other)
    everything = torch.cat([b for b, _ in barrier.Subset(data, "test", 16, None, seed=3)])
    assert torch.equal(everything, x)  # None: the whole split in file order


def test_curve_on_subsets_measures_the_endpoints_on_those_images():
    from stardomain.evaluate import evaluate

    torch.manual_seed(0)
    x, y = torch.randn(300, 64), torch.randint(0, 10, (300,))
    data = Data(Split(x, y), Split(x[:100], y[:100]), (64,), 10)
    model = MLP(64, 10, 8, 1)
    a = {k: v.clone() for k, v in model.state_dict().items()}
    b = {k: torch.randn_like(v) for k, v in a.items()}
    settings = EvalSettings((0.0, 0.5, 1.0), 64, 64, None, seed=1, train_subset=50, test_subset=30)
    rows = barrier.curve(model, a, b, data, settings)
    model.load_state_dict(a)
    loss, acc = evaluate(model, barrier.Subset(data, "train", 64, 50, 1))
    first = next(r for r in rows if r["t"] == 0.0 and r["split"] == "train")
    assert (first["loss"], first["accuracy"]) == pytest.approx((loss, acc))
    assert first["loss"] != pytest.approx(evaluate(model, data.batches("train", 64, False))[0])
