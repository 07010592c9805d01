"""Adapter: barrier vs width and depth, star vs regular scatter (see stardomain.figures)."""

from stardomain.figures import write_width_depth
from stardomain.pipeline import job

with job(snakemake.log[0]):
    write_width_depth(
        list(snakemake.input.barriers),
        list(snakemake.input.designs),
        snakemake.params.width,
        snakemake.params.depth,
        snakemake.output.csv,
        [snakemake.output.pdf, snakemake.output.png],
        snakemake.params.style,
    )
