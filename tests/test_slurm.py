"""The SLURM profile against a real SLURM: `snakemake --profile slurm all` from a repository root.

`test_profile_dry_run` needs no cluster: the literal command resolves the `slurm` link, and every
heavy rule asks for one GPU. `test_tiny_experiment_through_slurm` stands up slurmctld, slurmd and
munged on localhost (tests/slurm/start.sh: no systemd, partition `test`, two fake A100s through GRES),
runs a small experiment through the profile and checks that every heavy job went through sbatch with
one GPU and that the results equal a local run's. It needs root and Debian's slurmctld, slurmd, munge
and slurm-client (.ci/run installs them) and is skipped, with the reason, without them.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import REPO, snakemake, tiny_config

pytestmark = pytest.mark.slow

HEAVY = ("train_regular", "train_star", "align_interpolate", "interpolate", "ensemble")
# Test overrides on top of the profile: no accounting daemon here, so track jobs with squeue and
# submit without an account; poll every 2 s, not 40; keep the SLURM logs of successful jobs as the
# evidence of what each job ran; 2 pairs per group job so that both fake GPUs are used; one core
# for the submitting Snakemake, so that a star's CPUs must come from the profile's cpus_per_task
# (Snakemake would lower its threads to 1) and reach the job through set-threads.
OVERRIDES = (
    "--cores", "1",
    "--slurm-status-command", "squeue",
    "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks", "2",
    "--slurm-keep-successful-logs",
    "--group-components", "pairs=2",
)  # fmt: skip


def repo_root_copy(dest: Path, config: dict) -> Path:
    """A folder that looks like the repository root (links to the workflow, profiles and the
    `slurm` link) with `config` as its config.yaml, so the literal command can run in it."""
    dest.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "profiles", "slurm"):
        (dest / name).symlink_to(REPO / name)
    (dest / "config.yaml").write_text(yaml.safe_dump(config))
    return dest


def literal(*args: str, cwd: Path, env: dict, timeout: int) -> subprocess.CompletedProcess:
    """`snakemake *args` in `cwd`, killed (`timeout -k`) if it hangs past `timeout` seconds."""
    exe = shutil.which("snakemake") or f"{sys.executable} -m snakemake"
    cmd = ["timeout", "-k", "10", str(timeout), *exe.split(), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)


def job_stats(output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's "Job stats" table."""
    table = output.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_profile_dry_run(tmp_path):
    """`snakemake --profile slurm -n all` on the digits default: GPUs, runtimes, groups."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    work = repo_root_copy(tmp_path / "root", config)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = literal("--profile", "slurm", "-n", "all", cwd=work, env=env, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Using profiles slurm" in out
    stats = job_stats(out)
    resources = dict(re.findall(r"^\s*rule (\w+):.*?resources: ([^\n]*)", out, re.M | re.S))
    for rule in HEAVY:
        assert "gpu=1" in resources[rule] and "gpu_model=a100" in resources[rule], rule
    assert "runtime=120" in resources["train_regular"]  # attempt 1 of 120 minutes x attempt
    assert all("slurm_partition" not in r for r in resources.values())  # the plugin chooses
    groups = out.count("Group job pairs")
    local = sum(n for rule, n in stats.items() if rule not in HEAVY)
    sbatch = stats["train_regular"] + stats["train_star"] + stats["ensemble"] + groups
    print(f"digits default: {sum(stats.values())} jobs, {sbatch} SLURM submissions "
          f"({groups} group jobs of pairs), {local} local")  # fmt: skip
    # one job per connected piece: a naive curve, or a permuted pair's alignment and curve
    pieces = stats["interpolate"] + stats["align_interpolate"]
    assert groups == -(-pieces // 10)  # pieces, 10 to a group job


def rule_resources(output: str) -> dict[str, list[str]]:
    """Rule -> the `resources:` line of each of its jobs, from a dry run's job listing."""
    found: dict[str, list[str]] = {}
    for m in re.finditer(r"^\s*rule (\w+):.*?resources: ([^\n]*)", output, re.M | re.S):
        found.setdefault(m[1], []).append(m[2])
    return found


def test_user_profile_is_not_overridden_by_the_workflow_profile(tmp_path):
    """Snakemake reads profiles/default next to any --profile and lets it win key by key; its
    keys (cores, ...) must apply only when no profile is given. A user profile's `cores: 1`
    lowers a star's 2 threads to 1; the workflow profile's `cores: all` would have kept 2."""
    config = tiny_config()
    work = repo_root_copy(tmp_path / "root", config)
    user = tmp_path / "site"
    user.mkdir()
    (user / "config.yaml").write_text("cores: 1\nset-threads: {train_star: 2}\n")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    target = "results/tiny/star/main.pt"
    for flags in (["--profile", str(user)], [f"--profile={user}"]):
        proc = literal(*flags, "-n", target, cwd=work, env=env, timeout=300)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out
        star = out[out.index("rule train_star:") :].split("\n\n")[0]
        assert "threads: 2" not in star, star  # cores 1 held (1 thread is not printed)
    # without a profile, the workflow profile's cores (all) let the star have its 2 threads
    proc = literal("--set-threads", "train_star=2", "-n", "--", target, cwd=work, env=env,
                   timeout=300)  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    if (os.cpu_count() or 1) >= 2:
        assert "threads: 2" in out[out.index("rule train_star:") :], out


