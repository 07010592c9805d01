"""Adapter: what each star of an experiment is, as a CSV (see stardomain.stages.figures.write_design)."""

from stardomain.settings import ModelSettings, StarSettings
from stardomain.stages.common import job
from stardomain.stages.figures import write_design

with job(snakemake.log[0]):
    write_design(
        out_csv=snakemake.output.csv,
        name=snakemake.wildcards.exp,
        stars={s: StarSettings.of(p) for s, p in snakemake.params.stars.items()},
        replicate_of=snakemake.params.replicate_of,
        model=ModelSettings.of(snakemake.params.model),
        n_heldout=snakemake.params.n_heldout,
        shortcuts=snakemake.params.shortcuts,
    )
