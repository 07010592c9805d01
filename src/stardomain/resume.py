"""Resumable training: a side file beside a model file, rewritten at the end of every epoch.

A cluster job can be stopped at any time (time limit, preemption: SLURM sends SIGTERM, then SIGKILL).
Training and Starlight therefore save, after every completed epoch, everything the next epoch reads:
model state, optimizer state (momentum buffers, lr), scheduler state, the shuffling generator of the
batches, the global torch RNG states (CPU and CUDA), fp16's loss scaler and any loop-specific extras
(Starlight: its numpy generator for anchor and t draws, the anchors' permutations). A restarted job
loads it and continues at the next epoch; on CPU the result is bitwise equal to an uninterrupted run
(tests/test_resume.py).

The side file is `<model file>.resume` (not `*.pt`, so a glob for model files never finds it),
written atomically (`io.save_torch`): a kill during the write leaves the previous epoch's file. It
carries a key (the run's provenance: settings, seed, factory source, numerics version): a side file left by a run with
other settings is ignored, never resumed. The model file itself is written only at the end, and the
side file is then removed.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from stardomain import io
from stardomain.provenance import NUMERICS_VERSION

RESUME_FORMAT = "stardomain.resume/1"


def order_generator(batches) -> torch.Generator | None:
    """The generator behind an epoch's batch order and augmentation draws, or None.

    `batches` is an in-memory `Batches` or a `stardomain.data.torch_dataset.DatasetBatches`
    (their `generator`), a loader wrapping a torch DataLoader (`loader.generator`, which also
    seeds the DataLoader's workers), or any re-iterable of a user's dataset (a list of batches, a
    loader of one's own): None, nothing to save, and a resumed run is as deterministic as the
    iterable itself (torch's global generator is restored in any case).
    """
    if isinstance(getattr(batches, "generator", None), torch.Generator):
        return batches.generator
    loader = getattr(batches, "loader", None)
    if isinstance(getattr(loader, "generator", None), torch.Generator):
        return loader.generator
    return None


@dataclass
class ResumeFile:
    """Where a training loop keeps its per-epoch state, and which run the state belongs to."""

    path: Path
    key: str  # canonical JSON of what produced the run; another key means another run

    @classmethod
    def beside(cls, out: str | os.PathLike, key: dict) -> ResumeFile:
        """The side file of model file `out`, for the run described by `key` (its provenance)."""
        return cls(Path(f"{out}.resume"), json.dumps(key, sort_keys=True, default=str))

    def save(
        self, epoch: int, history: list, model, opt, sched, batches, extra=None, scaler=None
    ) -> None:
        """Record the state after `epoch` completed epochs (the next run starts at `epoch`).

        `scaler`: fp16's GradScaler, if any; its state goes into the extras as `scaler`.
        """
        extra = dict(extra or {})
        generator = order_generator(batches)
        if scaler is not None:
            extra["scaler"] = scaler.state_dict()
        io.save_torch(
            dict(
                format=RESUME_FORMAT,
                key=self.key,
                epoch=epoch,
                history=history,
                model=model.state_dict(),
                optimizer=opt.state_dict(),
                scheduler=sched.state_dict(),
                batches_rng=None if generator is None else generator.get_state(),
                torch_rng=torch.get_rng_state(),
                cuda_rng=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                extra=extra,
            ),
            self.path,
        )

    def restore(self, model, opt, sched, batches, scaler=None) -> tuple[int, list, dict]:
        """Load the side file into the given objects; returns (next epoch, history, extras).

        Returns (0, [], {}) when there is nothing to resume: no side file, an unreadable one, or
        one written by a run with another key (the reason goes to stderr, i.e. the job's log).
        `scaler`: fp16's GradScaler, if any, given the saved one's state.
        """
        state = self._load()
        if state is None:
            return 0, [], {}
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])  # moves the momentum buffers to the params' device
        sched.load_state_dict(state["scheduler"])
        if scaler is not None and "scaler" in state["extra"]:
            scaler.load_state_dict(state["extra"]["scaler"])
        generator = order_generator(batches)
        if generator is not None and state["batches_rng"] is not None:
            generator.set_state(state["batches_rng"])
        torch.set_rng_state(state["torch_rng"])
        # CUDA states only when resuming on as many GPUs; a CPU restart of a GPU run still resumes
        if state["cuda_rng"] and len(state["cuda_rng"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        print(f"{self.path}: resuming at epoch {state['epoch']}", file=sys.stderr)
        return state["epoch"], state["history"], state["extra"]

    def _load(self) -> dict | None:
        """The side file's content if it belongs to this run, else None (reason on stderr)."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many types for truncated or foreign files
            reason = f"unreadable ({err})"
        else:
            if isinstance(state, dict) and state.get("format") == RESUME_FORMAT:
                if state["key"] == self.key:
                    return state
                reason = "left by a run with other settings"
            else:
                reason = f"not a {RESUME_FORMAT} file"
        print(f"{self.path}: {reason}; starting from epoch 0", file=sys.stderr)
        return None

    def remove(self) -> None:
        """Delete the side file (after the model file has been written)."""
        self.path.unlink(missing_ok=True)


@dataclass
class PointsFile:
    """Finished grid points of an interpolation curve (`barrier.curve`), beside its output.

    A curve job evaluates one t after another; each finished t is appended here (JSON rows,
    rewritten atomically), so a job stopped at its time limit continues at the next t when it is
    resubmitted, and the curve equals an uninterrupted one (each t is evaluated on its own). The
    key names the run (settings, pair, the models' sha256); a file with another key is ignored.
    """

    path: Path
    key: str

    @classmethod
    def beside(cls, out: str | os.PathLike, key: dict) -> PointsFile:
        """The side file `<out>.resume` of curve file `out`, for the run described by `key`."""
        key = {**key, "numerics": NUMERICS_VERSION}
        return cls(Path(f"{out}.resume"), json.dumps(key, sort_keys=True, default=str))

    def load(self) -> list[dict]:
        """Rows of the points finished by an earlier run of this key (else [])."""
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(state, dict) or state.get("key") != self.key:
            print(
                f"{self.path}: left by a run with other settings; starting at t = 0",
                file=sys.stderr,
            )
            return []
        rows = state["rows"]
        print(
            f"{self.path}: resuming after {len({r['t'] for r in rows})} finished t", file=sys.stderr
        )
        return rows

    def save(self, rows: list[dict]) -> None:
        """Record the rows of every point finished so far."""
        with io.atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps(dict(key=self.key, rows=rows)))

    def remove(self) -> None:
        """Delete the side file (after the curve file has been written)."""
        self.path.unlink(missing_ok=True)
