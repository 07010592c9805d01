"""The model store: trained models survive reruns, deletions and changed-back keys (docs/reruns.md)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from stardomain.stages import star as star_stage
from stardomain.stages import train as train_stage
from stardomain.stages.star import run_train_star
from stardomain.stages.train import run_train_regular
from stardomain.store import ModelStore

from conftest import tiny_config
from helpers import unit_job, unit_star

STAR = unit_star()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_training(*args, **kwargs):
    raise AssertionError("trained although the model was in the store")


def test_a_stored_model_is_restored_bitwise_instead_of_trained(tmp_path: Path, monkeypatch, capsys):
    out, store = tmp_path / "results/0.pt", tmp_path / "store"
    run_train_regular(str(out), unit_job(0), device="cpu", store=str(store))
    trained = sha256(out)
    (entry,) = store.rglob("*.pt")
    assert entry.stat().st_ino == out.stat().st_ino  # a hard link: no extra disk
    meta = json.loads(entry.with_suffix(".json").read_text())
    assert meta["sha256"] == trained and meta["provenance"]["seed"] == 0

    shutil.rmtree(tmp_path / "results")  # what Snakemake does before a rerun, or a user's rm -r
    monkeypatch.setattr(train_stage, "train_regular", no_training)
    run_train_regular(str(out), unit_job(0), device="cpu", store=str(store))
    assert sha256(out) == trained
    assert "restored from store" in capsys.readouterr().err


def test_other_settings_or_seed_are_not_restored(tmp_path: Path, monkeypatch):
    store = str(tmp_path / "store")
    run_train_regular(str(tmp_path / "a.pt"), unit_job(0), device="cpu", store=store)
    monkeypatch.setattr(train_stage, "train_regular", no_training)
    for job in [unit_job(0, lr=0.04), unit_job(1)]:
        with pytest.raises(AssertionError, match="trained although"):
            run_train_regular(str(tmp_path / "b.pt"), job, device="cpu", store=store)


def test_an_entry_changed_in_place_is_ignored_and_replaced(tmp_path: Path, capsys):
    out, store = tmp_path / "0.pt", tmp_path / "store"
    run_train_regular(str(out), unit_job(0), device="cpu", store=str(store))
    trained = sha256(out)
    (entry,) = store.rglob("*.pt")
    with open(out, "r+b") as f:  # writing into the result file also writes into its entry
        f.seek(100)
        f.write(b"garbage")
    out.unlink()
    run_train_regular(str(out), unit_job(0), device="cpu", store=str(store))
    assert "content changed since it was stored; ignored" in capsys.readouterr().err
    assert sha256(out) == trained == sha256(entry)  # retrained, deterministic, stored again


def test_a_star_key_digests_its_anchors_bytes(tmp_path: Path, monkeypatch):
    store = str(tmp_path / "store")
    anchors = [str(tmp_path / f"anchor{s}.pt") for s in (0, 1)]
    for seed, path in enumerate(anchors):
        run_train_regular(path, unit_job(seed), device="cpu")
    out = tmp_path / "star.pt"
    run_train_star(str(out), anchors, STAR, device="cpu", store=store)
    star = sha256(out)
    out.unlink()
    monkeypatch.setattr(star_stage, "train_star", no_training)
    run_train_star(str(out), anchors, STAR, device="cpu", store=store)
    assert sha256(out) == star
    # an anchor retrained with other settings, same path: the star must be trained again
    run_train_regular(anchors[1], unit_job(1, lr=0.04), "cpu")
    with pytest.raises(AssertionError, match="trained although"):
        run_train_star(str(out), anchors, STAR, device="cpu", store=store)


def test_copies_where_hard_links_fail_and_nothing_when_off(tmp_path: Path, monkeypatch):
    def no_links(*args):
        raise OSError("cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    out, store = tmp_path / "0.pt", tmp_path / "store"
    run_train_regular(str(out), unit_job(0), device="cpu", store=str(store))
    (entry,) = store.rglob("*.pt")
    assert entry.stat().st_ino != out.stat().st_ino and sha256(entry) == sha256(out)
    assert ModelStore.open(None) is None and ModelStore.open("") is None
    run_train_regular(str(tmp_path / "off.pt"), unit_job(0), device="cpu", store=None)
    assert len(list(store.rglob("*.pt"))) == 1


@pytest.mark.slow
def test_reruns_and_deleted_results_restore_models_without_training(tmp_path: Path, run_snakemake):
    """Change lr and back, then delete every result: the models come back from the store."""
    run_snakemake(tmp_path, tiny_config())
    models = sorted((tmp_path / "results/tiny").glob("*/*.pt"))
    models = [p for p in models if p.parent.name in ("regular", "star")]  # perms record timings
    first = {p: sha256(p) for p in models}
    barriers = (tmp_path / "results/tiny/barriers.csv").read_text()

    target = "results/tiny/regular/0.pt"
    changed = tiny_config()
    changed["experiments"]["tiny"]["train"]["lr"] = 0.04
    run_snakemake(tmp_path, changed, target)  # a rerun replaces the model file...
    assert sha256(tmp_path / target) != first[tmp_path / target]
    run_snakemake(tmp_path, tiny_config(), target)  # ...and changing the key back restores it
    assert sha256(tmp_path / target) == first[tmp_path / target]
    assert "restored from store" in (tmp_path / "logs/tiny/regular/0.log").read_text()

    shutil.rmtree(tmp_path / "results")
    run_snakemake(tmp_path, tiny_config())
    assert {p: sha256(p) for p in models} == first
    for log in (tmp_path / "logs/tiny").glob("*/*.log"):
        if log.parent.name in ("regular", "star"):
            assert "restored from store" in log.read_text(), log
    assert (tmp_path / "results/tiny/barriers.csv").read_text() == barriers
