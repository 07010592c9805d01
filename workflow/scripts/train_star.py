"""Adapter: train one star model with Starlight (see stardomain.stages.star.run_train_star)."""

from stardomain.joblog import job

with job(snakemake.log[0], snakemake.threads) as progress:
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.jobs import StarJob
    from stardomain.settings import TrackerSettings
    from stardomain.stages.star import run_train_star
    from stardomain.tracking import write_metrics_csv

    exp = snakemake.config["experiments"][snakemake.wildcards.exp]
    labels = dict(experiment=snakemake.wildcards.exp, name=snakemake.wildcards.star)
    run_train_star(
        out=snakemake.output.model,
        anchor_paths=list(snakemake.input.anchors),
        job=StarJob.from_params(snakemake.params.job, exp, **labels),
        device=snakemake.config["device"],
        progress=progress,
        store=snakemake.config["store"],
        tracker=TrackerSettings.of(snakemake.config["tracker"]),
        workers=snakemake.threads,
    )
    write_metrics_csv(snakemake.output.model, snakemake.output.metrics)  # restored ones too
