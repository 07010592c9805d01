"""Adapter: the paper's Figure 2 from curve CSVs (see stardomain.plots.fig2)."""

from stardomain.pipeline import job, write_fig2

with job(snakemake.log[0]):
    write_fig2(list(snakemake.input), [snakemake.output.pdf, snakemake.output.png])
