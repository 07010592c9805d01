"""Adapter: what each star of an experiment is, as a CSV (see stardomain.stages.figures.write_design)."""

from stardomain.joblog import job

with job(snakemake.log[0]):
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.settings import ModelSettings, StarSettings
    from stardomain.stages.figures import write_design

    write_design(
        out_csv=snakemake.output.csv,
        name=snakemake.wildcards.exp,
        stars={s: StarSettings.of(p) for s, p in snakemake.params.stars.items()},
        replicate_of=snakemake.params.replicate_of,
        model=ModelSettings.of(snakemake.params.model),
        n_heldout=snakemake.params.n_heldout,
        shortcuts=snakemake.params.shortcuts,
    )
