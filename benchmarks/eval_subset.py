"""Benchmark: what the evaluation shortcuts of an experiment cost in accuracy, against the paper's
full protocol, on the trained models of a finished run.

full     = every image of the train split and the test split at every t, BN statistics re-estimated
           on one full pass of the training loader at every interior t (eval.train_subset,
           test_subset and bn_batches null: the paper's protocol);
shortcut = the experiment's own eval settings in config.yaml (e.g. fmnist_cnn: 5,000 seeded images
           per split, BN re-estimated on 20 batches of 128).
Both curves of each pair go through stardomain.stages.pairs.run_curve with the run's permutation file,
so they differ only in those three keys. Prints, per pair, both barriers, their difference and the
wall time of each curve; `--json PATH` writes the same figures.

Usage (after `snakemake --configfile workflow/configs/fashion_mnist.yaml`):
  python benchmarks/eval_subset.py [--experiment fmnist_cnn] [--workdir .] \
      [--pairs regular-0~regular-10 star-main~regular-10] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml
from snakemake.utils import validate

from stardomain.stages.pairs import run_curve

REPO = Path(__file__).resolve().parents[1]
SHORTCUTS = ("train_subset", "test_subset", "bn_batches")
BARRIERS = ("barrier_loss_train", "barrier_loss_test", "barrier_accuracy_drop_pp_train")


def experiment(name: str) -> dict:
    """The experiment `name` of config.yaml with the schema's defaults filled in."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config["experiments"][name]


def barrier_row(workdir: Path, exp_name: str, exp: dict, pair: str, eval_cfg: dict) -> dict:
    """One permuted pair's barrier row under `eval_cfg`, and the seconds its curve took."""
    a, b = pair.split("~")
    models = {m: workdir / f"results/{exp_name}/{m.split('-', 1)[0]}/{m.split('-', 1)[1]}.pt"
              for m in (a, b)}  # fmt: skip
    settings = dict(data=exp["data"], model=exp["model"], eval=eval_cfg)
    ids = dict(experiment=exp_name, kind="", alignment="permuted", a=a, b=b)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        perm = str(workdir / f"results/{exp_name}/perm/{pair}.pt")
        run_curve(f"{tmp}/curve.csv", f"{tmp}/barrier.csv", str(models[a]), str(models[b]),
                  settings, ids, "cpu", perm_path=perm)  # fmt: skip
        seconds = time.perf_counter() - start
        row = pd.read_csv(f"{tmp}/barrier.csv").iloc[0]
    return dict({k: float(row[k]) for k in BARRIERS}, seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="fmnist_cnn")
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument(
        "--pairs", nargs="+", default=["regular-0~regular-10", "star-main~regular-10"]
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    exp = experiment(args.experiment)
    shortcut = exp["eval"]
    full = dict(shortcut, **{k: None for k in SHORTCUTS})
    print(
        f"{args.experiment}: shortcut { ({k: shortcut.get(k) for k in SHORTCUTS}) } vs full protocol"
    )
    out = []
    for pair in args.pairs:
        rows = {name: barrier_row(args.workdir, args.experiment, exp, pair, cfg)
                for name, cfg in (("full", full), ("shortcut", shortcut))}  # fmt: skip
        out.append(dict(pair=pair, **rows))
        for key in BARRIERS:
            f, s = rows["full"][key], rows["shortcut"][key]
            print(f"  {pair:28s} {key:32s} full {f:.4f}  shortcut {s:.4f}  "
                  f"difference {s - f:+.4f} ({100 * (s - f) / f:+.1f} %)" if f else "")  # fmt: skip
        print(f"  {pair:28s} curve wall time: full {rows['full']['seconds']:.0f} s, "
              f"shortcut {rows['shortcut']['seconds']:.0f} s")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(dict(experiment=args.experiment, pairs=out), indent=1))


if __name__ == "__main__":
    main()
