"""Figures, tables and the ensemble / BMA evaluation: metric formulas by hand, tables from
synthetic barrier rows, figures written from DataFrames, and config checks of `figures:`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from stardomain import checks, design, ensemble, plots, summary, table1
from stardomain.data import Batches, Data, Split
from stardomain.models import build_model, model_spec
from stardomain.settings import (
    AlignSettings,
    EnsembleSettings,
    EvalSettings,
    ModelSettings,
    PlotStyle,
)

from conftest import REPO
from helpers import design_of

STYLE = PlotStyle(dpi=60, font_size=8)


def validated(config: dict) -> dict:
    from snakemake.utils import validate

    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    return config


def default_config() -> dict:
    return validated(yaml.safe_load((REPO / "config.yaml").read_text()))


# ---- metrics -------------------------------------------------------------------------------------


def test_ece_by_hand():
    # two bins (0, .5], (.5, 1]; bin 2 holds confidences .9 (right) and .7 (wrong): acc .5, conf .8
    # bin 1 holds .4 (right): acc 1, conf .4  -> ECE = 2/3 * .3 + 1/3 * .6 = .4
    probs = np.array([[0.9, 0.1, 0.0], [0.7, 0.3, 0.0], [0.4, 0.3, 0.3]])
    labels = np.array([0, 1, 0])
    assert ensemble.expected_calibration_error(probs, labels, bins=2) == pytest.approx(0.4)


def test_misclassification_auroc_matches_pair_count():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=200)
    labels = rng.integers(0, 4, size=200)
    conf, correct = probs.max(1), probs.argmax(1) == labels
    right, wrong = conf[correct], conf[~correct]
    pairs = (right[:, None] > wrong[None, :]).mean() + 0.5 * (
        right[:, None] == wrong[None, :]
    ).mean()
    assert ensemble.misclassification_auroc(probs, labels) == pytest.approx(pairs)
    # perfectly separated: every correct prediction more confident than every wrong one
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])
    assert ensemble.misclassification_auroc(probs, np.array([0, 0, 1, 1])) == 1.0
    assert ensemble.misclassification_auroc(probs, np.array([1, 1, 0, 0])) == 0.0
    assert np.isnan(ensemble.misclassification_auroc(probs, np.zeros(4, dtype=int)))


def test_metrics_accuracy_and_nll():
    probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    m = ensemble.metrics(probs, np.array([0, 1]), bins=10)
    assert m["accuracy"] == 1.0  # argmax of a tie is the first class
    assert m["nll"] == pytest.approx(-(np.log(0.5) + np.log(0.75)) / 2)


def _tiny_data(n: int = 64) -> Data:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 6, generator=gen), torch.randint(0, 3, (n,), generator=gen)
    return Data(Split(x, y), Split(x[:32], y[:32]), (6,), 3)


@pytest.mark.parametrize("batchnorm", [False, True])
def test_bma_over_identical_models_is_that_model(batchnorm):
    cfg = {"name": "mlp", "width": 5, "depth": 2, "batchnorm": batchnorm}
    data = _tiny_data()
    model = build_model(ModelSettings.of(cfg), (6,), 3, seed=1)
    star = {k: v.clone() for k, v in model.state_dict().items()}
    bn = Batches(data.train, 16, shuffle=True, seed=0) if batchnorm else None
    alone = ensemble.predict(model, star, data.test.x, None, None)
    mixed = ensemble.bma_probs(model, star, [star, star], 4, 0, data.test.x, bn, None)
    # with BN, theta(t) re-estimates statistics from training data, so outputs move slightly
    assert torch.allclose(alone, mixed, atol=1e-5 if not batchnorm else 0.5)
    assert torch.allclose(mixed.sum(1), torch.ones(len(mixed)))


def test_compare_rows_and_bma_differs_from_star():
    cfg = {"name": "mlp", "width": 5, "depth": 1, "batchnorm": False}
    data = _tiny_data()
    states = [build_model(ModelSettings.of(cfg), (6,), 3, seed=s).state_dict() for s in range(4)]
    model = build_model(ModelSettings.of(cfg), (6,), 3, seed=0)
    rows = ensemble.compare(
        model,
        model_spec(ModelSettings.of(cfg), model, (6,)),
        data,
        {"regular-3": states[3]},
        {"star-main": (states[0], {"regular-1": states[1], "regular-2": states[2]})},
        evaluation=EvalSettings((0.0, 1.0), 64, bn_batch_size=16, bn_batches=None, seed=0),
        align=AlignSettings(matcher="weight_matching", max_iter=20, seed=0),
        ensemble=EnsembleSettings(bma_samples=8, ece_bins=5, seed=0),
    )
    table = pd.DataFrame(rows).set_index("method")
    assert list(table.index) == ["single", "star", "ensemble", "bma"]
    assert table.loc["ensemble", "members"] == 2 and table.loc["bma", "members"] == 8
    assert table.loc["bma", "nll"] != pytest.approx(table.loc["star", "nll"])
    assert ((table["accuracy"] >= 0) & (table["accuracy"] <= 1)).all()


# ---- tables --------------------------------------------------------------------------------------


def _barrier_rows() -> pd.DataFrame:
    rows = []
    for exp, scale in (("a", 1.0), ("b", 2.0)):
        for h, value in enumerate((0.4, 0.6)):
            row = dict(experiment=exp, kind="regular-regular", alignment="permuted", a="regular-0",
                       b=f"regular-{h + 5}", barrier_loss_train=scale * value,
                       barrier_loss_test=scale * value / 2)  # fmt: skip
            rows.append(row)
            rows.append(dict(row, alignment="naive", barrier_loss_train=9.0))
            for star, factor in (("star-main", 0.5), ("star-n1", 0.9)):
                rows.append(dict(row, kind="star-heldout", a=star,
                                 barrier_loss_train=factor * scale * value,
                                 barrier_loss_test=factor * scale * value / 2))  # fmt: skip
    table = pd.DataFrame(rows)
    for col in ("loss_train_a", "loss_test_a", "accuracy_test_a"):
        table[col] = 0.5
    return table


def _designs() -> pd.DataFrame:
    exp = default_config()["experiments"]["digits"]
    exp = dict(exp, stars={"main": exp["stars"]["main"], "n1": exp["stars"]["n1"]})
    return pd.concat(
        [design_of("a", exp), design_of("b", dict(exp, model=dict(exp["model"], width=16)))]
    )


def test_design_resolves_anchors_and_labels():
    exp = default_config()["experiments"]["digits"]
    table = design_of("digits", exp).set_index("star")
    assert table.loc["star-main", "n_anchors"] == exp["n_anchors"]
    assert table.loc["star-n1", "n_anchors"] == 1
    assert table.loc["star-beta", "t_label"] == "Beta(2,2)"
    assert table.loc["star-constant", "t_label"] == "t = 0.5"
    assert table.loc["star-main", "t_label"] == "U[0,1]"


def test_star_barriers_select_and_sweep():
    table = summary.star_barriers(_barrier_rows(), _designs())
    picked = summary.select_stars(table, "a", ["n1", "main"])
    assert list(picked["star"]) == ["star-n1", "star-main"]
    main = picked.iloc[1]
    assert main["star_barrier_loss_train_mean"] == pytest.approx(0.25)  # 0.5 * mean(0.4, 0.6)
    assert main["star_barrier_loss_train_std"] == pytest.approx(0.5 * np.std([0.4, 0.6], ddof=1))
    assert main["regular_barrier_loss_train_mean"] == pytest.approx(0.5)  # naive rows ignored
    assert main["n_star_pairs"] == 2 and main["n_anchors"] == 20
    with pytest.raises(ValueError, match="star-beta"):
        summary.select_stars(table, "a", ["beta"])
    sweep = summary.sweep_table(table, ["a", "b"], [])
    assert list(sweep["width"]) == [8, 16] and list(sweep["star"]) == ["star-main"] * 2
    x, y = sweep["regular_barrier_loss_train_mean"], sweep["star_barrier_loss_train_mean"]
    assert plots.fit_through_origin(x.to_numpy(), y.to_numpy()) == pytest.approx(0.5)


def test_ensemble_summary_and_markdown():
    rows = pd.DataFrame(
        [dict(experiment="e", method="single", star=np.nan, model=f"regular-{i}", members=1,
              accuracy=acc, nll=0.3, ece=0.02, auroc_misclassification=0.8)
         for i, acc in enumerate((0.9, 0.8))]
        + [dict(experiment="e", method=m, star="star-main", model="x", members=k, accuracy=0.95,
                nll=0.2, ece=0.01, auroc_misclassification=0.85)
           for m, k in (("star", 1), ("ensemble", 20), ("bma", 32))]
    )  # fmt: skip
    table = summary.ensemble_summary(rows).set_index("method")
    assert table.loc["single", "accuracy_mean"] == pytest.approx(0.85)
    assert table.loc["single", "models"] == 2 and table.loc["bma", "members"] == 32
    text = summary.markdown(table.reset_index(), {"method": "method", "accuracy_mean": "acc"})
    assert text.splitlines()[2] == "| single | 0.850 |"


# ---- figures -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_figures_are_written_with_the_style_dpi(tmp_path):
    from PIL import Image

    table = summary.star_barriers(_barrier_rows(), _designs())
    sweep = summary.sweep_table(table, ["a", "b"], ["a"])
    ens = summary.ensemble_summary(
        pd.DataFrame(
            [dict(experiment="e", method=m, star="" if m == "single" else "star-main", model="x",
                  members=1, accuracy=0.9, nll=0.3, ece=0.02, auroc_misclassification=0.8)
             for m in ("single", "star", "ensemble", "bma")]
        )
    )  # fmt: skip
    sizes = {}
    for dpi in (50, 100):
        style = replace(STYLE, dpi=dpi)
        out = [str(tmp_path / f"n{dpi}.png"), str(tmp_path / f"n{dpi}.pdf")]
        plots.fig_n_anchors(summary.select_stars(table, "a", ["n1", "main"]), out, style)
        slope = plots.fig_width_depth(sweep, [str(tmp_path / f"wd{dpi}.png")], style)
        plots.fig_ensemble(ens, [str(tmp_path / f"e{dpi}.png")], style)
        sizes[dpi] = Image.open(out[0]).size
        assert (tmp_path / f"n{dpi}.pdf").read_bytes().startswith(b"%PDF")
    assert slope == pytest.approx(0.5)
    assert sizes[100][0] == pytest.approx(2 * sizes[50][0], abs=2)  # 7.0 in x dpi


def test_fig2_is_drawn_by_seaborn_with_std_bands_in_the_pair_kind_palette(tmp_path, monkeypatch):
    """Each pair kind's line is the mean over its pairs, its band mean ± std (n - 1), in the one
    colour seaborn's colour-blind palette gives that kind, the same in the other figures."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.colors import to_hex

    rng = np.random.default_rng(0)
    rows = [
        dict(experiment="e", kind=kind, alignment=alignment, a=a, b=f"regular-{b}", t=t,
             split=split, loss=float(rng.uniform(0, 2)), accuracy=float(rng.uniform(0.5, 1)))
        for kind, alignment, a in [("regular-regular", "permuted", "regular-0"),
                                   ("star-heldout", "permuted", "star-main"),
                                   ("star-heldout", "naive", "star-main")]
        for b in (5, 6, 7) for t in (0.0, 0.5, 1.0) for split in ("train", "test")
    ]  # fmt: skip
    curves = pd.DataFrame(rows)
    drawn = []
    monkeypatch.setattr(plt, "close", drawn.append)  # keep the figure to inspect it
    plots.fig2(curves, [str(tmp_path / "fig2.png")], STYLE)
    (fig,) = drawn
    ax = fig.axes[0]  # loss, train split
    colours = sns.color_palette("colorblind").as_hex()
    palette = {"regular–regular (permuted)": colours[1], "star–held-out (naive)": colours[2],
               "star–held-out (permuted)": colours[3]}  # fmt: skip
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert {k: to_hex(v.get_color()) for k, v in lines.items()} == palette
    assert list(plots.PALETTE.values())[:5] == colours[:5]
    assert plots.STAR["color"] == palette["star–held-out (permuted)"]  # same colour elsewhere
    bands = [c for c in ax.collections if len(c.get_paths())]
    assert len(bands) == 3
    for label, line in lines.items():
        kind = {"regular–regular (permuted)": ("regular-regular", "permuted"),
                "star–held-out (naive)": ("star-heldout", "naive"),
                "star–held-out (permuted)": ("star-heldout", "permuted")}[label]  # fmt: skip
        sel = curves[(curves["split"] == "train") & (curves["kind"] == kind[0])
                     & (curves["alignment"] == kind[1])]  # fmt: skip
        stats = sel.groupby("t")["loss"].agg(["mean", "std"])
        np.testing.assert_allclose(line.get_ydata(), stats["mean"])
        (band,) = [b for b in bands if to_hex(b.get_facecolor()[0]) == palette[label]]
        ys = band.get_paths()[0].vertices[:, 1]
        np.testing.assert_allclose(
            [ys.min(), ys.max()],
            [(stats["mean"] - stats["std"]).min(), (stats["mean"] + stats["std"]).max()],
        )
    assert (tmp_path / "fig2.png").exists()
    monkeypatch.undo()
    plt.close(fig)


