"""Files: atomic writes, model and permutation files with format version and provenance.

A model file is a `torch.save`d dict: format, kind, architecture (the `model:` config and data
shape), the state dict, provenance (config subtree, seed, library version) and metrics. Every write
goes to a temporary file in the same folder and is renamed into place, so a killed job never
leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch

import stardomain

MODEL_FORMAT = "stardomain.model/1"
PERM_FORMAT = "stardomain.perm/1"


class FileFormatError(ValueError):
    """A file is missing, truncated, foreign, or belongs to another architecture."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def save_torch(obj: dict, path: str | os.PathLike) -> None:
    """`torch.save` through `atomic_path`; equal objects give byte-identical files.

    torch names the archive's inner folder after the file it writes to; serialising to memory
    first keeps the random temporary name out of the bytes.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def save_model(
    path: str | os.PathLike,
    state: dict[str, torch.Tensor],
    arch: dict,
    provenance: dict,
    metrics: list[dict] | dict,
) -> None:
    """Write a model file (tensors moved to CPU)."""
    save_torch(
        dict(
            format=MODEL_FORMAT,
            arch=arch,
            state={k: v.detach().cpu() for k, v in state.items()},
            provenance={**provenance, "stardomain_version": stardomain.__version__},
            metrics=metrics,
        ),
        path,
    )


def _load(path: str | os.PathLike, fmt: str) -> dict:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileFormatError(f"{path}: file not found") from None
    except Exception as err:  # torch raises many types for truncated or foreign files
        raise FileFormatError(f"{path}: not a readable {fmt} file ({err})") from err
    if not isinstance(obj, dict) or obj.get("format") != fmt:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise FileFormatError(f"{path}: expected format {fmt!r}, found {found!r}")
    return obj


def load_model(path: str | os.PathLike, arch: dict | None = None) -> dict:
    """Read a model file; if `arch` is given, refuse a file trained for another architecture."""
    obj = _load(path, MODEL_FORMAT)
    if arch is not None and obj["arch"] != arch:
        raise FileFormatError(
            f"{path}: architecture {obj['arch']} does not match the expected {arch}"
        )
    return obj


def save_perm(path: str | os.PathLike, perm: dict[str, torch.Tensor], info: dict) -> None:
    """Write a permutation file: perm (name -> LongTensor) plus how it was found."""
    save_torch(dict(format=PERM_FORMAT, perm=perm, info=info), path)


def load_perm(path: str | os.PathLike) -> dict:
    """Read a permutation file."""
    return _load(path, PERM_FORMAT)
