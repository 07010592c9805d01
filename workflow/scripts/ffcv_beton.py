"""Adapter: one split of an ImageFolder tree as an FFCV .beton (see stardomain.stages.ffcv)."""

from stardomain.stages.common import job
from stardomain.stages.ffcv import run_write_beton

with job(snakemake.log[0], snakemake.threads):
    run_write_beton(
        out=snakemake.output.beton, **snakemake.params.source, workers=snakemake.threads
    )
