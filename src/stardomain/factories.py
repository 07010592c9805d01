"""A user's own model or data set: `model.name` / `data.name` given as `package.module:function`.

The registries (`stardomain.models.REGISTRY`, `stardomain.data.DATASETS`) hold the built-in names;
anything with a colon is imported from the user's code instead (docs/experiments.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def is_import_path(name: str) -> bool:
    """True for `package.module:function` (a user's factory), False for registry names."""
    return ":" in name


def import_factory(name: str, key: str) -> Callable:
    """The object at `package.module:function`; errors name the config `key`."""
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(
            f"{key}: cannot import module {module_name!r} of {name!r} ({err})"
        ) from err
    if not callable(getattr(module, attr, None)):
        raise ValueError(f"{key}: {module_name!r} has no callable {attr!r}")
    return getattr(module, attr)
