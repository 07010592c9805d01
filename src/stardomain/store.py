"""A content-addressed store of trained models, so that no rerun ever costs a trained model.

Snakemake deletes a job's outputs before it runs the job again: after a changed training key, a
`--forcerun`, `--delete-all-output`, or simply `rm -r results`. Training and Starlight jobs therefore
keep every model they finish in a store (the top-level config key `store`, default `store/` in the
working directory; `null` turns it off) under a key that digests everything that determines the
model: its provenance (`stardomain.provenance.job_provenance`: the settings that change numbers, the
source of a user's model or dataset factory, the library's numerics version, seed, role) and, for a
star, the bytes of its anchor files. Before training, a job looks its key up; on a hit the stored
model is put in place and training is skipped (the job's log says "restored from store"). Changing
a key back, deleting results or a forced rerun therefore costs seconds, not GPU-days, and the model that comes back is
bitwise the one that was trained. A store may be shared by several checkouts (an absolute path).

Layout: `<store>/<key[:2]>/<key>.pt`, the model file, and `<key>.json`: its sha256, provenance and
input digests, readable without torch. An entry is a hard link to the model file where the
filesystem allows (no extra disk), a copy otherwise. The workflow replaces files by rename and never
writes into them, so an entry keeps its bytes whatever happens to the result file; every restore
checks the entry's sha256, so an entry modified in place is reported and ignored, never restored.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from stardomain.io import atomic_path

STORE_FORMAT = "stardomain.store/1"


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _place(source: Path, dest: Path) -> None:
    """Make `dest` a hard link to `source` (a copy across filesystems), atomically by rename."""
    with atomic_path(dest) as tmp:
        tmp.unlink()  # a free, unique name beside dest for the link
        try:
            os.link(source, tmp)
        except OSError:  # another filesystem, or one without hard links
            shutil.copyfile(source, tmp)


@dataclass(frozen=True)
class StoreKey:
    """A model's key (`digest`, hex sha256) and what it digests (`what`, JSON-able)."""

    digest: str
    what: dict


class ModelStore:
    """Trained models by key; see the module docstring."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @classmethod
    def open(cls, root: str | os.PathLike | None) -> ModelStore | None:
        """The store at `root`, or None when the store is off (`root` None or empty)."""
        return cls(root) if root else None

    @staticmethod
    def key(provenance: dict, inputs: list[str] = ()) -> StoreKey:
        """The key of a model made from `provenance` and the input files `inputs`."""
        what = dict(
            format=STORE_FORMAT,
            provenance=provenance,
            inputs={str(p): file_digest(p) for p in inputs},
        )
        canonical = json.dumps(what, sort_keys=True, default=str)
        return StoreKey(hashlib.sha256(canonical.encode()).hexdigest(), what)

    def entry(self, key: StoreKey) -> Path:
        return self.root / key.digest[:2] / f"{key.digest}.pt"

    def restore(self, key: StoreKey, out: str | os.PathLike) -> bool:
        """Put the stored model for `key` at `out`; False (and `out` untouched) on a miss."""
        entry = self.entry(key)
        meta_path = entry.with_suffix(".json")
        if not entry.exists() or not meta_path.exists():
            return False
        expected = json.loads(meta_path.read_text())["sha256"]
        if file_digest(entry) != expected:
            print(f"{entry}: content changed since it was stored; ignored", file=sys.stderr)
            return False
        _place(entry, Path(out))
        os.utime(out)  # newer than the inputs that were just made, so Snakemake sees it as fresh
        print(f"{out}: restored from store {entry}", file=sys.stderr)
        return True

    def keep(self, key: StoreKey, out: str | os.PathLike) -> None:
        """Store the finished model file `out` under `key`, with what the key digests."""
        entry = self.entry(key)
        _place(Path(out), entry)
        meta = dict(key.what, key=key.digest, sha256=file_digest(entry), file=str(out))
        with atomic_path(entry.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(meta, sort_keys=True, indent=1, default=str))
