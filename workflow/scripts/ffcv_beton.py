"""Adapter: one split of an ImageFolder tree as an FFCV .beton (see stardomain.datasets.ffcv_data)."""

from stardomain.datasets.ffcv_data import write_beton
from stardomain.pipeline import job

with job(snakemake.log[0], snakemake.threads):
    source = snakemake.params.source  # root, split, max_resolution, compress_probability, ...
    n = write_beton(snakemake.output.beton, **source, workers=snakemake.threads)
    print(f"{n} images of {source['root']} ({source['split']}) -> {snakemake.output.beton}")
