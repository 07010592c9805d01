"""Adapter: barrier vs width and depth, star vs regular (see stardomain.stages.figures)."""

from stardomain.joblog import job

with job(snakemake.log[0]):
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.settings import PlotStyle
    from stardomain.stages.figures import write_width_depth

    write_width_depth(
        barrier_paths=list(snakemake.input.barriers),
        design_paths=list(snakemake.input.designs),
        width=snakemake.params.width,
        depth=snakemake.params.depth,
        out_csv=snakemake.output.csv,
        out_paths=[snakemake.output.pdf, snakemake.output.png],
        style=PlotStyle.of(snakemake.params.style),
    )
