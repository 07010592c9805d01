"""Every architecture: forward/backward at its real input size, parameter counts vs published."""

from __future__ import annotations

import sys

import pytest
import torch

from stardomain.models import REGISTRY, build_model
from stardomain.settings import ModelSettings

from conftest import assert_cases_cover

CIFAR, MNIST, IMAGENET = (3, 32, 32), (1, 28, 28), (3, 224, 224)

# (config, input shape, classes, parameters of our model, published millions as printed, source)
MODELS = [
    (dict(name="mlp", width=16, depth=1), MNIST, 10, 12_730, None, ""),
    (dict(name="cnn"), CIFAR, 10, 24_346, None, ""),
    (dict(name="resnet18"), CIFAR, 10, 11_173_962, "11.2", "the paper; He et al. 2016"),
    (dict(name="resnet18"), CIFAR, 100, 11_220_132, "11.2", "the paper"),
    (dict(name="resnet18_imagenet"), IMAGENET, 1000, 11_689_512, "11.69", "torchvision"),
    (dict(name="densenet40_12"), CIFAR, 10, 1_019_722, "1.0", "Huang et al. 2017, Table 2"),
    (dict(name="vgg", depth=11), CIFAR, 10, 9_225_610, None, ""),
    (dict(name="vgg", depth=19), CIFAR, 10, 20_029_514, None, ""),
    (dict(name="vgg", depth=11, batchnorm=True), CIFAR, 10, 9_228_362, None, ""),
    (dict(name="wrn", depth=22, width_factor=1), CIFAR, 10, 272_282, None, ""),
    (dict(name="wrn", depth=22, width_factor=8), CIFAR, 10, 17_158_106, None, ""),
    (dict(name="wrn", depth=28, width_factor=10), CIFAR, 10, 36_479_194, "36.5", "Zagoruyko 2016"),
    (dict(name="wrn", depth=40, width_factor=1), CIFAR, 10, 563_930, "0.6", "Zagoruyko 2016"),
    (dict(name="vit"), MNIST, 10, 138_890, None, ""),
]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_id(entry) -> str:
    cfg, shape, classes, *_ = entry
    settings = "-".join(f"{k}{v}" for k, v in cfg.items() if k != "name")
    return f"{cfg['name']}-{settings}-{shape[-1]}px-{classes}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "cfg,shape,classes,count,published,source", MODELS, ids=[model_id(m) for m in MODELS]
)
def test_forward_backward_at_real_input_size(cfg, shape, classes, count, published, source):
    model = build_model(ModelSettings.of(cfg), shape, classes, seed=0)
    x = torch.randn(2, *shape)
    out = model(x)
    assert out.shape == (2, classes)
    out.logsumexp(1).sum().backward()
    missing = [k for k, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    assert n_params(model) == count
    if published is not None:  # rounds to the published figure, to its printed digits
        decimals = len(published.split(".")[1])
        assert f"{count / 1e6:.{decimals}f}" == published, (count, published, source)


def test_every_registry_entry_is_tested():
    names = {cfg["name"] for cfg, *_ in MODELS}
    assert_cases_cover(REGISTRY, names, "stardomain.models.REGISTRY", "MODELS of test_models.py")


def test_same_seed_same_weights_other_seed_other_weights():
    a, b = (
        build_model(ModelSettings.of(dict(name="resnet18", width=8)), CIFAR, 10, seed=s)
        for s in (3, 3)
    )
    c = build_model(ModelSettings.of(dict(name="resnet18", width=8)), CIFAR, 10, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_architecture_settings_reach_the_model():
    narrow = build_model(ModelSettings.of(dict(name="resnet18", width=16)), CIFAR, 10, seed=0)
    assert narrow.conv1.out_channels == 16 and narrow.linear.in_features == 128
    vgg19 = build_model(
        ModelSettings.of(dict(name="vgg", depth=19, batchnorm=True)), CIFAR, 10, seed=0
    )
    assert sum(isinstance(m, torch.nn.Conv2d) for m in vgg19.modules()) == 16
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in vgg19.modules()) == 16
    wrn = build_model(
        ModelSettings.of(dict(name="wrn", depth=28, width_factor=2)), CIFAR, 10, seed=0
    )
    assert len(wrn.block1) == 4 and wrn.linear.in_features == 128
    vit = build_model(
        ModelSettings.of(dict(name="vit", width=32, depth=2, heads=2, patch_size=4)), MNIST, 10, 0
    )
    assert len(vit.blocks) == 2 and vit.pos.shape == (1, 49, 32)


@pytest.mark.parametrize(
    "cfg,match",
    [
        (dict(name="vgg", depth=13), r"model\.depth: VGG depth 13 not in \[11, 19\]"),
        (dict(name="wrn", depth=23), r"model\.depth: WRN depth must be 6n \+ 4"),
        (dict(name="vit", patch_size=5), r"model\.patch_size: 5 does not divide 28"),
        (dict(name="resnet1000"), r"model\.name: unknown model 'resnet1000'"),
    ],
)
def test_bad_settings_name_the_key(cfg, match):
    shape = MNIST if cfg["name"] == "vit" else CIFAR
    with pytest.raises(ValueError, match=match):
        build_model(ModelSettings.of(cfg), shape, 10, seed=0)


def test_user_model_factory_by_import_path(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(
        "from torch import nn\n"
        "def tiny_convnet(num_classes, in_shape, channels=4):\n"
        "    return nn.Sequential(\n"
        "        nn.Conv2d(in_shape[0], channels, 3, padding=1), nn.BatchNorm2d(channels),\n"
        "        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = dict(name="my_models:tiny_convnet", kwargs=dict(channels=6))
    model = build_model(ModelSettings.of(cfg), CIFAR, 7, seed=0)
    assert model(torch.randn(3, *CIFAR)).shape == (3, 7) and model[0].out_channels == 6
    with pytest.raises(ValueError, match=r"model\.name: cannot import module 'no_such_module'"):
        build_model(ModelSettings.of(dict(name="no_such_module:f")), CIFAR, 7, seed=0)
    sys.modules.pop("my_models", None)
