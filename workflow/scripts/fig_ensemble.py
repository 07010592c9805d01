"""Adapter: ensemble / BMA table and figure (see stardomain.figures.write_ensemble)."""

from stardomain.figures import write_ensemble
from stardomain.pipeline import job

with job(snakemake.log[0]):
    write_ensemble(
        list(snakemake.input),
        snakemake.output.csv,
        snakemake.output.md,
        [snakemake.output.pdf, snakemake.output.png],
        snakemake.params.style,
    )
