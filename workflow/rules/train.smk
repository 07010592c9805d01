# Regular models, one job per seed and recipe (stardomain.stages.train; docs/method.md, section 1):
# results/<exp>/regular/<seed>.pt with the experiment's `train:`, results/<exp>/regular_<group>/
# <seed>.pt with the recipe of held-out group <group> (`heldout_groups`).


rule train_regular:
    input:
        data=lambda wc: data_files(wc.exp),
    output:
        model="results/{exp}/{regular}/{seed}.pt",
        metrics="results/{exp}/{regular}/{seed}.metrics.csv",  # per-epoch history, from the .pt
    log:
        "logs/{exp}/{regular}/{seed}.log",
    conda:
        CONDA_ENV
    threads: lambda wc: job_threads(wc.exp)
    resources:
        # cpus_per_task: on SLURM the job's threads, not lowered to the host's --cores
        **cluster_resources("train_regular", cpus_per_task=exp_threads),
    params:
        job=lambda wc: regular_params(wc.exp, wc.regular, wc.seed),
        code=lambda wc: code_params(wc.exp),
    script:
        "../scripts/train_regular.py"
