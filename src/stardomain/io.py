"""Files: atomic writes, model and permutation files with format version and provenance.

A model file is a `torch.save`d dict: format, kind, architecture (the `model:` config and data
shape), the state dict, provenance (config subtree, seed, library version) and metrics. Every write
goes to a temporary file in the same folder and is renamed into place, so a killed job never
leaves a half-written output behind. Files get the mode any program's new file gets, 0666 less the
umask (group-readable under the usual umask 022 or 002, so a lab can share results and a model
store); `readonly` files (store entries) get 0444 less the umask.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

import stardomain

MODEL_FORMAT = "stardomain.model/1"
PERM_FORMAT = "stardomain.perm/1"


class FileFormatError(ValueError):
    """A file is missing, truncated, foreign, or belongs to another architecture."""


def _new_file(folder: Path, name: str) -> Path:
    """A new empty file `.<name>.<random>.tmp` in `folder`, mode 0666 less the umask.

    Not `tempfile.mkstemp`, whose 0600 would make every output unreadable to the group.
    """
    while True:
        tmp = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:  # a name taken by a concurrent writer: draw another
            continue
        return tmp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, readonly: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The file has mode 0666 less the umask; `readonly`: its write bits are cleared before the
    rename (0444 less the umask), so no program opening `path` for writing can change it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file(path.parent, path.name)
    try:
        yield tmp
        if readonly:
            os.chmod(tmp, stat.S_IMODE(os.stat(tmp).st_mode) & 0o444)
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


def model_id(provenance: dict) -> str:
    """What a model file's provenance says it is: `regular model of seed 3` or `star model of
    seed 10000` (the role and seed its training job recorded)."""
    return f"{provenance.get('role')} model of seed {provenance.get('seed')}"


def is_model(provenance: dict, model: str) -> bool:
    """Whether a file's provenance fits the model id `model` (stardomain.design's ids: regular
    models `regular-<seed>` and `regular_<group>-<seed>` by role and seed, stars `star-<name>` by
    role: a star's name is a label, not part of its provenance)."""
    prefix, _, name = model.partition("-")
    if prefix == "star":
        return provenance.get("role") == "star"
    return provenance.get("role") == "regular" and str(provenance.get("seed")) == name


def record_difference(recorded: Any, expected: Any, at: str = "") -> str | None:
    """Where two records of settings (plain nested dicts, as a provenance's `settings`) first
    differ: `key.path: A in the file, B expected`, or None where they are equal."""
    if isinstance(recorded, dict) and isinstance(expected, dict):
        for key in sorted(set(recorded) | set(expected)):
            where = f"{at}.{key}" if at else key
            if key not in recorded or key not in expected:
                side = "the file" if key in recorded else "the job's config"
                return f"{where} is set only in {side}"
            diff = record_difference(recorded[key], expected[key], where)
            if diff:
                return diff
        return None
    where = at or "settings"
    return (
        None
        if recorded == expected
        else f"{where}: {recorded!r} in the file, {expected!r} expected"
    )


def load_model(
    path: str | os.PathLike,
    arch: dict | None = None,
    model: str | None = None,
    made_with: dict | None = None,
) -> dict:
    """Read a model file; if `arch` is given, refuse a file trained for another architecture; if
    `model` (a model id, `is_model`) is given, refuse a file whose provenance names another model
    (a result copied or moved over another), naming both; if `made_with` (the `params()` of the
    job that made the model, as its provenance records them: `stardomain.jobs.made_with`) is
    given, refuse a file made with other settings, naming the first key that differs."""
    obj = _load(path, MODEL_FORMAT)
    if arch is not None and obj["arch"] != arch:
        raise FileFormatError(
            f"{path}: architecture {obj['arch']} does not match the expected {arch}"
        )
    fix = "Delete it and rerun: the right model is restored from the store or trained again"
    if model is not None and not is_model(obj["provenance"], model):
        raise FileFormatError(
            f"{path}: holds the {model_id(obj['provenance'])} (its provenance), but this job "
            f"reads it as {model}; was a result file copied or moved over another? {fix}"
        )
    recorded = obj["provenance"].get("settings")
    diff = made_with is not None and record_difference(recorded, made_with)
    if diff:
        raise FileFormatError(
            f"{path}: made with other settings than the config gives {model or 'this model'} "
            f"({diff}); was a result file copied over another, or was its config changed without "
            f"rerunning its job (--rerun-triggers mtime, --touch)? {fix}"
        )
    return obj


def save_perm(
    path: str | os.PathLike,
    perm: dict[str, torch.Tensor],
    info: dict,
    state: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write a permutation file: perm (name -> LongTensor) plus how it was found.

    `state`: the moved model itself, for matchers that permute a model instead of returning a
    permutation (rebasin); readers then use it in place of applying `perm`.
    """
    if state is not None:
        state = {k: v.detach().cpu() for k, v in state.items()}
    save_torch(dict(format=PERM_FORMAT, perm=perm, info=info, state=state), path)


def load_perm(path: str | os.PathLike) -> dict:
    """Read a permutation file."""
    return _load(path, PERM_FORMAT)
