"""Adapter: barrier vs number of anchors N (see stardomain.stages.figures.write_n_anchors)."""

from stardomain.joblog import job

with job(snakemake.log[0]):
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.settings import PlotStyle
    from stardomain.stages.figures import write_n_anchors

    write_n_anchors(
        barrier_paths=list(snakemake.input.barriers),
        design_paths=list(snakemake.input.designs),
        experiment=snakemake.params.selection["experiment"],
        stars=snakemake.params.selection["stars"],
        out_csv=snakemake.output.csv,
        out_paths=[snakemake.output.pdf, snakemake.output.png],
        style=PlotStyle.of(snakemake.params.style),
    )
