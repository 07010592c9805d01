"""Adapter: star vs single model vs deep ensemble vs BMA over the star domain
(see stardomain.ensemble.run_ensemble)."""

from stardomain.ensemble import run_ensemble
from stardomain.pipeline import job

ids = snakemake.params.ids
with job(snakemake.log[0], snakemake.threads):
    run_ensemble(
        snakemake.output.csv,
        dict(zip(ids["heldout"], snakemake.input.heldout, strict=True)),
        dict(zip(ids["stars"], snakemake.input.stars, strict=True)),
        ids["star_anchors"],
        dict(zip(ids["anchors"], snakemake.input.anchors, strict=True)),
        snakemake.params.settings,
        snakemake.config["device"],
    )
