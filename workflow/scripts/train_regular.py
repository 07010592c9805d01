"""Adapter: train one regular model (see stardomain.stages.train.run_train_regular)."""

from stardomain.joblog import job

with job(snakemake.log[0], snakemake.threads) as progress:
    # imported inside the block: a failing import is logged with its traceback too
    from stardomain.jobs import RegularJob
    from stardomain.settings import TrackerSettings
    from stardomain.stages.train import run_train_regular
    from stardomain.tracking import write_metrics_csv

    exp = snakemake.config["experiments"][snakemake.wildcards.exp]
    run_train_regular(
        out=snakemake.output.model,
        job=RegularJob.from_params(snakemake.params.job, exp, experiment=snakemake.wildcards.exp),
        device=snakemake.config["device"],
        progress=progress,
        store=snakemake.config["store"],
        tracker=TrackerSettings.of(snakemake.config["tracker"]),
    )
    write_metrics_csv(snakemake.output.model, snakemake.output.metrics)  # restored ones too
