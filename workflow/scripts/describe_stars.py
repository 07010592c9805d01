"""Adapter: what each star of an experiment is, as a CSV (see stardomain.stages.figures.write_design)."""

from stardomain.joblog import job

with job(snakemake.log[0]):
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.stages.figures import write_design

    write_design(
        out_csv=snakemake.output.csv,
        name=snakemake.wildcards.exp,
        stars=snakemake.params.stars,
        model=snakemake.params.model,
        n_heldout=snakemake.params.n_heldout,
    )
