"""stardomain: do deep-network solutions form a star domain? (Sonthalia et al., ICLR 2025)

Path grammar (every output is a file; <exp> is a key of config["experiments"]):
  results/<exp>/regular/<seed>.pt                   regular model trained from <seed>
  results/<exp>/regular_<group>/<seed>.pt           held-out model of heldout_groups.<group> (its recipe)
  results/<exp>/star/<star>.pt                      star model (Starlight) named <star> in config
  results/<exp>/{regular/<seed>,star/<star>}.metrics.csv   per-epoch metrics of that model
  results/<exp>/perm/<a>~<b>.pt                     permutation moving model <b> onto model <a>
  results/<exp>/curves/<alignment>/<a>~<b>.csv      interpolation curve a -> b (t, split, loss, accuracy)
  results/<exp>/curves/<alignment>/<a>~<b>.barrier.csv   its barrier row
  results/<exp>/barriers.csv, results/<exp>/curves.csv   all pairs of the experiment
  results/<exp>/design.csv                          what each star is (N, t sampling, width, depth)
  results/<exp>/ensemble.csv                        single / star / deep ensemble / BMA metrics
  figures/table1.csv, figures/table1.md, figures/fig2.pdf, figures/fig2.png   over config["all"]
  figures/fig_n_anchors.*, fig_width_depth.*, fig_ensemble.*, table_t_sampling.*, table_ensemble.*
                                                    ablations chosen in config["figures"]
  <data.ffcv.dir>/{train,val}_<res>_<p>_<q>.beton   FFCV files of an ImageFolder tree (data.loader:
                                                    ffcv only; default dir <data.root>/ffcv)
  logs/...                                          one log per job, mirroring the output path
  store/<2 hex>/<sha256>.pt (+ .json)               model store (config key `store`): every trained
                                                    model by digest; a rerun restores, never retrains
Model ids: regular-<seed> | regular_<group>-<seed> | star-<star>.  <alignment>: naive | permuted.
"""

import os

import yaml
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import min_version, validate

from stardomain.checks import check_config, check_data, check_extras, check_tracker
from stardomain.data.vision import DATA_ENV
from stardomain.design import expand_replicates, wanted_figures
from stardomain.schema import (
    check_group_recipes,
    check_schema,
    check_unique_keys,
    coerce_overrides,
)

min_version("9.0")

# 0. config files parsed strictly before `configfile:` reads them: a YAML syntax error names the
# file, line and column and shows the line (Snakemake's own message names none); no duplicated keys
check_unique_keys(
    path
    for path in ("config.yaml", *workflow.overwrite_configfiles)
    if os.path.exists(path)
)


configfile: "config.yaml"


# 1. --config values read as YAML where the schema wants a number or null; 2. short messages
# naming the key path; 3. fill defaults; 4. the site's data folder; 5. stars' replicates as stars
# of their own; 6. cross-key checks
SCHEMA = "workflow/schemas/config.schema.yaml"
with open(workflow.source_path(SCHEMA)) as f:
    schema = yaml.safe_load(f)
coerce_overrides(config, workflow.config_settings.overwrite_config, schema)
check_schema(config, schema)
validate(config, SCHEMA)
check_group_recipes(config, schema)
# the site's data folder (data_root), for this process and the jobs it starts
if config["data_root"]:
    os.environ[DATA_ENV] = config["data_root"]
expand_replicates(config)
check_config(config)


onstart:
    # 7. (a real run, not a dry run) the optional packages a key needs (rebasin, ffcv, wandb)
    # import here, where the jobs run (not checked with --sdm conda: jobs run in another env)
    if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
        check_extras(config)
    # tracker.name: wandb has a login or WANDB_MODE=offline (the jobs inherit this environment)
    check_tracker(config)
    # 8. data.download fetches once, here; the data files exist
    check_data(config)


# one rules file per stage of stardomain.stages (src/stardomain/stages/__init__.py)
include: "workflow/rules/common.smk"
include: "workflow/rules/ffcv.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/star.smk"
include: "workflow/rules/pairs.smk"
include: "workflow/rules/ensemble.smk"
include: "workflow/rules/figures.smk"


# ablation figure (design.ABLATIONS) -> the rule that draws it
ABLATION_RULES = dict(
    n_anchors=rules.fig_n_anchors,
    t_sampling=rules.table_t_sampling,
    width_depth=rules.fig_width_depth,
    ensemble=rules.fig_ensemble,
)


rule all:
    default_target: True
    input:
        rules.table1.output,
        rules.fig2.output,
        expand(rules.barriers.output.csv, exp=config["all"]),
        # the ablation figures that compare an experiment in `all`
        [ABLATION_RULES[figure].output for figure in wanted_figures(config)],
