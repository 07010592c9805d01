"""Adapter: concatenate per-pair CSVs into one experiment-level CSV (stardomain.stages.pairs)."""

from stardomain.stages.common import job
from stardomain.stages.pairs import concat_csvs

with job(snakemake.log[0]):
    concat_csvs(paths=list(snakemake.input), out=snakemake.output.csv)
