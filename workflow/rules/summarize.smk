# Stage 5: per-experiment tables of all pairs, then tables and figures over config["all"].


rule barriers:
    input:
        lambda wc: pair_paths(wc.exp, ".barrier.csv"),
    output:
        "results/{exp}/barriers.csv",
    log:
        "logs/{exp}/barriers.log",
    localrule: True
    conda:
        "../../envs/stardomain.yaml"
    script:
        "../scripts/concat.py"


rule curves:
    input:
        lambda wc: pair_paths(wc.exp, ".csv"),
    output:
        "results/{exp}/curves.csv",
    log:
        "logs/{exp}/curves.log",
    localrule: True
    conda:
        "../../envs/stardomain.yaml"
    script:
        "../scripts/concat.py"


rule table1:
    input:
        barriers=expand("results/{exp}/barriers.csv", exp=config["all"]),
        designs=expand("results/{exp}/design.csv", exp=config["all"]),
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
        "../../envs/stardomain.yaml"
    script:
        "../scripts/table1.py"


rule fig2:
    input:
        expand("results/{exp}/curves.csv", exp=config["all"]),
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
        "../../envs/stardomain.yaml"
    params:
        style=FIGURES["style"],
        stars=FIGURES["fig2"]["stars"],
    script:
        "../scripts/fig2.py"
