"""What determines a trained model's or a curve's numbers: the model store's key, the resume key and
the workflow's rerun triggers (`params:`) are all built from the same job objects
(`stardomain.jobs`) and `job_provenance`.

Three parts, each chosen so that a change reruns what it changes and nothing else
(the table of every key: docs/reruns.md):

- `job.params()`: the settings a job reads (stardomain.settings), resolved and canonical, without
  the fields that only say where files are or how fast they are read (data.root, data.download,
  data.workers, data.ffcv.dir, eval.batch_size) and without the keys choosing which pairs exist
  (eval.pair_anchors, eval.naive, a star's `pairs`), which are the design's. A data set is
  identified by its name and split settings, not by its folder: moving the files or pointing at
  another copy reruns nothing and still finds the model store's entries. The files' bytes are not
  digested (ImageNet is 150 GB): a copy with other content under the same name and settings
  counts as the same data.
- `code_digests(settings)`: sha256 of the source file that defines a user's model or dataset factory
  (`model.name` / `data.name` = "package.module:function"), so that an edited factory is retrained,
  never restored from the store. Only that file is digested: code the factory imports from other
  modules of the user's package is not, so keep what determines the model in the factory's file.
- `NUMERICS_VERSION`: one number for the library's own code. It changes when a change of the library
  changes trained or evaluated numbers, and only then; the package version is not a trigger, so a
  release that changes no number retrains nothing. tests/test_provenance.py pins it with the numbers
  of a tiny training (weight norms and a barrier curve, compared with a tolerance of 1e-3 because
  float kernels round differently on different CPUs), so that a numerics change without a bump
  fails a test.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import sys
from pathlib import Path

from stardomain.factories import import_factory, is_import_path
from stardomain.jobs import RegularJob, StarJob
from stardomain.settings import DataSettings, ModelSettings

# Bump when a change of src/stardomain alters trained weights or evaluated numbers (and re-pin
# the golden numbers in tests/test_provenance.py); every model and curve is then recomputed.
NUMERICS_VERSION = 1


def source_digest(import_path: str) -> str:
    """sha256 of the source file defining the factory `package.module:function` (its bytes).

    The file of the function itself (a function re-exported by another module is followed to
    where it is defined) and, if different, the module named in the path.
    """
    factory = import_factory(import_path, import_path)
    module = sys.modules[import_path.partition(":")[0]]
    files = [getattr(module, "__file__", None)]
    with contextlib.suppress(TypeError):  # a callable object: its module's file is what we have
        files.insert(0, inspect.getsourcefile(factory))
    digest = hashlib.sha256()
    for path in dict.fromkeys(f for f in files if f):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def code_digests(data: DataSettings, model: ModelSettings) -> dict[str, str]:
    """`source_digest` of the model and data factories given by import path."""
    return {
        f"{section}.name": source_digest(name)
        for section, name in (("model", model.name), ("data", data.name))
        if is_import_path(name)
    }


def job_provenance(job: RegularJob | StarJob, role: str, **extra) -> dict:
    """What a model made by `job` depends on: its params, code, numerics; `role` (regular or
    star), its seed and `extra` (a star's anchor files) are stored with it."""
    seed = job.seed if isinstance(job, RegularJob) else job.star.seed
    return dict(
        settings=job.params(),
        code=code_digests(job.data, job.model),
        numerics=NUMERICS_VERSION,
        seed=seed,
        role=role,
        **extra,
    )