@pytest.mark.parametrize("font_size", [9, 12])
def test_fig2_legend_lies_inside_the_figure_below_the_panels(tmp_path, monkeypatch, font_size):
    """One experiment (two panels wide) and every pair kind: no legend entry is cut at the
    figure's edges, and the legend overlaps no axis labels."""
    import matplotlib.pyplot as plt

    kinds = [(kind, alignment) for kind, alignment in plots.KINDS]
    rows = [
        dict(experiment="digits", kind=kind, alignment=alignment, t=t, split=split, loss=t,
             accuracy=1 - t / 2, a="regular-0" if kind == "regular-regular" else "star-main",
             b=f"regular-{b}")
        for kind, alignment in kinds for b in (2, 3) for t in (0.0, 0.5, 1.0)
        for split in ("train", "test")
    ]  # fmt: skip
    drawn = []
    monkeypatch.setattr(plt, "close", drawn.append)  # keep the figure to inspect it
    plots.fig2(
        pd.DataFrame(rows), [str(tmp_path / "fig2.png")], replace(STYLE, font_size=font_size)
    )
    (fig,) = drawn
    renderer = fig.canvas.get_renderer()
    (legend,) = fig.legends
    box, page = legend.get_window_extent(renderer), fig.bbox
    assert len(legend.get_texts()) == len(kinds)
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0, (box, page)
    lowest = min(ax.get_tightbbox(renderer).y0 for ax in fig.axes)  # x labels included
    assert box.y1 <= lowest, (box.y1, lowest)
    monkeypatch.undo()
    plt.close(fig)


