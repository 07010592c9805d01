# Star models, one job per star: Starlight (Algorithm 1 of the paper) against the star's anchors
# (stardomain.stages.star; docs/method.md, section 2).


rule train_star:
    input:
        anchors=lambda wc: [
            model_path(wc.exp, design.regular_id(s))
            for s in design.star_settings(EXPERIMENTS[wc.exp], wc.star).anchors
        ],
        data=lambda wc: data_files(wc.exp),
    output:
        model="results/{exp}/star/{star}.pt",
        metrics="results/{exp}/star/{star}.metrics.csv",  # per-epoch history, from the .pt
    log:
        "logs/{exp}/star/{star}.log",
    conda:
        CONDA_ENV
    threads: lambda wc: job_threads(wc.exp)
    resources:
        **cluster_resources("train_star"),
    params:
        job=lambda wc: star_params(wc.exp, wc.star),
        code=lambda wc: code_params(wc.exp),
    script:
        "../scripts/train_star.py"
