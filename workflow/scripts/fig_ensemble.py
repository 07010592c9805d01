"""Adapter: ensemble / BMA table and figure (see stardomain.stages.figures.write_ensemble)."""

from stardomain.joblog import job

with job(snakemake.log[0]):
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.settings import PlotStyle
    from stardomain.stages.figures import write_ensemble

    write_ensemble(
        metric_paths=list(snakemake.input.metrics),
        design_paths=list(snakemake.input.designs),
        out_csv=snakemake.output.csv,
        out_md=snakemake.output.md,
        out_paths=[snakemake.output.pdf, snakemake.output.png],
        style=PlotStyle.of(snakemake.params.style),
    )
