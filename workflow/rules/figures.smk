# Stage 6: the ablation figures and tables (config["figures"]), and the one model-loading stage
# they need: the ensemble / BMA evaluation. Every figure is drawn from CSV files only.


rule describe_stars:
    output:
        "results/{exp}/design.csv",
    log:
        "logs/{exp}/design.log",
    localrule: True
    conda:
        "../../envs/stardomain.yaml"
    params:
        stars=lambda wc: {
            s: tracked(dict(star=design.star_settings(EXPERIMENTS[wc.exp], s)))["star"]
            for s in EXPERIMENTS[wc.exp]["stars"]
        },
        model=lambda wc: EXPERIMENTS[wc.exp]["model"],
        n_heldout=lambda wc: EXPERIMENTS[wc.exp]["n_heldout"],
    script:
        "../scripts/describe_stars.py"


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
        "../../envs/stardomain.yaml"
    threads: lambda wc: job_threads(wc.exp)
    resources:
        # cpus_per_task: on SLURM the job's threads, not lowered to the host's --cores
        **cluster_resources("ensemble", cpus_per_task=exp_threads),
    params:
        ids=lambda wc: ensemble_ids(wc.exp),
        settings=lambda wc: dict(
            eval_settings(wc.exp),
            experiment=wc.exp,
            align=EXPERIMENTS[wc.exp]["align"],
            ensemble=EXPERIMENTS[wc.exp]["ensemble"],
        ),
        code=lambda wc: code_params(wc.exp),
    script:
        "../scripts/ensemble.py"


rule fig_n_anchors:
    input:
        barriers=lambda wc: f"results/{FIGURES['n_sweep']['experiment']}/barriers.csv",
        design=lambda wc: f"results/{FIGURES['n_sweep']['experiment']}/design.csv",
    output:
        csv="figures/fig_n_anchors.csv",
        pdf="figures/fig_n_anchors.pdf",
        png=report(
            "figures/fig_n_anchors.png",
            caption="../report/fig_n_anchors.rst",
            category="Figures",
            labels={"figure": "Barrier vs number of anchors N"},
        ),
    log:
        "logs/figures/fig_n_anchors.log",
    localrule: True
    conda:
        "../../envs/stardomain.yaml"
    params:
        selection=FIGURES["n_sweep"],
        style=FIGURES["style"],
    script:
        "../scripts/fig_n_anchors.py"


rule table_t_sampling:
    input:
        barriers=lambda wc: f"results/{FIGURES['t_sampling']['experiment']}/barriers.csv",
        design=lambda wc: f"results/{FIGURES['t_sampling']['experiment']}/design.csv",
    output:
        csv=report(
            "figures/table_t_sampling.csv",
            caption="../report/table_t_sampling.rst",
            category="Tables",
            labels={"table": "t sampling"},
        ),
        md="figures/table_t_sampling.md",
    log:
        "logs/figures/table_t_sampling.log",
    localrule: True
    conda:
        "../../envs/stardomain.yaml"
    params:
        selection=FIGURES["t_sampling"],
    script:
        "../scripts/table_t_sampling.py"


rule fig_width_depth:
    input:
        barriers=lambda wc: expand(
            "results/{exp}/barriers.csv", exp=sweep_experiments()
        ),
        designs=lambda wc: expand("results/{exp}/design.csv", exp=sweep_experiments()),
    output:
        csv="figures/fig_width_depth.csv",
        pdf="figures/fig_width_depth.pdf",
        png=report(
            "figures/fig_width_depth.png",
            caption="../report/fig_width_depth.rst",
            category="Figures",
            labels={"figure": "Barrier vs width and depth"},
        ),
    log:
        "logs/figures/fig_width_depth.log",
    localrule: True
    conda:
        "../../envs/stardomain.yaml"
    params:
        width=FIGURES["width_sweep"],
        depth=FIGURES["depth_sweep"],
        style=FIGURES["style"],
    script:
        "../scripts/fig_width_depth.py"


rule fig_ensemble:
    input:
        lambda wc: expand("results/{exp}/ensemble.csv", exp=FIGURES["ensemble"]),
    output:
        csv=report(
            "figures/table_ensemble.csv",
            caption="../report/table_ensemble.rst",
            category="Tables",
            labels={"table": "Star as ensemble substitute, BMA"},
        ),
        md="figures/table_ensemble.md",
        pdf="figures/fig_ensemble.pdf",
        png=report(
            "figures/fig_ensemble.png",
            caption="../report/fig_ensemble.rst",
            category="Figures",
            labels={"figure": "Star as ensemble substitute, BMA"},
        ),
    log:
        "logs/figures/fig_ensemble.log",
    localrule: True
    conda:
        "../../envs/stardomain.yaml"
    params:
        style=FIGURES["style"],
    script:
        "../scripts/fig_ensemble.py"
