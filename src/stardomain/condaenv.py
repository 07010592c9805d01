"""The conda environment of `snakemake --sdm conda`: envs/stardomain.yaml, installing this checkout
by its absolute path.

envs/stardomain.yaml installs the checkout with the pip line `-e ..`, which is right where the
file is: `conda env create -f envs/stardomain.yaml` by hand runs pip in `envs/`. Snakemake does
not run conda on that file: it copies it to `<conda prefix>/<hash>.yaml` (default
`.snakemake/conda/` in the working directory) and creates the environment from the copy, and
conda runs pip in the folder of the file it reads, where `..` is `.snakemake/`, not the checkout.
So the workflow hands Snakemake `checkout_env`: the same file with `-e <absolute checkout path>`,
written beside Snakemake's own files (`write_checkout_env`). The path is part of the file's
content and so of Snakemake's hash of the environment: two checkouts sharing one `--conda-prefix`
get an environment each, each installing its own code.
"""

from __future__ import annotations

import os
from pathlib import Path

from stardomain.io import atomic_path

EDITABLE = "-e .."  # the template's pip line: this checkout, seen from envs/


def checkout_env(template: str, checkout: str | os.PathLike) -> str:
    """The env file `template` (text) with its pip line `- -e ..` installing `checkout` instead
    (made absolute); every other line unchanged."""
    lines = template.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.strip() == f"- {EDITABLE}"]
    if len(hits) != 1:
        raise ValueError(f"expected one pip line '- {EDITABLE}' in the env file, found {len(hits)}")
    line = lines[hits[0]]
    indent = line[: len(line) - len(line.lstrip())]
    lines[hits[0]] = f"{indent}- -e {Path(checkout).absolute()}\n"
    return "".join(lines)


def write_checkout_env(
    template: str | os.PathLike, checkout: str | os.PathLike, folder: str | os.PathLike
) -> Path:
    """Write `checkout_env` of the env file `template` to `<folder>/<its name>` (left as it is
    when it already holds that text, so that parallel jobs re-reading the workflow do not race);
    returns its absolute path."""
    out = Path(folder).absolute() / Path(template).name
    text = checkout_env(Path(template).read_text(), checkout)
    if not out.exists() or out.read_text() != text:
        with atomic_path(out) as tmp:
            tmp.write_text(text)
    return out
