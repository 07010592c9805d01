"""Adapter: barrier vs number of anchors N (see stardomain.figures.write_n_anchors)."""

from stardomain.figures import write_n_anchors
from stardomain.pipeline import job

with job(snakemake.log[0]):
    write_n_anchors(
        snakemake.input.barriers,
        snakemake.input.design,
        snakemake.params.selection["experiment"],
        snakemake.params.selection["stars"],
        snakemake.output.csv,
        [snakemake.output.pdf, snakemake.output.png],
        snakemake.params.style,
    )
