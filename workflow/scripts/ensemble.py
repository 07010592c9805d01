"""Adapter: star vs single model vs deep ensemble vs BMA over the star domain
(see stardomain.stages.ensemble.run_ensemble)."""

from stardomain.joblog import job

with job(snakemake.log[0], snakemake.threads):
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.jobs import EnsembleJob, made_with
    from stardomain.stages.ensemble import run_ensemble

    ids = snakemake.params.ids
    name = snakemake.wildcards.exp
    exp = snakemake.config["experiments"][name]
    models = [*ids["heldout"], *ids["stars"], *ids["anchors"]]
    run_ensemble(
        out_csv=snakemake.output.csv,
        heldout=dict(zip(ids["heldout"], snakemake.input.heldout, strict=True)),
        stars=dict(zip(ids["stars"], snakemake.input.stars, strict=True)),
        anchors=ids["star_anchors"],
        paths=dict(zip(ids["anchors"], snakemake.input.anchors, strict=True)),
        job=EnsembleJob.from_params(snakemake.params.job, exp, experiment=name),
        device=snakemake.config["device"],
        made_with={m: made_with(name, exp, m) for m in models},
    )
