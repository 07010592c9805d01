"""The model store: trained models survive reruns, deletions and changed-back keys (docs/reruns.md)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from stardomain import io
from stardomain.stages import star as star_stage
from stardomain.stages import train as train_stage
from stardomain.stages.common import load_state
from stardomain.stages.star import run_train_star
from stardomain.stages.train import run_train_regular
from stardomain.store import ModelStore

from conftest import tiny_config
from helpers import unit_job, unit_star

STAR = unit_star()  # a star of anchors regular-0 and regular-1


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_training(*args, **kwargs):
    raise AssertionError("trained although the model was in the store")


def test_a_stored_model_is_restored_bitwise_instead_of_trained(tmp_path: Path, monkeypatch, capsys):
    out, store = tmp_path / "results/0.pt", tmp_path / "store"
    run_train_regular(str(out), unit_job(0), device="cpu", store=str(store))
    trained = sha256(out)
    (entry,) = store.rglob("*.pt")
    assert entry.stat().st_ino != out.stat().st_ino  # a copy: nothing done to out reaches it
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
    entry.chmod(0o644)  # read-only: only its owner after a chmod (or root) can write into it
    with open(entry, "r+b") as f:
        f.seek(100)
        f.write(b"garbage")
    out.unlink()
    run_train_regular(str(out), unit_job(0), device="cpu", store=str(store))
    assert "content changed since it was stored; ignored" in capsys.readouterr().err
    assert sha256(out) == trained == sha256(entry)  # retrained, deterministic, stored again


def test_a_copy_over_a_result_changes_no_entry_and_is_refused_where_read(tmp_path: Path):
    """`cp 1.pt 0.pt` writes seed 1's bytes into 0.pt's inode: the store's seed 0 keeps its
    bytes, and a job reading 0.pt as regular-0 refuses it, naming both models."""
    store = tmp_path / "store"
    paths = [tmp_path / f"results/{seed}.pt" for seed in (0, 1)]
    for seed, path in enumerate(paths):
        run_train_regular(str(path), unit_job(seed), device="cpu", store=str(store))
    entries = {
        json.loads(p.read_text())["provenance"]["seed"]: p.with_suffix(".pt")
        for p in store.rglob("*.json")
    }
    seed0 = sha256(entries[0])
    assert seed0 == sha256(paths[0])
    with open(paths[1], "rb") as src, open(paths[0], "r+b") as dst:  # what cp does: same inode
        dst.truncate(0)
        shutil.copyfileobj(src, dst)
    assert sha256(paths[0]) == sha256(paths[1])
    assert sha256(entries[0]) == seed0  # the store's seed 0 is untouched
    with pytest.raises(io.FileFormatError) as err:
        load_state(str(paths[0]), None, "cpu", "regular-0")
    assert (
        f"{paths[0]}: holds the regular model of seed 1 (its provenance), but this job reads it "
        "as regular-0;" in str(err.value)
    )
    assert load_state(str(paths[1]), None, "cpu", "regular-1").keys()  # the right one loads


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_get_the_mode_the_umask_allows_and_entries_are_read_only(tmp_path: Path, umask):
    old = os.umask(umask)
    try:
        out, store = tmp_path / "results/0.pt", tmp_path / "store"
        run_train_regular(str(out), unit_job(0), device="cpu", store=str(store))
        with io.atomic_path(tmp_path / "figures/table.csv") as tmp:
            tmp.write_text("a\n1\n")
        out.unlink()
        run_train_regular(str(out), unit_job(0), device="cpu", store=str(store))
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "figures/table.csv") == 0o666 & ~umask
    assert mode(out) == 0o666 & ~umask  # restored from the store: a normal, writable file
    (entry,) = store.rglob("*.pt")
    assert mode(entry) == mode(entry.with_suffix(".json")) == 0o444 & ~umask


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
    # an anchor with other bytes, same path and settings (retrained on another machine, say):
    # the star must be trained again
    obj = io.load_model(anchors[1])
    state = {k: v + 1e-3 if v.is_floating_point() else v for k, v in obj["state"].items()}
    io.save_model(anchors[1], state, obj["arch"], obj["provenance"], obj["metrics"])
    with pytest.raises(AssertionError, match="trained although"):
        run_train_star(str(out), anchors, STAR, device="cpu", store=store)
    # an anchor retrained with other settings than the star's recipe: refused before anything
    run_train_regular(anchors[1], unit_job(1, lr=0.04), "cpu")
    with pytest.raises(io.FileFormatError, match=r"regular-1 \(recipe.lr: 0.04 in the file"):
        run_train_star(str(out), anchors, STAR, device="cpu", store=store)


def test_copies_where_reflinks_fail_and_nothing_when_off(tmp_path: Path, monkeypatch):
    def no_reflinks(*args):
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(fcntl, "ioctl", no_reflinks)
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


@pytest.mark.slow
def test_a_result_copied_over_another_is_refused_and_the_store_keeps_its_model(
    tmp_path: Path, run_snakemake
):
    """Real Snakemake and cp: `cp results/tiny/regular/1.pt results/tiny/regular/0.pt` makes the
    star rerun (its anchor is newer); the star job refuses the file naming both models, the store
    keeps seed 0, and removing the copy restores seed 0 from the store."""
    target = "results/tiny/star/main.pt"
    run_snakemake(tmp_path, tiny_config(), target)
    regular = tmp_path / "results/tiny/regular"
    seed0 = sha256(regular / "0.pt")
    subprocess.run(["cp", str(regular / "1.pt"), str(regular / "0.pt")], check=True)
    proc = run_snakemake(tmp_path, tiny_config(), target, check=False)
    assert proc.returncode != 0
    log = (tmp_path / "logs/tiny/star/main.log").read_text()
    assert (
        "results/tiny/regular/0.pt: holds the regular model of seed 1 (its provenance), but this "
        "job reads it as regular-0;" in log.splitlines()[-1]
    ), log[-2000:]
    entries = [json.loads(p.read_text()) for p in (tmp_path / "store").rglob("*.json")]
    (entry,) = [e for e in entries if e["provenance"]["role"] == "regular"
                and e["provenance"]["seed"] == 0]  # fmt: skip
    assert entry["sha256"] == seed0
    assert sha256(tmp_path / "store" / entry["key"][:2] / f"{entry['key']}.pt") == seed0
    (regular / "0.pt").unlink()
    run_snakemake(tmp_path, tiny_config(), target)
    assert sha256(regular / "0.pt") == seed0
    assert "restored from store" in (tmp_path / "logs/tiny/regular/0.log").read_text()


def test_a_star_copied_over_another_is_refused_by_the_pairs_that_read_it(tmp_path: Path):
    """Real Snakemake: two stars of one experiment differ only in t sampling. `cp beta.pt
    main.pt` passes the role check (both are stars); the pair jobs that read main.pt compare the
    file's settings with the config's for star-main and refuse it, naming the key."""
    from conftest import snakemake

    config = tiny_config()
    config["experiments"]["tiny"]["stars"] = {"main": {"epochs": 2},
                                              "beta": {"epochs": 2, "t_sampling": "beta"}}  # fmt: skip
    snakemake(tmp_path, config)
    stars = tmp_path / "results/tiny/star"
    before = {p.name: sha256(p) for p in (tmp_path / "results/tiny/curves").rglob("*.csv")}
    shutil.copyfile(stars / "beta.pt", stars / "main.pt")  # a new file with a new time
    proc = snakemake(tmp_path, config, "--keep-going", check=False)
    assert proc.returncode != 0
    logs = "".join(p.read_text() for p in (tmp_path / "logs/tiny").rglob("star-main~*.log"))
    assert (
        "made with other settings than the config gives star-main (star.t_sampling: 'beta' in "
        "the file, 'uniform' expected)" in logs
    ), logs[-3000:]
    after = {p.name: sha256(p) for p in (tmp_path / "results/tiny/curves").rglob("*.csv")}
    assert {n: after.get(n) for n in before if "star-beta" in n} == {
        n: h for n, h in before.items() if "star-beta" in n
    }  # the other star's pairs are untouched
    assert not any(after.get(n) != h for n, h in before.items() if "star-main" in n and n in after)
