"""Helpers shared by several test modules (test modules never import one another)."""

from __future__ import annotations

import torch
from snakemake.utils import validate
from torch import nn

from stardomain.jobs import RegularJob, StarJob
from stardomain.perm import (
    apply_permutation,
    fraction_moved,
    inverse_perm,
    random_perm,
    spec_from_trace,
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

from conftest import REPO, tiny_config

REL_TOL = 1e-5


def randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters in every BN and LayerNorm."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen))
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
        if isinstance(m, nn.modules.batchnorm._BatchNorm | nn.LayerNorm | nn.GroupNorm):
            m.weight.data.copy_(torch.randn(m.weight.shape, generator=gen))
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=gen))
    return model.eval()


def relative_change(model: nn.Module, state: dict, moved: dict, x: torch.Tensor) -> float:
    with torch.no_grad():
        model.load_state_dict(state)
        before = model(x)
        model.load_state_dict(moved)
        after = model(x)
        model.load_state_dict(state)
    return float((after - before).abs().max() / before.abs().max())


def check_permutation_invariance_and_recovery(model: nn.Module, in_shape: tuple, seed: int = 0):
    """Assert both acceptance properties for `model`; returns the spec."""
    torch.manual_seed(seed)
    randomise_bn(model, seed)
    spec = spec_from_trace(model, in_shape).spec
    state = {k: v.clone() for k, v in model.state_dict().items()}
    planted = random_perm(spec, state, seed=seed + 1)
    assert fraction_moved(planted) > 0.5
    source = apply_permutation(spec, planted, state)
    x = torch.randn(4, *in_shape)
    assert relative_change(model, state, source, x) <= REL_TOL
    found = weight_matching(spec, state, source, seed=seed)
    expected = inverse_perm(planted)
    assert {p: found[p].tolist() for p in found} == {p: expected[p].tolist() for p in expected}
    realigned = apply_permutation(spec, found, source)
    assert all(torch.equal(realigned[k], state[k]) for k in state)
    return spec


def tiny_experiment(**overrides) -> dict:
    """The tiny experiment with schema defaults filled in (as the workflow sees it)."""
    config = tiny_config()
    exp = config["experiments"]["tiny"]
    for section, values in overrides.items():
        exp[section].update(values)
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return exp


class Interrupt(Exception):
    """Stands in for a kill between two epochs."""


def stop_after(n: int, seen: list[int]):
    """A progress hook that records the epochs it hands out and raises after `n` of them."""

    def progress(epochs, desc=None):
        for i, epoch in enumerate(epochs):
            if i == n:
                raise Interrupt
            seen.append(epoch)
            yield epoch

    return progress


UNIT_DATA = DataSettings.of(dict(name="digits", test_fraction=0.2, split_seed=0))
UNIT_MODEL = ModelSettings.of(dict(name="mlp", width=8, depth=2, batchnorm=True))


def unit_job(seed: int = 0, **recipe) -> RegularJob:
    """A regular model of the unit tests: digits, MLP 64-8-8-10 with BN, 2 epochs of batch 64
    (`recipe`: other recipe values)."""
    return RegularJob(
        experiment="unit",
        seed=seed,
        data=UNIT_DATA,
        model=UNIT_MODEL,
        recipe=Recipe(epochs=2, batch_size=64, **recipe),
    )


def unit_star(anchors: tuple[int, ...] = (0, 1), seed: int = 0) -> StarJob:
    """A star of the unit tests against the `unit_job` models `anchors`, 2 epochs."""
    job = unit_job()
    return StarJob(
        experiment="unit",
        name="main",
        data=job.data,
        model=job.model,
        recipe=job.recipe,
        star=StarSettings(anchors=anchors, epochs=2, seed=seed),
        align=AlignSettings().for_starlight(),
    )


def design_of(name: str, exp: dict):
    """`summary.design_table` of a validated experiment config, as rule describe_stars makes it."""
    from stardomain import design, summary

    stars = {s: design.star_settings(exp, s) for s in exp["stars"]}
    replicates = {s: design.replicate_of(exp, s) for s in exp["stars"]}
    model = ModelSettings.of(exp["model"])
    shortcuts = summary.eval_shortcuts(EvalSettings.of(exp["eval"]))
    return summary.design_table(name, stars, replicates, model, exp["n_heldout"], shortcuts)
