"""Adapter: barrier vs width and depth, star vs regular (see stardomain.stages.figures)."""

from stardomain.settings import PlotStyle
from stardomain.stages.common import job
from stardomain.stages.figures import write_width_depth

with job(snakemake.log[0]):
    write_width_depth(
        barrier_paths=list(snakemake.input.barriers),
        design_paths=list(snakemake.input.designs),
        width=snakemake.params.width,
        depth=snakemake.params.depth,
        out_csv=snakemake.output.csv,
        out_paths=[snakemake.output.pdf, snakemake.output.png],
        style=PlotStyle.of(snakemake.params.style),
    )
