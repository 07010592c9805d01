"""VGG-11 and VGG-19 for 32x32 inputs (CIFAR), with or without BatchNorm.

Reference: Simonyan & Zisserman, "Very Deep Convolutional Networks" (ICLR 2015), configurations A
(11 layers) and E (19 layers). The CIFAR variant ends in one Linear layer on the 1x1x512 feature map,
as is usual for 32x32 inputs (PAPER.md: VGG-11/19 without BN on CIFAR-10).
"""

from __future__ import annotations

import torch
from torch import nn

# channels per 3x3 conv (as multiples of width/64); "M" = 2x2 max-pool
CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M"]
    + [512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """Conv3x3 (+BN) + ReLU stacks with max-pools, then a Linear classifier."""

    def __init__(
        self, depth: int, batchnorm: bool, num_classes: int, width: int = 64, in_channels: int = 3
    ):
        super().__init__()
        if depth not in CONFIGS:
            raise ValueError(f"model.depth: VGG depth {depth} not in {sorted(CONFIGS)}")
        layers: list[nn.Module] = []
        c_in = in_channels
        for v in CONFIGS[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            c_out = v * width // 64
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU())
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # without BN, the default init makes deep VGGs hard to start (He et al. 2015)
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(x)
        out = out.mean((2, 3))  # (batch, channels); the map is 1x1 for 32x32 inputs
        return self.classifier(out)


def vgg(
    depth: int, batchnorm: bool, num_classes: int, width: int = 64, in_channels: int = 3
) -> VGG:
    """VGG-`depth` (11 or 19) for CIFAR; `width` scales every layer (64 = the published model)."""
    return VGG(depth, batchnorm, num_classes, width, in_channels)
