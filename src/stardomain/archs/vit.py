"""A minimal Vision Transformer for MNIST (Dosovitskiy et al., ICLR 2021).

Non-overlapping patches are embedded by a strided conv, a learned position embedding is added, then
`depth` pre-norm blocks (multi-head self-attention, MLP, each with a residual connection), a final
LayerNorm, mean pooling over tokens and a Linear head. Mean pooling instead of a class token keeps
every parameter on the residual stream or inside a block.
"""

from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention with separate q, k, v projections."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads != 0:
            raise ValueError(f"model.width: ViT width {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (batch, tokens, dim) -> (batch, heads, tokens, dim / heads)
        q, k, v = (
            f(x).unflatten(-1, (self.heads, -1)).transpose(1, 2) for f in (self.q, self.k, self.v)
        )
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.out(out.transpose(1, 2).flatten(2))  # (batch, tokens, dim)


class Block(nn.Module):
    """x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_dim)
        self.fc2 = nn.Linear(mlp_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm2(x))))


class ViT(nn.Module):
    """Patch embedding, position embedding, transformer blocks, LayerNorm, mean pool, head."""

    def __init__(
        self,
        num_classes: int,
        image_size: int = 28,
        patch_size: int = 7,
        in_channels: int = 1,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        mlp_dim: int = 128,
    ):
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"model.patch_size: {patch_size} does not divide {image_size}")
        tokens = (image_size // patch_size) ** 2
        self.embed = nn.Conv2d(in_channels, dim, patch_size, patch_size)
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp_dim) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)  # (batch, tokens, dim)
        x = self.blocks(x + self.pos)
        return self.head(self.norm(x).mean(1))  # mean over tokens: (batch, dim)


def vit(
    num_classes: int,
    image_size: int = 28,
    patch_size: int = 7,
    in_channels: int = 1,
    dim: int = 64,
    depth: int = 4,
    heads: int = 4,
    mlp_dim: int = 128,
) -> ViT:
    """A small ViT (defaults: 16 patches of 7x7, width 64, 4 blocks, 4 heads, MLP 128)."""
    return ViT(num_classes, image_size, patch_size, in_channels, dim, depth, heads, mlp_dim)
