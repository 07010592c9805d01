"""Adapter: the paper's Figure 2 from curve CSVs (see stardomain.stages.figures.write_fig2)."""

from stardomain.joblog import job

with job(snakemake.log[0]):
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.settings import PlotStyle
    from stardomain.stages.figures import write_fig2

    write_fig2(
        curve_paths=list(snakemake.input.curves),
        design_paths=list(snakemake.input.designs),
        out_paths=[snakemake.output.pdf, snakemake.output.png],
        style=PlotStyle.of(snakemake.params.style),
        stars=snakemake.params.stars,
    )
