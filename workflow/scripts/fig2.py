"""Adapter: the paper's Figure 2 from curve CSVs (see stardomain.figures.write_fig2)."""

from stardomain.figures import write_fig2
from stardomain.pipeline import job

with job(snakemake.log[0]):
    write_fig2(
        list(snakemake.input),
        [snakemake.output.pdf, snakemake.output.png],
        snakemake.params.style,
        snakemake.params.stars,
    )
