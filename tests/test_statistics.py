"""Table 1's statistics: the model-level interval of the barrier ratio and the one-sided test
(stardomain.inference), model counts and marks (stardomain.table1), and evaluation shortcuts
carried from the config to the tables and figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from stardomain import inference, plots, summary, table1
from stardomain.settings import EvalSettings

from conftest import REPO
from helpers import design_of


def test_contrast_variance_by_hand():
    # star 1 x 3, regular 2 x 3 (anchor 2 = 2 x anchor 1): ratio 1/3; the scaled regular array
    # [[2/3, 4/3, 2], [4/3, 8/3, 4]] has column means equal to the star row, so the held-out
    # contrast D_j is 0; anchor rows: MS = 3 var(4/3, 8/3) = 8/3, residual MS = (4/9) / 2 = 2/9,
    # component (8/3 - 2/9) / (2 x 3) = 11/27; Satterthwaite df = (11/27)^2 / ((4/9)^2 + (1/27)^2/2)
    star, regular = np.array([[1.0, 2.0, 3.0]]), np.array([[2.0, 4.0, 6.0], [4.0, 8.0, 12.0]])
    variance, df = inference.contrast_variance(star, regular, np.array(1 / 3))
    assert variance == pytest.approx(11 / 27)
    assert df == pytest.approx((11 / 27) ** 2 / ((4 / 9) ** 2 + (1 / 27) ** 2 / 2))


def test_interval_recovers_a_known_ratio_and_narrows_with_models():
    rng = np.random.default_rng(0)

    def draw(k, j, r):
        heldout = np.exp(0.3 * rng.standard_normal(j))
        regular = np.exp(0.3 * rng.standard_normal((k, 1))) * heldout
        star = 0.4 * np.exp(0.3 * rng.standard_normal((r, 1))) * heldout
        noise = np.exp(0.2 * rng.standard_normal((k + r, j)))
        return star * noise[k:], regular * noise[:k]

    small = inference.ratio_interval(*draw(3, 4, 3))
    large = inference.ratio_interval(*draw(60, 80, 60))
    assert small["low"] < 0.4 < small["high"]
    assert large["low"] < 0.4 < large["high"] and large["high"] / large["low"] < 1.3
    assert large["high"] / large["low"] < (small["high"] / small["low"]) ** 0.5


def test_a_heldout_effect_shared_by_both_kinds_cancels():
    # every barrier is the held-out model's difficulty x its kind's level: the ratio is exactly
    # 0.5 whichever held-out models are drawn, so resampling models jointly gives zero width
    heldout = np.array([0.1, 0.5, 2.0, 4.0])
    star, regular = 0.5 * heldout[None, :], np.tile(heldout, (3, 1))
    got = inference.ratio_interval(star, regular)
    assert got["ratio"] == pytest.approx(0.5)
    assert got["low"] == pytest.approx(0.5) and got["high"] == pytest.approx(0.5)
    assert inference.log_test(star, regular)["p_value"] < 1e-12


def test_star_seed_spread_widens_the_interval():
    # the same pairs, but the second star seed's row is 3x the first: a seed effect, not noise
    regular = np.array([[1.0, 1.2, 0.9, 1.1], [1.1, 0.8, 1.0, 1.2], [0.9, 1.0, 1.1, 1.0]])
    same = np.array([[0.40, 0.45, 0.35, 0.42], [0.41, 0.44, 0.36, 0.41]])
    apart = same * np.array([[0.5], [1.5]])
    narrow, wide = inference.ratio_interval(same, regular), inference.ratio_interval(apart, regular)
    assert narrow["ratio"] == pytest.approx(wide["ratio"])
    assert wide["high"] / wide["low"] > 2 * narrow["high"] / narrow["low"]


def test_one_heldout_model_gives_no_interval_and_no_test():
    star, regular = np.array([[0.2], [0.3]]), np.array([[0.6], [0.7], [0.5]])
    got = inference.ratio_interval(star, regular)
    assert got["ratio"] == pytest.approx(0.25 / 0.6)
    assert np.isnan(got["low"]) and np.isnan(got["high"])
    assert np.isnan(inference.log_test(star, regular)["p_value"])


def test_log_test_is_the_paired_t_test_with_one_star_and_one_anchor():
    star = np.array([[0.2, 0.35, 0.3, 0.5, 0.25]])
    regular = np.array([[0.6, 0.5, 0.9, 0.7, 0.65]])
    diff = np.log(star[0]) - np.log(regular[0])
    expected = stats.ttest_1samp(diff, 0.0, alternative="less").pvalue
    got = inference.log_test(star, regular)
    assert got["p_value"] == pytest.approx(expected)
    assert got["df"] == pytest.approx(4)
    # the reverse question: the two one-sided p-values add to 1
    assert inference.log_test(regular, star)["p_value"] == pytest.approx(1 - expected)
    # a zero barrier has no logarithm: no test, but the interval stands
    zero = star.copy()
    zero[0, 0] = 0.0
    assert np.isnan(inference.log_test(zero, regular)["p_value"])
    assert np.isfinite(inference.ratio_interval(zero, regular)["high"])


def test_batched_arrays_give_the_same_answers_as_one_at_a_time():
    rng = np.random.default_rng(1)
    star, regular = rng.uniform(0.1, 1, (6, 2, 4)), rng.uniform(0.2, 1, (6, 3, 4))
    batch, test = inference.ratio_interval(star, regular), inference.log_test(star, regular)
    for n in range(6):
        one = inference.ratio_interval(star[n], regular[n])
        assert (one["low"], one["high"]) == pytest.approx((batch["low"][n], batch["high"][n]))
        assert inference.log_test(star[n], regular[n])["p_value"] == pytest.approx(
            test["p_value"][n]
        )


# ---- Table 1 -------------------------------------------------------------------------------------


def _rows(heldout=(5, 6, 7), anchors=(0, 1, 2), replicates=3) -> pd.DataFrame:
    """Permuted pairs of experiment `a`: anchors x held-out regular pairs, star main with its
    replicates and star n1 against every held-out model (barrier = factor x held-out level)."""
    stars = {"star-main": 0.5, "star-main_r2": 0.3, "star-main_r3": 0.4, "star-n1": 0.9}
    stars = {s: f for s, f in stars.items() if s[-1].isalpha() or int(s[-1]) <= replicates}
    rows = []
    for j, h in enumerate(heldout):
        level = 0.4 + 0.1 * j
        base = dict(experiment="a", alignment="permuted", b=f"regular-{h}", loss_train_a=0.1,
                    loss_train_b=0.2, accuracy_test_a=0.9, accuracy_test_b=0.8)  # fmt: skip
        for i, anchor in enumerate(anchors):
            value = level * (1 + 0.1 * i)
            rows.append(dict(base, kind="regular-regular", a=f"regular-{anchor}",
                             barrier_loss_train=value, barrier_loss_test=value / 2))  # fmt: skip
        for star, factor in stars.items():
            value = factor * level * (1 + 0.05 * j * (star == "star-main"))
            rows.append(dict(base, kind="star-heldout", a=star, barrier_loss_train=value,
                             barrier_loss_test=value / 2))  # fmt: skip
    rows.append(dict(rows[0], alignment="naive", barrier_loss_train=9.0))  # never in Table 1
    return pd.DataFrame(rows)


def _designs(label: str = "none") -> pd.DataFrame:
    return pd.DataFrame(
        dict(experiment="a", star=["star-main", "star-main_r2", "star-main_r3", "star-n1"],
             replicate_of=["main", "main", "main", "n1"], eval_shortcuts=label)
    )  # fmt: skip


def test_table1_counts_models_pools_replicates_and_marks_one_star():
    table = table1.table1(_rows(), _designs()).set_index("star")
    assert list(table.index) == ["star-main", "star-n1"]
    main, n1 = table.loc["star-main"], table.loc["star-n1"]
    counts = ("n_heldout_models", "n_pair_anchors", "n_star_replicates")
    assert [main[c] for c in counts] == [3, 3, 3] and [n1[c] for c in counts] == [3, 3, 1]
    assert main["n_star_heldout_pairs"] == 9 and main["n_regular_regular_pairs"] == 9
    assert main["interval_note"] == "none"
    assert n1["interval_note"] == "one star seed: conditional on it"
    for r in (main, n1):
        col = "ratio_barrier_loss_train"
        assert r[f"{col}_ci_low"] <= r[col] <= r[f"{col}_ci_high"]
        assert 0 <= r[f"{col}_p_value"] <= 1
    # n1 is 0.9 x the held-out level against anchors 1.0, 1.1, 1.2 x it: ratio 0.9 / 1.1
    assert n1["ratio_barrier_loss_train"] == pytest.approx(0.9 / 1.1)
    text = table1.table1_markdown(table.reset_index())
    assert "| 3 / 3 / 3 |" in text and "| 3 / 3 / 1 |" in text
    main_line = next(line for line in text.splitlines() if "star-main" in line)
    n1_line = next(line for line in text.splitlines() if "star-n1" in line)
    assert "] (replicates 0.27–0.48)" in main_line and "]†" in n1_line
    assert "† one star seed" in text and "* a factor" not in text and "ˢ" not in text


@pytest.mark.parametrize(
    "layout, note",
    [
        (dict(heldout=(5, 6)), "too few models: 2 held-out models"),
        (dict(anchors=(0, 1)), "too few models: 2 anchors"),
        (dict(replicates=2), "too few models: 2 star seeds"),
    ],
)
def test_table1_marks_factors_with_two_models(layout, note):
    table = table1.table1(_rows(**layout), _designs())
    main = table.set_index("star").loc["star-main"]
    assert main["interval_note"] == note
    text = table1.table1_markdown(table)
    assert "]*" in text and "* a factor estimated from fewer than 3 models" in text


def test_table1_without_a_complete_crossed_design_gives_no_interval():
    rows = _rows()
    rows = rows.drop(rows.index[rows["kind"] == "regular-regular"][0])
    main = table1.table1(rows, _designs()).set_index("star").loc["star-main"]
    assert main["n_regular_regular_pairs"] == 8
    assert np.isnan(main["ratio_barrier_loss_train_ci_low"])
    assert np.isnan(main["ratio_barrier_loss_train_p_value"])
    assert "[n/a]" in table1.table1_markdown(table1.table1(rows, _designs()))


def test_table1_says_which_rows_used_evaluation_shortcuts():
    label = "train_subset=5000, test_subset=5000, bn_batches=20"
    table = table1.table1(_rows(), _designs(label))
    assert set(table["eval_shortcuts"]) == {label}
    text = table1.table1_markdown(table)
    assert text.count("| a ˢ |") == 2
    assert f"a: {label}" in text
    # without design CSVs nothing is claimed
    assert set(table1.table1(_rows())["eval_shortcuts"]) == {"none"}


def test_shortcuts_come_from_the_config_and_reach_the_design_table():
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    cnn = config["experiments"]["fmnist_cnn"]
    assert summary.eval_shortcuts(EvalSettings.of(cnn["eval"])) == dict(
        train_subset=5000, test_subset=5000, bn_batches=20
    )
    design = design_of("fmnist_cnn", cnn)
    assert set(design["eval_shortcuts"]) == {"train_subset=5000, test_subset=5000, bn_batches=20"}
    assert set(design["eval_bn_batches"]) == {20}
    digits = design_of("digits", config["experiments"]["digits"])
    assert set(digits["eval_shortcuts"]) == {"none"} and digits["eval_bn_batches"].isna().all()
    note = plots.shortcut_note({"digits": "none", "fmnist_cnn": "bn_batches=20"})
    assert "fmnist_cnn: bn_batches=20" in note and "digits" not in note
    assert plots.shortcut_note({"digits": "none"}) == ""


def test_an_interval_with_under_two_degrees_of_freedom_is_marked_and_bounded():
    table = table1.table1(_rows(), _designs())
    assert (table["ratio_barrier_loss_train_df"] >= table1.MIN_DF).all()
    assert "‡" not in table1.table1_markdown(table)
    wide = table.assign(
        ratio_barrier_loss_train_df=0.5,
        ratio_barrier_loss_train_ci_low=1e-7,
        ratio_barrier_loss_train_ci_high=2e6,
    )
    text = table1.table1_markdown(wide)
    assert "[< 0.01, > 100]‡" in text and "\n‡ fewer than 1 degree of freedom" in text


def test_held_out_recipes_get_rows_with_their_baselines():
    """A held-out group's rows: its star-held-out pairs against the anchors x group pairs, with
    the baselines within the anchors' recipe and within the group's recipe beside them."""
    rows = _rows().assign(recipe_a="train", recipe_b="train")
    group = rows[rows["kind"] != "regular-regular"].copy()
    group = pd.concat([group, rows[rows["kind"] == "regular-regular"]])
    group["b"] = group["b"].str.replace("regular-", "regular_adam-")
    group["recipe_b"] = "adam"
    group["barrier_loss_train"] *= 2
    within = rows[rows["kind"] == "regular-regular"].assign(
        a=lambda t: t["a"].str.replace("regular-", "regular_adam-1"),
        b=lambda t: t["b"].str.replace("regular-", "regular_adam-"),
        recipe_a="adam",
        recipe_b="adam",
        barrier_loss_train=3.0,
    )
    table = table1.table1(pd.concat([rows, group, within]), _designs()).set_index(
        ["star", "heldout_recipe"]
    )
    main, adam = table.loc[("star-main", "train")], table.loc[("star-main", "adam")]
    assert adam["ratio_barrier_loss_train"] == pytest.approx(main["ratio_barrier_loss_train"])
    assert adam["regular_regular_barrier_loss_train_mean"] == pytest.approx(
        2 * main["regular_regular_barrier_loss_train_mean"]
    )
    assert adam["regular_within_anchors_recipe_barrier_loss_train_mean"] == pytest.approx(
        main["regular_regular_barrier_loss_train_mean"]
    )
    assert adam["regular_within_heldout_recipe_barrier_loss_train_mean"] == 3.0
    assert adam["n_heldout_models"] == 3 and adam["n_star_replicates"] == 3
