"""The authors' model variants and protocol switches (docs/fidelity.md).

Parameter counts of `model.variant: authors` against the authors' own models; permuting keeps the
function and matching finds a planted permutation for each variant, dropout included (eval mode);
dropout is active at Starlight's theta(t) and off in evaluation; `star.realign: never`; rebasin's BN
pass reads the augmented training loader.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from stardomain import io
from stardomain.data import load_data
from stardomain.evaluate import evaluate, reestimate_bn
from stardomain.jobs import CurveJob
from stardomain.models import build_model, model_spec
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

from conftest import REPO, job_counts, snakemake
from fake_data import write_cifar
from helpers import check_permutation_invariance_and_recovery

CIFAR = (3, 32, 32)

# (model config, classes, parameters). Source of every count: the authors' code
# (aktsonthalia/starlight, models/vgg.py vgg11/vgg19, models/densenet.py densenet_cifar,
# models/wide_resnet.py Wide_ResNet), instantiated and counted on 2026-11-30; the paper's figures
# "9.75 M / 20.55 M" (VGG) and "1.059 M" (DenseNet) round these.
AUTHORS_COUNTS = [
    (dict(name="vgg", depth=11, variant="authors"), 10, 9_750_922),
    (dict(name="vgg", depth=19, variant="authors"), 10, 20_554_826),
    (dict(name="densenet40_12", variant="authors"), 10, 1_059_298),
    (dict(name="densenet40_12", variant="authors"), 100, 1_100_428),
    *[
        (dict(name="wrn", depth=d, width_factor=k, variant="authors"), 10, count)
        for d, k, count in [
            (22, 1, 273_066), (22, 2, 1_081_226), (22, 4, 4_302_122), (22, 8, 17_164_394),
            (28, 1, 370_506), (34, 1, 467_946), (40, 1, 565_386),
        ]
    ],
]  # fmt: skip


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def case_id(case) -> str:
    cfg, classes, _ = case
    return "-".join(str(v) for k, v in cfg.items() if k != "variant") + f"-{classes}"


@pytest.mark.parametrize("cfg,classes,count", AUTHORS_COUNTS, ids=map(case_id, AUTHORS_COUNTS))
def test_authors_variants_have_the_authors_parameter_counts(cfg, classes, count):
    assert n_params(build_model(ModelSettings.of(cfg), CIFAR, classes, seed=0)) == count


def test_reference_variants_are_unchanged_by_the_key():
    """variant: reference is what an absent key builds, bitwise (earlier model files still load)."""
    for cfg in (dict(name="vgg", depth=11, width=16), dict(name="densenet40_12"),
                dict(name="wrn", depth=16, width_factor=1)):  # fmt: skip
        plain = build_model(ModelSettings.of(cfg), CIFAR, 10, seed=3).state_dict()
        keyed = build_model(
            ModelSettings.of(dict(cfg, variant="reference")), CIFAR, 10, seed=3
        ).state_dict()
        assert plain.keys() == keyed.keys()
        assert all(torch.equal(plain[k], keyed[k]) for k in plain)


def test_authors_vgg_classifier_and_dropout():
    vgg = build_model(
        ModelSettings.of(dict(name="vgg", depth=11, variant="authors")), CIFAR, 10, seed=0
    )
    kinds = [type(m).__name__ for m in vgg.classifier]
    assert kinds == ["Dropout", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Linear"]
    assert [m.p for m in vgg.classifier if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]
    assert all(m.bias is not None for m in vgg.modules() if isinstance(m, torch.nn.Conv2d))
    bn = build_model(
        ModelSettings.of(dict(name="vgg", depth=11, batchnorm=True, variant="authors")),
        CIFAR,
        10,
        0,
    )
    assert all(m.bias is not None for m in bn.modules() if isinstance(m, torch.nn.Conv2d))


def test_authors_densenet_stem_dropout_and_init():
    net = build_model(
        ModelSettings.of(dict(name="densenet40_12", variant="authors")), CIFAR, 10, seed=0
    )
    assert net.conv1.out_channels == 24
    drops = [m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops == [0.2] * 38  # after each of the 36 dense-layer convs and 2 transition convs
    conv = net.features[5].conv  # a 3x3 conv with 12 outputs: std sqrt(2 / (9 * 12)) = 0.136
    assert conv.weight.std().item() == pytest.approx((2 / 108) ** 0.5, rel=0.05)
    assert not net.linear.bias.any()


def test_authors_wrn_block_layout():
    net = build_model(
        ModelSettings.of(dict(name="wrn", depth=16, width_factor=2, variant="authors")),
        CIFAR,
        10,
        0,
    )
    block = net.block2[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)
    assert all(m.bias is not None for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert net.bn.momentum == 0.9
    x = torch.randn(2, 32, 16, 16)
    block.eval()
    with torch.no_grad():  # the shortcut reads the raw input, not the pre-activated one
        main = block.conv2(torch.relu(block.bn2(block.conv1(torch.relu(block.bn1(x))))))
        assert torch.allclose(block(x), main + block.shortcut(x))


def test_dropout_other_than_the_variants_is_refused_with_the_key():
    with pytest.raises(ValueError, match=r"model\.dropout: the reference VGG has no dropout"):
        build_model(ModelSettings.of(dict(name="vgg", depth=11, dropout=0.5)), CIFAR, 10, seed=0)
    with pytest.raises(ValueError, match=r"model\.variant: WRN variant 'ours'"):
        build_model(ModelSettings.of(dict(name="wrn", variant="ours")), CIFAR, 10, seed=0)


# Reduced widths / image sizes keep each case to seconds; every variant's topology is kept.
PERM_CASES = {
    "vgg11_authors": (dict(name="vgg", depth=11, width=8, variant="authors"), (3, 32, 32)),
    "vgg19_authors": (dict(name="vgg", depth=19, width=8, variant="authors"), (3, 32, 32)),
    "vgg11_bn_authors": (
        dict(name="vgg", depth=11, width=8, batchnorm=True, variant="authors"),
        (3, 32, 32),
    ),
    "densenet40_12_authors": (dict(name="densenet40_12", variant="authors"), (3, 16, 16)),
    "wrn22_2_authors": (dict(name="wrn", depth=22, width_factor=2, variant="authors"), (3, 16, 16)),
    "wrn16_1_authors_dropout": (
        dict(name="wrn", depth=16, width_factor=1, variant="authors", dropout=0.3),
        (3, 16, 16),
    ),
}


@pytest.mark.parametrize("name", sorted(PERM_CASES))
def test_authors_variant_keeps_function_and_recovers_planted_perm(name):
    """Eval mode (dropout off, randomised BN statistics): relative change <= 1e-5, exact recovery."""
    cfg, in_shape = PERM_CASES[name]
    model = build_model(ModelSettings.of(cfg), in_shape, 10, seed=0)
    spec = check_permutation_invariance_and_recovery(model, in_shape)
    assert spec.axes == model_spec(ModelSettings.of(cfg), model, in_shape).axes
    assert len(spec.sizes(model.state_dict())) > 5  # hidden units really are permutable


def tiny_vgg(seed: int = 0) -> torch.nn.Module:
    return build_model(
        ModelSettings.of(dict(name="vgg", depth=11, width=8, variant="authors")), CIFAR, 10, seed
    )


def test_dropout_is_active_at_theta_t_and_off_in_evaluation():
    """Starlight's forward at theta(t) runs in train mode (dropout on, as the authors' Starlight);
    evaluation runs in eval mode (dropout off): same inputs, same numbers."""
    model = tiny_vgg().train()
    params = dict(model.named_parameters())
    anchor = {k: v.detach() + 0.01 * torch.randn_like(v) for k, v in params.items()}
    x, y = torch.randn(16, *CIFAR), torch.randint(0, 10, (16,))
    losses = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        losses.append(interpolated_loss(model, params, anchor, {}, 0.3, x, y).item())
    assert losses[0] == losses[1] != losses[2]  # the masks follow torch's generator
    batches = [(x, y)]
    assert evaluate(model, batches) == evaluate(model, batches)
    assert not model.training


def cifar(tmp_path) -> object:
    write_cifar(tmp_path / "cifar10", n_train=120, n_test=40)
    return load_data(DataSettings.of(dict(name="cifar10", root=str(tmp_path / "cifar10"))))


RECIPE = Recipe(epochs=1, batch_size=32)


def test_dropout_training_depends_on_the_seed_alone(tmp_path):
    data = cifar(tmp_path)
    states = []
    for seed in (5, 5, 6):
        torch.manual_seed(123 + len(states))  # whatever the caller's generator holds
        model = tiny_vgg(seed=0)  # same init: only the training seed differs
        train_regular(model, data, RECIPE, seed)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not torch.equal(states[0]["classifier.1.weight"], states[2]["classifier.1.weight"])


def test_realign_never_trains_against_the_anchors_as_they_are(tmp_path):
    data = cifar(tmp_path)
    anchors = [tiny_vgg(seed=s).state_dict() for s in (1, 2)]
    spec = model_spec(ModelSettings.of(dict(name="vgg")), tiny_vgg(), CIFAR)
    stars = {}
    for realign in ("never", "never", "once"):
        star = tiny_vgg(seed=9)
        cfg = StarSettings(anchors=(1, 2), epochs=1, realign=realign, seed=7)
        _, perms = train_star(star, anchors, spec, data, RECIPE, cfg, AlignSettings(max_iter=20))
        stars.setdefault(realign, []).append((star.state_dict(), perms))
    (never, p_never), (again, _) = stars["never"]
    (once, p_once) = stars["once"][0]
    assert p_never == [] and len(p_once) == 2  # no matching at all, and the anchors left alone
    assert all(torch.equal(never[k], again[k]) for k in never)  # seeded: dropout included
    assert any(not torch.equal(never[k], once[k]) for k in never)  # alignment changes the star
    with pytest.raises(ValueError, match=r"star\.realign: unknown value 'sometimes'"):
        cfg = StarSettings(anchors=(1, 2), epochs=1, realign="sometimes", seed=7)
        train_star(tiny_vgg(), anchors, spec, data, RECIPE, cfg, AlignSettings(max_iter=20))


def test_rebasin_bn_pass_reads_the_augmented_training_loader(tmp_path):
    """The rebasin path's moved model has exactly the BN statistics of one pass of the augmented
    training loader (align.seed, align.bn_batch_size), not those of the unaugmented one."""
    pytest.importorskip("rebasin")
    from stardomain.stages.common import arch_of
    from stardomain.stages.pairs import run_align

    data = cifar(tmp_path)
    model_cfg = ModelSettings.of(dict(name="cnn", width=4))
    data_cfg = DataSettings.of(dict(name="cifar10", root=str(tmp_path / "cifar10")))
    paths = []
    for seed in (1, 2):
        model = build_model(model_cfg, data.in_shape, 10, seed)
        path = str(tmp_path / f"{seed}.pt")
        io.save_model(path, model.state_dict(), arch_of(model_cfg, data), {"seed": seed}, [])
        paths.append(path)
    align = AlignSettings(matcher="rebasin", max_iter=10, seed=3, bn_batch_size=32)
    out = str(tmp_path / "perm.pt")
    run_align(out, *paths, CurveJob(data_cfg, model_cfg, EvalSettings(), align), "cpu")
    moved = io.load_perm(out)["state"]
    model = build_model(model_cfg, data.in_shape, 10, 0)
    stats = {}
    for augment in (True, False):
        model.load_state_dict(moved)
        reestimate_bn(model, data.batches("train", 32, True, seed=3, augment=augment))
        stats[augment] = model.state_dict()["features.1.running_mean"].clone()
    assert torch.equal(moved["features.1.running_mean"], stats[True])
    assert not torch.allclose(moved["features.1.running_mean"], stats[False])


# ---------------------------------------------------------------------------------------------
# The paper's experiments as shipped (config.yaml) and real Snakemake runs of two of them
# ---------------------------------------------------------------------------------------------

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
EXPERIMENTS = CONFIG["experiments"]


def test_paper_ensemble_star_adds_the_stars_own_loss():
    exp = EXPERIMENTS["cifar100_resnet18"]
    assert exp["stars"]["ensemble"]["mu_star"] > 0
    assert exp["ensemble"]["stars"] == ["main", "ensemble"]
    assert all(s.get("mu_star", 0) == 0 for n, s in exp["stars"].items() if n != "ensemble")


def scaled_down(name: str, root: Path) -> dict:
    """Experiment `name` as shipped (the authors' variant and recipe), scaled down in models,
    epochs, width (VGG) and (fake) data, with a 3-point grid."""
    exp = copy.deepcopy(EXPERIMENTS[name])
    exp["data"]["root"] = str(root)
    # VGG: the classifier (with its dropout) scales with the features; DenseNet: growth 3 keeps
    # the 38 dropout layers, the concatenations and the stem of 2 x growth at about 1/16 of the cost
    exp["model"]["width"] = 8 if exp["model"]["name"] == "vgg" else 3
    exp["train"]["epochs"] = 1
    exp.update(seeds=[0, 1], n_anchors=1, n_heldout=1, stars={"main": {"epochs": 1}})
    exp["eval"] = dict(grid=[0.0, 0.5, 1.0], pair_anchors=1)
    return exp


@pytest.fixture(scope="module")
def authors_run(tmp_path_factory) -> tuple[Path, dict]:
    """A workdir where the scaled-down VGG-11 (authors, dropout 0.5) and DenseNet-40-12 (authors,
    dropout 0.2) experiments ran to the end; returns it and the config."""
    workdir = tmp_path_factory.mktemp("authors")
    write_cifar(workdir / "cifar10", n_train=200, n_test=100)
    names = ["cifar10_vgg11", "cifar10_densenet40_12"]
    config = {
        "all": names,
        "experiments": {n: scaled_down(n, workdir / "cifar10") for n in names},
        "figures": {"fig2": {"stars": ["main"]}},
    }
    snakemake(workdir, config)
    return workdir, config


@pytest.mark.slow
@pytest.mark.parametrize("name,head", [("cifar10_vgg11", "classifier.6.weight"),
                                       ("cifar10_densenet40_12", "linear.weight")])  # fmt: skip
def test_scaled_down_authors_experiments_run_every_stage(authors_run, name, head):
    workdir, config = authors_run
    model_cfg = config["experiments"][name]["model"]
    assert model_cfg["variant"] == "authors" and model_cfg["dropout"] > 0
    barriers = pd.read_csv(workdir / f"results/{name}/barriers.csv")
    assert len(barriers) == 5  # regular-regular and star-heldout (naive, permuted), star-anchor
    permuted = barriers[barriers["alignment"] == "permuted"]
    assert (permuted["max_abs_output_change"] < 1e-3).all()  # eval mode: dropout off
    assert (permuted["fraction_moved"] > 0).all()
    assert (barriers["barrier_loss_train"] >= 0).all() and barriers.notna().all().all()
    arch = dict(model=model_cfg, in_shape=[3, 32, 32], num_classes=10)
    for path in (f"results/{name}/regular/0.pt", f"results/{name}/star/main.pt"):
        saved = io.load_model(workdir / path, arch)
        assert saved["provenance"]["settings"]["model"] == model_cfg
        assert torch.isfinite(saved["state"][head]).all()
    assert (workdir / "figures/table1.csv").stat().st_size > 0


@pytest.mark.slow
def test_variant_and_protocol_keys_rerun_exactly_their_jobs(authors_run):
    """Dry runs on the finished workdir: a model key reruns its experiment (every regular model and
    everything downstream) and nothing of the other; realign reruns the star and its pairs only;
    the DenseNet protocol of the authors (rebasin + realign never) retrains no regular model."""
    workdir, config = authors_run
    assert job_counts(snakemake(workdir, config, "-n").stdout) == {}  # nothing to be done

    def counts_after(name: str, edit) -> dict[str, int]:
        changed = copy.deepcopy(config)
        edit(changed["experiments"][name])
        return job_counts(snakemake(workdir, changed, "-n").stdout)

    every_job = dict(train_regular=2, train_star=1, align_interpolate=3, interpolate=2,
                     barriers=1, curves=1, describe_stars=1, table1=1, fig2=1, all=1)  # fmt: skip
    model_edits = [  # (experiment, new model keys)
        ("cifar10_vgg11", dict(variant="reference", dropout=0.0)),
        ("cifar10_vgg11", dict(dropout=0.3)),
        ("cifar10_densenet40_12", dict(variant="reference")),
    ]
    for name, keys in model_edits:
        counts = counts_after(name, lambda e, keys=keys: e["model"].update(keys))
        assert counts == every_job, (name, keys)  # one experiment's jobs, not the other's
    star_only = dict(train_star=1, align_interpolate=2, interpolate=1, barriers=1, curves=1,
                     describe_stars=1, table1=1, fig2=1, all=1)  # fmt: skip
    never = counts_after(
        "cifar10_densenet40_12", lambda e: e["stars"]["main"].update(realign="never")
    )
    assert never == star_only
    authors_protocol = counts_after(
        "cifar10_densenet40_12",
        lambda e: (
            e["stars"]["main"].update(realign="never"),
            e.update(align={"matcher": "rebasin"}),
        ),
    )
    assert authors_protocol == dict(star_only, align_interpolate=3)  # every permuted pair