def test_resources_per_rule_and_experiment_from_the_config(tmp_path):
    """Runtime, memory, partition and account come from config.yaml's `resources:` (per rule) and
    an experiment's own `resources:` (per experiment), through the unedited profile; no partition
    is forced: without one set anywhere, the plugin chooses."""
    config = tiny_config()
    config["experiments"]["big"] = copy.deepcopy(config["experiments"]["tiny"])
    config["all"] = ["tiny", "big"]
    config["resources"] = {"runtime": {"train_regular": 45}, "slurm_account": {"train_star": "lab"}}
    config["experiments"]["big"]["resources"] = {
        "runtime": {"train_regular": 1440, "align_interpolate": 300},
        "mem_mb": {"train_regular": 64000},
        "slurm_partition": {"train_regular": "long"},
    }
    work = repo_root_copy(tmp_path / "root", config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STARDOMAIN_SLURM")}
    env["PYTHONPATH"] = str(REPO / "src")
    proc = literal("--profile", "slurm", "-n", "all", cwd=work, env=env, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    jobs = rule_resources(out)
    tiny = [r for r in jobs["train_regular"] if "runtime=45," in r]
    big = [r for r in jobs["train_regular"] if "runtime=1440," in r]
    assert len(tiny) == len(big) == 4, jobs["train_regular"]
    assert all("mem_mb=16000," in r and "slurm_partition" not in r for r in tiny), tiny
    assert all("mem_mb=64000," in r and "slurm_partition=long" in r for r in big), big
    assert all("slurm_account=lab" in r and "runtime=360," in r for r in jobs["train_star"])
    assert {r.count("runtime=300,") for r in jobs["align_interpolate"]} == {0, 1}
    # a site's partition applies where the config names none
    env["STARDOMAIN_SLURM_PARTITION"] = "gpu_small"
    proc = literal("--profile", "slurm", "-n", "all", cwd=work, env=env, timeout=300)
    jobs = rule_resources(proc.stdout + proc.stderr)
    parts = [re.search(r"slurm_partition=(\w+)", r)[1] for r in jobs["train_regular"]]
    assert sorted(parts) == ["gpu_small"] * 4 + ["long"] * 4, parts


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """A running single-node SLURM (tests/slurm/start.sh); yields its scratch folder."""
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        pytest.skip("SLURM not installed (apt-get install slurmctld slurmd munge slurm-client)")
    if os.geteuid() != 0:
        pytest.skip("starting munged, slurmctld and slurmd needs root")
    conf = Path("/etc/slurm/slurm.conf")
    if conf.exists() and "# stardomain test cluster" not in conf.read_text():
        pytest.skip(f"{conf} belongs to a real cluster; not replacing it")
    scratch = tmp_path_factory.mktemp("slurm")
    start = ["timeout", "-k", "5", "120", str(REPO / "tests/slurm/start.sh"), str(scratch)]
    proc = subprocess.run(start, capture_output=True, text=True)
    try:
        assert proc.returncode == 0, f"SLURM did not start:\n{proc.stdout}\n{proc.stderr}"
        yield scratch
    finally:
        subprocess.run(
            ["timeout", "-k", "5", "60", str(REPO / "tests/slurm/stop.sh"), str(scratch)]
        )


def slurm_jobs() -> list[dict[str, str]]:
    """Every job slurmctld knows (finished ones stay for MinJobAge), as `scontrol show job` fields."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True).stdout
    return [
        dict(re.findall(r"(\w+)=(\S*)", line))
        for line in out.splitlines()
        if line.startswith("JobId=")
    ]


def test_tiny_experiment_through_slurm(slurm_cluster, tmp_path):
    # 3 regular models (2 anchors, 1 held-out), 1 star: 5 curves, 3 alignments
    config = tiny_config()
    exp = config["experiments"]["tiny"]
    exp.update(seeds=[0, 1, 2], n_anchors=2, n_heldout=1)
    exp["resources"] = {"runtime": {"train_regular": 7}}  # minutes: an experiment's own limit
    work = repo_root_copy(tmp_path / "cluster", config)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), STARDOMAIN_SLURM_PARTITION="test")
    env["STARDOMAIN_STAR_CPUS"] = "2"  # the test node's CPUs (the profile's default is 8)
    before = {job["JobId"] for job in slurm_jobs()}

    # the local reference run shares the CPUs while the cluster run mostly waits on status polls
    start = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        local_run = pool.submit(snakemake, tmp_path / "local", config)
        proc = literal("--profile", "slurm", "all", *OVERRIDES, cwd=work, env=env, timeout=480)
        local_run.result()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    print(f"local and SLURM runs: {time.monotonic() - start:.0f} s")

    jobs = [job for job in slurm_jobs() if job["JobId"] not in before]
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", out)
    assert sorted(submitted) == sorted(job["JobId"] for job in jobs)
    for job in jobs:
        assert job["JobState"] == "COMPLETED" and job["Partition"] == "test", job
        assert job["TresPerJob"] == "gres:gpu:a100:1", job  # one GPU of the profile's model
    train = next(job for job in jobs if job["Comment"].startswith("rule_train_regular"))
    star = next(job for job in jobs if job["Comment"].startswith("rule_train_star"))
    assert star["NumCPUs"] == "2" and train["NumCPUs"] == "1", (star, train)
    star_log = (work / "logs/tiny/star/main.log").read_text()
    assert "2 anchors, re-aligned 2 at a time" in star_log, star_log[:2000]
    # runtime from the config: the experiment's 7 minutes, the star's default 6 hours
    assert train["TimeLimit"] == "00:07:00" and star["TimeLimit"] == "06:00:00", (train, star)
    # the fake GPU: SLURM hands the job a device torch cannot use; the log says so, loudly
    train_log = (work / "logs/tiny/regular/0.log").read_text()
    assert "WARNING: device: auto fell back to the CPU, but this job was given a GPU" in train_log
    print(f"{len(jobs)} sbatch submissions; GPU request of SLURM job {train['JobId']} "
          f"({train['Comment']}): TresPerJob={train['TresPerJob']}; star job {star['JobId']}: "
          f"NumCPUs={star['NumCPUs']}, its log: '2 anchors, re-aligned 2 at a time'")  # fmt: skip

    # Every heavy output was written inside a SLURM job: the job logs list what each job ran.
    logs = "".join(p.read_text() for p in (work / ".snakemake/slurm_logs").rglob("*.log"))
    in_slurm = {f for m in re.finditer(r"^\s*output: (.*)$", logs, re.M) for f in m[1].split(", ")}
    heavy = {
        str(p.relative_to(tmp_path / "local"))
        for p in (tmp_path / "local/results").rglob("*")
        if p.is_file() and p.name not in ("barriers.csv", "curves.csv", "design.csv")
    }  # the per-experiment tables are local rules
    assert heavy and heavy <= in_slurm, sorted(heavy - in_slurm)
    stats = job_stats(out)
    assert len(jobs) < sum(stats.get(rule, 0) for rule in HEAVY)  # pairs were grouped

    # Same numbers as the local run (deterministic on CPU).
    for name in ("barriers.csv", "curves.csv"):
        local = (tmp_path / "local/results/tiny" / name).read_text()
        assert (work / "results/tiny" / name).read_text() == local, name
    assert (work / "figures/table1.csv").read_text() == (
        tmp_path / "local/figures/table1.csv"
    ).read_text()


def test_imagenet_jobs_get_their_loader_cpus_through_slurm(slurm_cluster, tmp_path):
    """ImageNet is decoded on the host: every job asks for 1 + data.workers CPUs, grouped pairs too.

    Run with `--cores 1` (OVERRIDES), so a request from threads alone would be lowered to 1.
    """
    from fake_data import write_imagefolder_smooth

    config = tiny_config()
    exp = config["experiments"]["tiny"]
    exp.update(seeds=[0, 1, 2], n_anchors=2, n_heldout=1)
    exp["data"] = dict(name="imagenet", root="tree", workers=1)  # 1 + 1 = 2 CPUs, the node's all
    exp["model"] = dict(name="mlp", width=4, depth=1)  # 3 x 224 x 224 inputs -> 4 -> 2 classes
    exp["train"].update(epochs=1, batch_size=4)
    exp["stars"]["main"]["epochs"] = 1
    work = repo_root_copy(tmp_path / "cluster", config)
    write_imagefolder_smooth(work / "tree", classes=2, per_class=(3, 1))
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), STARDOMAIN_SLURM_PARTITION="test")
    env["STARDOMAIN_STAR_CPUS"] = "2"
    before = {job["JobId"] for job in slurm_jobs()}
    proc = literal("--profile", "slurm", "all", *OVERRIDES, cwd=work, env=env, timeout=480)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    jobs = [job for job in slurm_jobs() if job["JobId"] not in before]
    kinds = {job["Comment"].split("_wildcards")[0] for job in jobs}
    assert {"rule_train_regular", "rule_train_star"} <= kinds and len(kinds) > 2, kinds  # + groups
    cpus = {(job["Comment"][:40], job["NumCPUs"]) for job in jobs}
    assert all(job["NumCPUs"] == "2" for job in jobs), sorted(cpus)
    print(f"{len(jobs)} sbatch submissions of an ImageNet-format experiment (data.workers 1), each "
          f"with NumCPUs=2: {sorted(kinds)}")  # fmt: skip
