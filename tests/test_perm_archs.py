"""Every architecture of the registry: permuting keeps the function, matching finds a planted perm.

Checked in eval mode with randomised BN statistics, in float32: relative change of the outputs
<= 1e-5 and every permutation group recovered exactly; DenseNet-40-12 permutes > 90 % of its units
on an independent pair, and every ResNet-18 residual stream is permuted. Widths are reduced
where the architecture allows it, to keep each test to seconds on CPU.
"""

from __future__ import annotations

import pytest

from stardomain.models import REGISTRY, build_model, model_spec
from stardomain.perm import fraction_moved, weight_matching
from stardomain.settings import ModelSettings

from conftest import assert_cases_cover
from helpers import check_permutation_invariance_and_recovery

CASES = {
    "mlp": (dict(name="mlp", width=8, depth=3, batchnorm=True), (1, 8, 8)),
    "cnn": (dict(name="cnn", width=8), (3, 16, 16)),
    "resnet18": (dict(name="resnet18", width=8), (3, 16, 16)),
    "resnet18_imagenet": (dict(name="resnet18_imagenet"), (3, 32, 32)),
    "vgg11": (dict(name="vgg", depth=11, batchnorm=False, width=8), (3, 32, 32)),
    "vgg19_bn": (dict(name="vgg", depth=19, batchnorm=True, width=8), (3, 32, 32)),
    "wrn22_2": (dict(name="wrn", depth=22, width_factor=2), (3, 16, 16)),
    "densenet40_12": (dict(name="densenet40_12"), (3, 16, 16)),
    "vit": (dict(name="vit", width=16, depth=2, heads=4, mlp_dim=32), (1, 28, 28)),
}


def test_every_registered_architecture_has_a_case():
    names = {cfg["name"] for cfg, _ in CASES.values()}
    assert_cases_cover(REGISTRY, names, "stardomain.models.REGISTRY", "CASES of test_perm_archs.py")


@pytest.mark.parametrize("name", sorted(CASES))
def test_architecture_keeps_function_and_recovers_planted_perm(name):
    cfg, in_shape = CASES[name]
    model = build_model(ModelSettings.of(cfg), in_shape, 10, seed=0)
    spec = check_permutation_invariance_and_recovery(model, in_shape)
    assert (
        spec.axes == model_spec(ModelSettings.of(cfg), model, in_shape).axes or cfg["name"] == "mlp"
    )


def independent_pair(cfg: dict, in_shape: tuple):
    a, b = (build_model(ModelSettings.of(cfg), in_shape, 10, seed).state_dict() for seed in (1, 2))
    return (
        model_spec(
            ModelSettings.of(cfg), build_model(ModelSettings.of(cfg), in_shape, 10, 0), in_shape
        ),
        a,
        b,
    )


def test_densenet_matcher_permutes_units():
    spec, a, b = independent_pair(*CASES["densenet40_12"])
    assert len(spec.sizes(a)) > 30  # every layer's growth units, concatenated onward
    assert fraction_moved(weight_matching(spec, a, b, seed=0)) > 0.9


def test_resnet18_every_residual_stream_permuted():
    spec, a, b = independent_pair(*CASES["resnet18"])
    # the stream of stage i runs through every block's bn2 (and the stem's bn1 for stage 1)
    streams = {spec.axes[f"layer{i}.{j}.bn2.running_mean"][0] for i in range(1, 5) for j in (0, 1)}
    assert spec.axes["bn1.running_var"][0] in streams and None not in streams
    assert len(streams) == 4  # one per stage: the stem's width, then after each downsampling
    perm = weight_matching(spec, a, b, seed=0)
    assert all(fraction_moved({s: perm[s]}) > 0.9 for s in streams)
