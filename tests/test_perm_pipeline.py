"""Alignment stage end to end (stages.pairs.run_align -> run_curve) with both matchers, on digits."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from stardomain import io
from stardomain.data import load_data
from stardomain.design import Pair
from stardomain.jobs import CurveJob
from stardomain.models import build_model
from stardomain.perm import MATCHERS
from stardomain.settings import AlignSettings, DataSettings, EvalSettings, ModelSettings
from stardomain.stages.common import arch_of
from stardomain.stages.pairs import run_align, run_curve

from conftest import assert_cases_cover

DATA = DataSettings.of({"name": "digits", "test_fraction": 0.2, "split_seed": 0})
MODEL = ModelSettings.of({"name": "mlp", "width": 8, "depth": 2, "batchnorm": True})
EVAL = EvalSettings(grid=(0.0, 0.5, 1.0), batch_size=512, bn_batch_size=128, bn_batches=2, seed=0)


def write_models(tmp_path) -> list[str]:
    """Two MLPs with BN (random init, non-trivial running statistics) as model files."""
    data = load_data(DATA)
    paths = []
    for seed in (1, 2):
        model = build_model(MODEL, data.in_shape, data.num_classes, seed)
        model.train()
        with torch.no_grad():
            model(data.train.x[:256])  # running statistics away from (0, 1)
        path = str(tmp_path / f"{seed}.pt")
        provenance = {"settings": {"experiment": "t"}, "role": "regular", "seed": seed}
        io.save_model(path, model.state_dict(), arch_of(MODEL, data), provenance, [])
        paths.append(path)
    return paths


MATCHER_CASES = ["weight_matching", "rebasin"]


def test_every_matcher_has_a_case():
    assert_cases_cover(MATCHERS, MATCHER_CASES, "stardomain.perm.MATCHERS", "MATCHER_CASES")


@pytest.mark.parametrize("matcher", MATCHER_CASES)
def test_align_then_curve_records_matcher_and_sanity_figures(tmp_path, matcher):
    if matcher == "rebasin":
        pytest.importorskip("rebasin")
    a, b = write_models(tmp_path)
    align = AlignSettings(matcher=matcher, max_iter=100, seed=0, bn_batch_size=128)
    perm_path = str(tmp_path / "perm.pt")
    job = CurveJob(data=DATA, model=MODEL, evaluation=EVAL, align=align)
    run_align(perm_path, a, b, job, "cpu")
    info = io.load_perm(perm_path)["info"]
    assert info["matcher"] == matcher
    assert info["fraction_moved"] > 0.5
    if matcher == "weight_matching":
        assert info["max_abs_output_change"] < 1e-5  # BN statistics permuted exactly
    else:
        assert info["max_abs_output_change"] > 1e-4  # BN statistics re-estimated: a new function
    pair = Pair(kind="regular-regular", alignment="permuted", a="regular-1", b="regular-2")
    out = tmp_path / "curve.csv", tmp_path / "barrier.csv"
    run_curve(*map(str, out), a, b, job, "t", pair, "cpu", perm_path=perm_path)
    row = pd.read_csv(out[1]).iloc[0]
    assert row["matcher"] == matcher
    assert row["fraction_moved"] == pytest.approx(info["fraction_moved"])
    assert row["max_abs_output_change"] == pytest.approx(info["max_abs_output_change"])
