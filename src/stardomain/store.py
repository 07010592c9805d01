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
input digests, readable without torch. Both are read-only (0444 less the umask: readable by the
group under the usual umask, so a lab can share one store). An entry and its result file never
share an inode: the entry is a copy, made as a reflink (copy-on-write, no extra disk) where the
filesystem can (Btrfs, XFS, ZFS, bcachefs), a plain copy elsewhere, and a restore copies back the
same way. A hard link would cost no disk anywhere, but then a write into a result file (`cp
results/x/regular/1.pt results/x/regular/0.pt` writes into 0.pt's inode) would change the
store's model too; a model costs GPU-hours and its file megabytes, so the store pays the disk. Every
restore still checks the entry's sha256: an entry changed in place anyway (by its owner after a
chmod, by root) is reported and ignored, never restored.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from stardomain.io import atomic_path
from stardomain.locks import hold

STORE_FORMAT = "stardomain.store/2"  # 2: canonical params, inputs by bytes in order (2026-12)


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Linux's FICLONE ioctl (linux/fs.h): make a file share another's blocks, copy-on-write
FICLONE = 0x40049409


def _copy(source: Path, dest: Path, readonly: bool = False) -> None:
    """Copy `source` to `dest` (atomically by rename), as a reflink where the filesystem can."""
    with (
        atomic_path(dest, readonly=readonly) as tmp,
        open(source, "rb") as src,
        open(tmp, "wb") as out,
    ):
        try:
            fcntl.ioctl(out.fileno(), FICLONE, src.fileno())
        except OSError:  # no reflinks here (ext4, tmpfs, NFS) or across filesystems
            shutil.copyfileobj(src, out, 1 << 20)


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
        """The key of a model made from `provenance` and the input files `inputs` (their bytes in
        order, not their paths: the same anchors in another experiment's folder are the same)."""
        what = dict(
            format=STORE_FORMAT,
            provenance=provenance,
            inputs=[file_digest(p) for p in inputs],
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
        # no lock needed to read (a store may be read-only to us): both files are replaced by
        # rename, and a .pt read between a writer's two renames fails the check below
        expected = json.loads(meta_path.read_text())["sha256"]
        if file_digest(entry) != expected:
            print(f"{entry}: content changed since it was stored; ignored", file=sys.stderr)
            return False
        _copy(entry, Path(out))  # a new file: newer than the inputs Snakemake just made
        print(f"{out}: restored from store {entry}", file=sys.stderr)
        return True

    def keep(self, key: StoreKey, out: str | os.PathLike) -> None:
        """Store the finished model file `out` under `key`, with what the key digests."""
        entry = self.entry(key)
        with hold(entry):  # one writer at a time: the .json always describes the .pt beside it
            _copy(Path(out), entry, readonly=True)
            meta = dict(key.what, key=key.digest, sha256=file_digest(entry), file=str(out))
            with atomic_path(entry.with_suffix(".json"), readonly=True) as tmp:
                tmp.write_text(json.dumps(meta, sort_keys=True, indent=1, default=str))
