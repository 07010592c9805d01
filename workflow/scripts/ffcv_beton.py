"""Adapter: one split of an ImageFolder tree as an FFCV .beton (see stardomain.stages.ffcv)."""

from stardomain.joblog import job

with job(snakemake.log[0], snakemake.threads):
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.stages.ffcv import run_write_beton

    run_write_beton(
        out=snakemake.output.beton, **snakemake.params.source, workers=snakemake.threads
    )
