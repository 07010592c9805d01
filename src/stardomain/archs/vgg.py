"""VGG-11 and VGG-19 for 32x32 inputs (CIFAR), with or without BatchNorm, in two variants.

Reference: Simonyan & Zisserman, "Very Deep Convolutional Networks" (ICLR 2015), configurations A
(11 layers) and E (19 layers); the paper trains them without BN on CIFAR-10.
Variants (`model.variant`, docs/fidelity.md):
- `reference`: the usual CIFAR head, one Linear on the 1x1x512 feature map (VGG-11 9.23 M
  parameters, VGG-19 20.03 M at 10 classes).
- `authors`: the classifier of the authors' code (models/vgg.py of aktsonthalia/starlight): dropout,
  Linear 512-512, ReLU, dropout, Linear 512-512, ReLU, Linear 512-classes (9.75 M / 20.55 M), and a
  bias on every conv, BN or not. Dropout (p = `dropout`, 0.5 there) is active in train mode only.
Both initialise convs He-normal (fan-out) with zero bias, as the authors' code does.
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
VARIANTS = ("reference", "authors")


def _classifier(variant: str, c: int, num_classes: int, dropout: float) -> nn.Module:
    """One Linear (reference), or the authors' three Linear layers of width c with dropout."""
    if variant == "reference":
        return nn.Linear(c, num_classes)
    return nn.Sequential(
        nn.Dropout(dropout), nn.Linear(c, c), nn.ReLU(),
        nn.Dropout(dropout), nn.Linear(c, c), nn.ReLU(),
        nn.Linear(c, num_classes),
    )  # fmt: skip


class VGG(nn.Module):
    """Conv3x3 (+BN) + ReLU stacks with max-pools, then the variant's classifier."""

    def __init__(
        self,
        depth: int,
        batchnorm: bool,
        num_classes: int,
        width: int = 64,
        in_channels: int = 3,
        variant: str = "reference",
        dropout: float | None = None,
    ):
        """`width` scales every layer (64 = the published model); `dropout`: probability of the
        authors' classifier dropout, None = 0.5 for `authors` (their nn.Dropout()), 0 otherwise."""
        super().__init__()
        if dropout is None:
            dropout = 0.5 if variant == "authors" else 0.0
        if depth not in CONFIGS:
            raise ValueError(f"model.depth: VGG depth {depth} not in {sorted(CONFIGS)}")
        if variant not in VARIANTS:
            raise ValueError(f"model.variant: VGG variant {variant!r} not in {list(VARIANTS)}")
        if variant == "reference" and dropout:
            raise ValueError("model.dropout: the reference VGG has no dropout; use variant authors")
        layers: list[nn.Module] = []
        c_in = in_channels
        for v in CONFIGS[depth]:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
                continue
            c_out = v * width // 64
            bias = variant == "authors" or not batchnorm
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias))
            if batchnorm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU())
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.classifier = _classifier(variant, c_in, num_classes, dropout)
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


vgg = VGG  # the builder the registry calls (stardomain.models)
