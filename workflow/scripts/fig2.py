"""Adapter: the paper's Figure 2 from curve and design CSVs (see stardomain.stages.figures.write_fig2)."""

from stardomain.settings import PlotStyle
from stardomain.stages.common import job
from stardomain.stages.figures import write_fig2

with job(snakemake.log[0]):
    write_fig2(
        curve_paths=list(snakemake.input.curves),
        design_paths=list(snakemake.input.designs),
        out_paths=[snakemake.output.pdf, snakemake.output.png],
        style=PlotStyle.of(snakemake.params.style),
        stars=snakemake.params.stars,
    )
