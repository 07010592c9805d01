"""Stage of workflow/rules/ffcv.smk: one split of an ImageFolder tree as an FFCV .beton file."""

from __future__ import annotations

from stardomain.data.ffcv_data import write_beton


def run_write_beton(out: str, source: dict, workers: int) -> None:
    """Write `out` from `source` (root, split, max_resolution, ...: `ffcv_data.beton_sources`)."""
    n = write_beton(out, **source, workers=workers)
    print(f"{n} images of {source['root']} ({source['split']}) -> {out}")
