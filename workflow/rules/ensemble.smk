# The star as a substitute for an ensemble, and BMA over its star domain: the one figure stage
# that loads models (stardomain.stages.ensemble; docs/method.md).


rule ensemble:
    input:
        heldout=lambda wc: [
            model_path(wc.exp, m) for m in ensemble_ids(wc.exp)["heldout"]
        ],
        stars=lambda wc: [model_path(wc.exp, m) for m in ensemble_ids(wc.exp)["stars"]],
        anchors=lambda wc: [
            model_path(wc.exp, m) for m in ensemble_ids(wc.exp)["anchors"]
        ],
        data=lambda wc: data_files(wc.exp),
    output:
        csv="results/{exp}/ensemble.csv",
    log:
        "logs/{exp}/ensemble.log",
    conda:
        CONDA_ENV
    threads: lambda wc: job_threads(wc.exp)
    resources:
        # cpus_per_task: on SLURM the job's threads, not lowered to the host's --cores
        **cluster_resources("ensemble", cpus_per_task=exp_threads),
    params:
        ids=lambda wc: ensemble_ids(wc.exp),
        job=lambda wc: EnsembleJob.of(wc.exp, EXPERIMENTS[wc.exp]).params(),
        code=lambda wc: code_params(wc.exp),
    script:
        "../scripts/ensemble.py"
