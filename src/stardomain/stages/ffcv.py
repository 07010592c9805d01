"""Stage of workflow/rules/ffcv.smk: one split of an ImageFolder tree as an FFCV .beton file."""

from __future__ import annotations

from stardomain.data.ffcv_data import write_beton


def run_write_beton(
    out: str,
    *,
    root: str,
    split: str,
    max_resolution: int,
    compress_probability: float,
    jpeg_quality: int,
    workers: int,
) -> None:
    """Write `out` from split `split` of the ImageFolder tree `root` (`ffcv_data.beton_sources`)."""
    n = write_beton(
        out,
        root=root,
        split=split,
        max_resolution=max_resolution,
        compress_probability=compress_probability,
        jpeg_quality=jpeg_quality,
        workers=workers,
    )
    print(f"{n} images of {root} ({split}) -> {out}")