# ---- config --------------------------------------------------------------------------------------


def test_default_config_pairs_and_ensemble_stars():
    config = default_config()
    checks.check_config(config)
    exp = config["experiments"]["digits"]
    kinds = pd.DataFrame([p.__dict__ for p in design.pairs(exp)])
    n1 = kinds[kinds["a"] == "star-n1"]
    assert len(n1) == exp["n_heldout"] and set(n1["alignment"]) == {"permuted"}
    assert (
        len(kinds[kinds["a"] == "star-main"]) == 2 * exp["n_heldout"] + exp["eval"]["pair_anchors"]
    )
    sweep = config["experiments"]["digits_w4"]
    assert {p.alignment for p in design.pairs(sweep)} == {"permuted"}
    assert design.ensemble_stars(exp) == ["main"]
    assert design.ensemble_stars(dict(exp, ensemble={"stars": None})) == list(exp["stars"])


@pytest.mark.parametrize(
    "figures, message",
    [
        ({"n_sweep": {"experiment": "nope", "stars": ["main"]}}, "figures.n_sweep.experiment"),
        ({"t_sampling": {"experiment": "digits", "stars": ["main", "x"]}}, r"figures.t_sampling.stars\[1\]"),
        ({"width_sweep": ["digits", "nope"]}, r"figures.width_sweep\[1\]"),
        ({"depth_sweep": ["digits", "digits_w4"]}, "figures.depth_sweep: experiments must differ"),
    ],
)  # fmt: skip
def test_bad_figures_config_names_the_key(figures, message):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config = validated(dict(config, figures=figures))
    with pytest.raises(design.ConfigError, match=message):
        checks.check_config(config)


