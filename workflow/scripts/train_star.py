"""Adapter: train one star model with Starlight (see stardomain.stages.star.run_train_star)."""

from stardomain.joblog import job

with job(snakemake.log[0], snakemake.threads) as progress:
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.provenance import with_untracked
    from stardomain.stages.star import run_train_star
    from stardomain.tracking import write_metrics_csv

    settings = with_untracked(
        snakemake.params.settings, snakemake.config["experiments"][snakemake.wildcards.exp]
    )
    run_train_star(
        out=snakemake.output.model,
        anchor_paths=list(snakemake.input.anchors),
        settings=settings,
        device=snakemake.config["device"],
        progress=progress,
        store=snakemake.config["store"],
        tracker=snakemake.config["tracker"],
        workers=snakemake.threads,
    )
    write_metrics_csv(snakemake.output.model, snakemake.output.metrics)  # restored ones too
