"""Architectures of the paper's experiments (docs/experiments.md), as plain `nn.Module`s.

Every builder takes `num_classes` (and `in_channels` where inputs are images) and nothing global;
the registry in `stardomain.models` maps config entries onto these builders.
"""

from stardomain.archs.cnn import small_cnn
from stardomain.archs.densenet import densenet40_12
from stardomain.archs.resnet import resnet18_cifar, resnet18_imagenet
from stardomain.archs.vgg import vgg
from stardomain.archs.vit import vit
from stardomain.archs.wrn import wide_resnet

__all__ = [
    "densenet40_12",
    "resnet18_cifar",
    "resnet18_imagenet",
    "small_cnn",
    "vgg",
    "vit",
    "wide_resnet",
]
