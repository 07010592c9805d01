# Stage 1: regular models, one job per seed. Stage 3: star models (Starlight, Algorithm 1).


rule train_regular:
    input:
        data=lambda wc: data_files(wc.exp),
    output:
        model="results/{exp}/regular/{seed}.pt",
        metrics="results/{exp}/regular/{seed}.metrics.csv",  # per-epoch history, from the .pt
    log:
        "logs/{exp}/regular/{seed}.log",
    conda:
        "../../envs/stardomain.yaml"
    threads: lambda wc: job_threads(wc.exp)
    resources:
        # cpus_per_task: on SLURM the job's threads, not lowered to the host's --cores
        **cluster_resources("train_regular", cpus_per_task=exp_threads),
    params:
        settings=lambda wc: regular_settings(wc.exp),
        seed=lambda wc: int(wc.seed),
        code=lambda wc: code_params(wc.exp),
    script:
        "../scripts/train_regular.py"


rule train_star:
    input:
        anchors=lambda wc: [
            model_path(wc.exp, design.regular_id(s))
            for s in design.star_settings(EXPERIMENTS[wc.exp], wc.star)["anchors"]
        ],
        data=lambda wc: data_files(wc.exp),
    output:
        model="results/{exp}/star/{star}.pt",
        metrics="results/{exp}/star/{star}.metrics.csv",  # per-epoch history, from the .pt
    log:
        "logs/{exp}/star/{star}.log",
    conda:
        "../../envs/stardomain.yaml"
    threads: lambda wc: job_threads(wc.exp)
    resources:
        **cluster_resources("train_star"),
    params:
        settings=lambda wc: star_settings(wc.exp, wc.star),
        code=lambda wc: code_params(wc.exp),
    script:
        "../scripts/train_star.py"
