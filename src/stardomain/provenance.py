"""What determines a trained model's or a curve's numbers: the model store's key, the resume key and
the workflow's rerun triggers (`params:`) are all built from the same job objects
(`stardomain.jobs`) and `job_provenance`.

Three parts, each chosen so that a change reruns what it changes and nothing else
(the table of every key: docs/reruns.md):

- `job.params()`: the settings a job reads (stardomain.settings), resolved and canonical, without
  the fields that only say where files are or how fast they are read (data.root, data.download,
  data.workers, data.ffcv.dir, eval.batch_size), without the keys choosing which pairs exist
  (eval.pair_anchors, eval.naive, a star's `pairs`), which are the design's, and without the
  labels (the experiment's and the star's names), which change no number. A data set is
  identified by its name and split settings, not by its folder: moving the files or pointing at
  another copy reruns nothing and still finds the model store's entries. The files' bytes are not
  digested (ImageNet is 150 GB): a copy with other content under the same name and settings
  counts as the same data.
- `code_digests(data, model)`: sha256 of the user's code behind a model or dataset factory
  (`model.name` / `data.name` = "package.module:function"), so that an edited factory, or an edited
  helper it imports, is retrained, never restored from the store. The rule (`user_modules`): the
  factory's own file, then every module that file imports, and every module those import, and so
  on, that is the user's code: a `.py` file (or compiled extension) found outside the Python
  installation (not under sys.prefix, sys.base_prefix, sys.exec_prefix or a site-packages folder)
  and not `stardomain` itself (its numerics are `NUMERICS_VERSION`). Imports are read from the
  source (every `import` statement, inside functions too, relative ones resolved), not recorded
  while running, so the digest is the same in every process. Not covered: modules imported by a
  computed name (`importlib.import_module(name)`), data files a factory reads, and installed
  packages (their version is the environment's business): keep those fixed, or name them in
  the factory's file. A factory that imports no other user code keeps the digest of its file.
- `NUMERICS_VERSION`: one number for the library's own code. It changes when a change of the library
  changes trained or evaluated numbers, and only then; the package version is not a trigger, so a
  release that changes no number retrains nothing. tests/test_provenance.py pins it with the numbers
  of a tiny training (weight norms and a barrier curve, compared with a tolerance of 1e-3 because
  float kernels round differently on different CPUs), so that a numerics change without a bump
  fails a test.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.machinery
import importlib.util
import os
import site
import sys
from pathlib import Path

from stardomain.factories import import_factory, is_import_path
from stardomain.jobs import RegularJob, StarJob
from stardomain.settings import DataSettings, ModelSettings

# Bump when a change of src/stardomain alters trained weights or evaluated numbers (and re-pin
# the golden numbers in tests/test_provenance.py); every model and curve is then recomputed.
NUMERICS_VERSION = 1


def _roots() -> list[str]:
    """Folders of the Python installation: the standard library and installed packages."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots.update(site.getsitepackages() + [site.getusersitepackages()])
    return [os.path.join(os.path.realpath(r), "") for r in roots]


def _is_user_path(path: str) -> bool:
    return not os.path.realpath(path).startswith(tuple(_roots()))


def _spec(name: str) -> importlib.machinery.ModuleSpec | None:
    try:  # a submodule's spec imports its parent package, which importing the factory did anyway
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):  # absent (an optional import), or a module without spec
        return None


def _user_file(name: str) -> Path | None:
    """The file of module `name` if it is the user's code (see the module docstring), else None."""
    top = name.partition(".")[0]
    if top == "stardomain" or top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return None
    spec = _spec(top)  # first the top-level package: finding it imports nothing
    places = (spec.submodule_search_locations or [spec.origin or ""]) if spec else []
    if not any(p and _is_user_path(p) for p in places):
        return None
    spec = spec if name == top else _spec(name)
    origin = spec.origin if spec is not None else None
    if origin and os.path.isfile(origin) and _is_user_path(origin):
        return Path(origin)
    return None


@functools.lru_cache(maxsize=1024)  # the workflow asks once per job: parse each source once
def _imports(source: bytes, module: str, is_package: bool) -> tuple[str, ...]:
    """Modules that `source` (of module `module`) imports, each with its parent packages; relative
    imports resolved. `from a import b` gives `a` and `a.b`, which may be a submodule."""
    package = module if is_package else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from ..x import y` in package a.b.c: a.x
                parent = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{parent}.{base}".strip(".")
            names.update([base] + [f"{base}.{alias.name}" for alias in node.names])
    parts = {".".join(n.split(".")[:i]) for n in names if n for i in range(1, n.count(".") + 2)}
    return tuple(sorted(parts))


def user_modules(import_path: str) -> dict[str, Path]:
    """Module name -> file of the user's code behind the factory `package.module:function`.

    The module of the path and, for a re-exported function, the module defining it (wherever
    they are), then every module of the user's code they import, transitively.
    """
    factory = import_factory(import_path, import_path)
    roots = [import_path.partition(":")[0], getattr(factory, "__module__", None)]
    found: dict[str, Path] = {}
    for root in dict.fromkeys(r for r in roots if r):
        spec = _spec(root)
        if spec is not None and spec.origin and os.path.isfile(spec.origin):
            found[root] = Path(spec.origin)
    todo = list(found)
    while todo:
        name = todo.pop()
        path = found[name]
        if path.suffix != ".py":
            continue  # a compiled extension: digested, not read
        for imported in _imports(path.read_bytes(), name, path.name == "__init__.py"):
            if imported not in found and (file := _user_file(imported)) is not None:
                found[imported] = file
                todo.append(imported)
    return found


def source_digest(import_path: str) -> str:
    """sha256 of the user's code behind the factory `package.module:function` (`user_modules`).

    The bytes of the factory's file(s) (the function's own module first, then the module named in
    the path), then each other module's name and bytes, by name; so a factory that imports no
    other user code keeps the digest of its file alone.
    """
    modules = user_modules(import_path)
    factory = import_factory(import_path, import_path)
    roots = [getattr(factory, "__module__", None), import_path.partition(":")[0]]
    roots = [r for r in dict.fromkeys(roots) if r in modules]
    digest = hashlib.sha256()
    for name in roots:
        digest.update(modules[name].read_bytes())
    for name in sorted(set(modules) - set(roots)):
        digest.update(f"\0{name}\0".encode())
        digest.update(modules[name].read_bytes())
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
    star), its seed and `extra` are stored with it (a star's anchors are its store key's inputs)."""
    seed = job.seed if isinstance(job, RegularJob) else job.star.seed
    return dict(
        settings=job.params(),
        code=code_digests(job.data, job.model),
        numerics=NUMERICS_VERSION,
        seed=seed,
        role=role,
        **extra,
    )
