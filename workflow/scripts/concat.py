"""Adapter: concatenate per-pair CSVs into one experiment-level CSV."""

from stardomain.pipeline import concat_csvs, job

with job(snakemake.log[0]):
    concat_csvs(list(snakemake.input), snakemake.output[0])
