#!/usr/bin/env bash
# Stop what tests/slurm/start.sh started, by the PIDs in its pid files, and remove its config.
# Usage: tests/slurm/stop.sh SCRATCH
set -uo pipefail
scratch=$(realpath -m "$1")
stop() {  # TERM the process in pid file $1, wait up to 10 s for it to go
    [[ -s $1 ]] || return 0
    local pid
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
}
scancel --user="$(id -un)" 2>/dev/null  # jobs of this test cluster still queued or running
stop "$scratch/slurmd.pid"
stop "$scratch/slurmctld.pid"
[[ -e $scratch/munged.ours ]] && stop /run/munge/munged.pid
if grep -qx "# stardomain test cluster" /etc/slurm/slurm.conf 2>/dev/null; then
    rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf
fi
exit 0
