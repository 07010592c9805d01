"""Adapter: concatenate per-pair CSVs into one experiment-level CSV (stardomain.stages.pairs)."""

from stardomain.joblog import job

with job(snakemake.log[0]):
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.stages.pairs import concat_csvs

    concat_csvs(paths=list(snakemake.input), out=snakemake.output.csv)