def test_bad_ensemble_star_names_the_key():
    config = default_config()
    config["experiments"]["digits"]["ensemble"]["stars"] = ["ghost"]
    with pytest.raises(design.ConfigError, match=r"experiments.digits.ensemble.stars\[0\]"):
        checks.check_config(config)


# ---- workflow: the tiny experiment with every figure ----------------------------------------------

FIGURE_FILES = [
    "figures/fig2.png", "figures/fig2.pdf", "figures/table1.csv",
    "figures/fig_n_anchors.png", "figures/fig_n_anchors.pdf", "figures/fig_n_anchors.csv",
    "figures/table_t_sampling.csv", "figures/table_t_sampling.md",
    "figures/fig_width_depth.png", "figures/fig_width_depth.pdf", "figures/fig_width_depth.csv",
    "figures/fig_ensemble.png", "figures/fig_ensemble.pdf",
    "figures/table_ensemble.csv", "figures/table_ensemble.md",
]  # fmt: skip
PLOTTING_RULES = {"fig2", "fig_n_anchors", "fig_width_depth", "fig_ensemble"}


def figures_config() -> dict:
    """TINY plus two ablation stars, a width and a depth variant (3 models each) and every figure."""
    from conftest import tiny_config

    config = tiny_config()
    tiny = config["experiments"]["tiny"]
    ablation = {"epochs": 2, "pairs": "heldout_permuted"}
    tiny["stars"]["n1"] = dict(ablation, n_anchors=1)
    tiny["stars"]["beta"] = dict(ablation, t_sampling="beta")
    tiny["ensemble"] = {"stars": ["main"], "bma_samples": 4}
    for name, change in (("tiny_w4", {"width": 4}), ("tiny_d1", {"depth": 1})):
        config["experiments"][name] = dict(
            tiny,
            model=dict(tiny["model"], **change),
            seeds=[0, 1, 2],
            n_anchors=2,
            n_heldout=1,
            stars={"main": ablation},
            eval={"grid": [0.0, 0.5, 1.0], "pair_anchors": 1, "naive": False},
            ensemble={},
        )
    config["figures"] = {
        "fig2": {"stars": ["main"]},
        "n_sweep": {"experiment": "tiny", "stars": ["n1", "main"]},
        "t_sampling": {"experiment": "tiny", "stars": ["main", "beta"]},
        "width_sweep": ["tiny_w4", "tiny"],
        "depth_sweep": ["tiny_d1", "tiny"],
        "ensemble": ["tiny"],
        "style": {"dpi": 80},
    }
    return config


