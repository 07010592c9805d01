"""Training precision: mixed precision (bf16 / fp16 autocast) and channels-last memory format.

The `train:` keys `amp` and `channels_last` (the GPU fast path, docs/slurm.md) select a
`Precision`, which regular training and Starlight apply in the same places:
- `autocast()` wraps the forward pass and the loss. Parameters, gradients and optimizer state stay
  float32 (autocast casts copies for each op), and so does Starlight's theta(t) = lerp(theta,
  theta_n, t), built before autocast: the factor (1 - t) of its gradient is applied in float32.
- fp16 adds a `GradScaler` (dynamic loss scaling: small fp16 gradients underflow to zero). Its
  scale is a power of two, so scaling and unscaling the gradient are exact. bf16 has float32's
  exponent range and needs none.
- `channels_last` stores 4-d weights and image batches in NHWC order, the layout tensor-core
  convolutions run in. The model is handed back in the standard layout (`release`), so model files
  look the same either way.

Defaults add nothing: `amp` off means no autocast context, no cast, no scaler and no layout change,
so a run without these keys computes bitwise what it computed before they existed.

Evaluation of barriers, ensembles and alignment runs in float32 always (barriers are differences
of losses of a few hundredths of a nat; bf16 carries ~3 significant digits). Inside training, the
per-epoch test evaluation and Starlight's BN re-estimation run under the training precision: the
BN statistics of regular models are likewise averaged from activations computed under it.

fp16 on CPU is refused (`Precision.of`): CPU float16 kernels are no faster than float32 there, and
silently training in another precision than configured would mislabel results. bf16 runs on CPU.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from stardomain.settings import Recipe

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """How training computes: autocast dtype (None = float32) and memory format, on `device_type`."""

    device_type: str = "cpu"  # torch.device(...).type: cpu, cuda, ...
    dtype: torch.dtype | None = None  # autocast dtype; None = no autocast
    channels_last: bool = False

    @classmethod
    def of(cls, recipe: Recipe, device: torch.device | str) -> Precision:
        """The precision of a training recipe (`amp`, `channels_last`) on `device`."""
        amp = recipe.amp
        if amp == "off":
            dtype = None
        elif amp in AMP_DTYPES:
            dtype = AMP_DTYPES[amp]
        else:
            raise ValueError(f"train.amp: unknown value {amp!r}; allowed: off, bf16, fp16")
        device_type = torch.device(device).type
        if dtype is torch.float16 and device_type == "cpu":
            raise ValueError(
                "train.amp: fp16 needs a GPU (its loss scaling buys nothing on CPU, where float16 "
                "is not faster); use bf16 or off on CPU"
            )
        return cls(device_type, dtype, recipe.channels_last)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Context for the forward pass and loss; a no-op context when amp is off."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scaler(self) -> torch.amp.GradScaler | None:
        """A fresh GradScaler for fp16, else None (no loss scaling)."""
        return torch.amp.GradScaler(self.device_type) if self.dtype is torch.float16 else None

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        """`x` in channels-last order if that is on and `x` is 4-d (images, conv weights)."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def prepare(self, model: nn.Module) -> nn.Module:
        """Put the model's 4-d weights in channels-last order (in place) if that is on."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def release(self, model: nn.Module) -> nn.Module:
        """Back to the standard (contiguous) layout after training, if `prepare` changed it."""
        if self.channels_last:
            model.to(memory_format=torch.contiguous_format)
        return model


FULL = Precision()  # float32, standard layout: the default


def backward_step(
    loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None
) -> None:
    """loss.backward() and opt.step(); with a scaler (fp16): scaled backward, unscaled step.

    The scaler skips the step (and halves its scale) when a gradient is inf or NaN.
    """
    if scaler is None:
        loss.backward()
        opt.step()
        return
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
