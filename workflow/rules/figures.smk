# Tables and figures (stardomain.stages.figures): what each star is (design.csv), Table 1 and
# Figure 2 over config["all"], and the ablations chosen in config["figures"]. Every figure is drawn
# from CSV files only; the design CSVs also carry each experiment's evaluation shortcuts, which
# every table and figure reports.
from stardomain.summary import eval_shortcuts


rule describe_stars:
    output:
        csv="results/{exp}/design.csv",
    log:
        "logs/{exp}/design.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        stars=lambda wc: {
            s: design.star_settings(EXPERIMENTS[wc.exp], s).params()
            for s in EXPERIMENTS[wc.exp]["stars"]
        },
        replicate_of=lambda wc: {
            s: design.replicate_of(EXPERIMENTS[wc.exp], s)
            for s in EXPERIMENTS[wc.exp]["stars"]
        },
        model=lambda wc: ModelSettings.of(EXPERIMENTS[wc.exp]["model"]).params(),
        n_heldout=lambda wc: EXPERIMENTS[wc.exp]["n_heldout"],
        shortcuts=lambda wc: eval_shortcuts(
            EvalSettings.of(EXPERIMENTS[wc.exp]["eval"])
        ),
    script:
        "../scripts/describe_stars.py"


rule table1:
    input:
        barriers=expand(rules.barriers.output.csv, exp=config["all"]),
        designs=expand(rules.describe_stars.output.csv, exp=config["all"]),
    output:
        csv=report(
            "figures/table1.csv",
            caption="../report/table1.rst",
            category="Tables",
            labels={"table": "Table 1 / Table 3: barriers"},
        ),
        md="figures/table1.md",
    log:
        "logs/figures/table1.log",
    localrule: True
    conda:
        CONDA_ENV
    script:
        "../scripts/table1.py"


rule fig2:
    input:
        curves=expand(rules.curves.output.csv, exp=config["all"]),
        designs=expand(rules.describe_stars.output.csv, exp=config["all"]),
    output:
        pdf="figures/fig2.pdf",
        png=report(
            "figures/fig2.png",
            caption="../report/fig2.rst",
            category="Figures",
            labels={"figure": "Figure 2: loss and accuracy along t"},
        ),
    log:
        "logs/figures/fig2.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        style=STYLE.params(),
        stars=FIGURES["fig2"]["stars"],
    script:
        "../scripts/fig2.py"


rule fig_n_anchors:
    input:
        barriers=expand(
            rules.barriers.output.csv, exp=ablation_experiments("n_anchors")
        ),
        designs=expand(
            rules.describe_stars.output.csv, exp=ablation_experiments("n_anchors")
        ),
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
        CONDA_ENV
    params:
        selection=FIGURES["n_sweep"],
        style=STYLE.params(),
    script:
        "../scripts/fig_n_anchors.py"


rule table_t_sampling:
    input:
        barriers=expand(
            rules.barriers.output.csv, exp=ablation_experiments("t_sampling")
        ),
        designs=expand(
            rules.describe_stars.output.csv, exp=ablation_experiments("t_sampling")
        ),
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
        CONDA_ENV
    params:
        selection=FIGURES["t_sampling"],
    script:
        "../scripts/table_t_sampling.py"


rule fig_width_depth:
    input:
        barriers=expand(
            rules.barriers.output.csv, exp=ablation_experiments("width_depth")
        ),
        designs=expand(
            rules.describe_stars.output.csv, exp=ablation_experiments("width_depth")
        ),
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
        CONDA_ENV
    params:
        width=FIGURES["width_sweep"],
        depth=FIGURES["depth_sweep"],
        style=STYLE.params(),
    script:
        "../scripts/fig_width_depth.py"


rule fig_ensemble:
    input:
        metrics=expand(rules.ensemble.output.csv, exp=ablation_experiments("ensemble")),
        designs=expand(
            rules.describe_stars.output.csv, exp=ablation_experiments("ensemble")
        ),
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
        CONDA_ENV
    params:
        style=STYLE.params(),
    script:
        "../scripts/fig_ensemble.py"