@pytest.fixture(scope="module")
def figures_done(tmp_path_factory):
    """A workdir where `figures_config` ran to the end once, plus its HTML report."""
    from conftest import snakemake

    workdir = tmp_path_factory.mktemp("figures")
    snakemake(workdir, figures_config())
    snakemake(workdir, figures_config(), "--report", "report.html")
    return workdir


@pytest.mark.slow
def test_every_figure_is_built_with_its_numbers(figures_done):
    for path in FIGURE_FILES:
        assert (figures_done / path).stat().st_size > 0, path
    assert (figures_done / "figures/fig_ensemble.pdf").read_bytes().startswith(b"%PDF")
    n_sweep = pd.read_csv(figures_done / "figures/fig_n_anchors.csv")
    assert list(n_sweep["n_anchors"]) == [1, 2] and (n_sweep["n_star_pairs"] == 2).all()
    assert "Beta(2,2)" in (figures_done / "figures/table_t_sampling.md").read_text()
    sweep = pd.read_csv(figures_done / "figures/fig_width_depth.csv")
    assert list(zip(sweep["sweep"], sweep["width"], sweep["depth"], strict=True)) == [
        ("width", 4, 2), ("width", 8, 2), ("depth", 8, 1), ("depth", 8, 2),
    ]  # fmt: skip
    x, y = sweep["regular_barrier_loss_train_mean"], sweep["star_barrier_loss_train_mean"]
    assert sweep["fit_slope"].iloc[0] == pytest.approx(plots.fit_through_origin(x[:3], y[:3]))
    table = pd.read_csv(figures_done / "figures/table_ensemble.csv").set_index("method")
    assert list(table.index) == ["single", "star", "ensemble", "bma"]
    assert table.loc["single", "models"] == 2  # the two held-out models
    assert table.loc["ensemble", "members"] == 2 and table.loc["bma", "members"] == 4
    assert table["accuracy_mean"].between(0.05, 1).all()


