"""Adapter: star vs single model vs deep ensemble vs BMA over the star domain
(see stardomain.ensemble.run_ensemble)."""

from stardomain.ensemble import run_ensemble
from stardomain.pipeline import job
from stardomain.provenance import with_untracked

ids = snakemake.params.ids
settings = with_untracked(
    snakemake.params.settings, snakemake.config["experiments"][snakemake.wildcards.exp]
)
with job(snakemake.log[0], snakemake.threads):
    run_ensemble(
        snakemake.output.csv,
        dict(zip(ids["heldout"], snakemake.input.heldout, strict=True)),
        dict(zip(ids["stars"], snakemake.input.stars, strict=True)),
        ids["star_anchors"],
        dict(zip(ids["anchors"], snakemake.input.anchors, strict=True)),
        settings,
        snakemake.config["device"],
    )