@pytest.mark.slow
def test_report_contains_every_figure(figures_done):
    html = (figures_done / "report.html").read_text()
    for name in ("fig2", "fig_n_anchors", "fig_width_depth", "fig_ensemble"):
        assert f"{name}.png" in html, name
    for name in ("table1", "table_t_sampling", "table_ensemble"):
        assert f"{name}.csv" in html, name


@pytest.mark.slow
def test_plotting_key_reruns_only_plotting_jobs(figures_done, run_snakemake):
    from conftest import job_counts

    assert "Nothing to be done" in run_snakemake(figures_done, figures_config(), "-n").stdout
    config = figures_config()
    config["figures"]["style"]["dpi"] = 90
    counts = job_counts(run_snakemake(figures_done, config, "-n").stdout)
    assert set(counts) - {"all"} == PLOTTING_RULES
    config = figures_config()
    config["figures"]["n_sweep"]["stars"] = ["main", "n1"]
    counts = job_counts(run_snakemake(figures_done, config, "-n").stdout)
    assert set(counts) - {"all"} == {"fig_n_anchors"}


@pytest.mark.slow
def test_bma_samples_rerun_the_ensemble_job_only(figures_done, run_snakemake):
    from conftest import job_counts

    config = figures_config()
    config["experiments"]["tiny"]["ensemble"]["bma_samples"] = 6
    counts = job_counts(run_snakemake(figures_done, config, "-n").stdout)
    assert set(counts) - {"all"} == {"ensemble", "fig_ensemble"}


def test_table1_pools_star_replicates_and_reports_their_ratio_range():
    rows = []
    for h, value in enumerate((0.4, 0.6)):
        row = dict(experiment="a", kind="regular-regular", alignment="permuted", a="regular-0",
                   b=f"regular-{h + 5}", barrier_loss_train=value, barrier_loss_test=value / 2,
                   loss_train_a=0.1, loss_train_b=0.2, accuracy_test_a=0.9, accuracy_test_b=0.8)  # fmt: skip
        rows.append(row)
        for star, factor in (("star-main", 0.5), ("star-main_r2", 0.3), ("star-n1", 0.9)):
            rows.append(dict(row, kind="star-heldout", a=star, barrier_loss_train=factor * value,
                             barrier_loss_test=factor * value / 2))  # fmt: skip
    designs = pd.DataFrame(
        dict(experiment="a", star=["star-main", "star-main_r2", "star-n1"],
             replicate_of=["main", "main", "n1"])
    )  # fmt: skip
    table = table1.table1(pd.DataFrame(rows), designs).set_index("star")
    assert list(table.index) == ["star-main", "star-n1"]
    main = table.loc["star-main"]
    assert main["n_star_replicates"] == 2 and main["n_star_heldout_pairs"] == 4
    assert main["ratio_barrier_loss_train"] == pytest.approx(0.4)  # (0.5 + 0.3) / 2
    assert main["ratio_barrier_loss_train_replicate_min"] == pytest.approx(0.3)
    assert main["ratio_barrier_loss_train_replicate_max"] == pytest.approx(0.5)
    assert (
        main["ratio_barrier_loss_train_ci_low"] <= 0.4 <= main["ratio_barrier_loss_train_ci_high"]
    )
    assert table.loc["star-n1", "n_star_replicates"] == 1
    text = table1.table1_markdown(table.reset_index())
    assert "0.40 [" in text and "(replicates 0.30–0.50)" in text
    # without designs every star is its own row, as before replicates existed
    assert len(table1.table1(pd.DataFrame(rows))) == 3
