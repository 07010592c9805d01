#!/usr/bin/env bash
# Stand up a real single-node SLURM on this machine for tests: munged, slurmctld and slurmd started
# directly (no systemd), one partition `test`, two fake A100s through GRES. Run as root.
# Usage: tests/slurm/start.sh SCRATCH   (state, logs, pid files and fake devices go to SCRATCH)
# Stop with tests/slurm/stop.sh SCRATCH. Recipe and the reasons behind each line: docs/slurm.md.
set -euo pipefail
scratch=$(realpath -m "$1")
host=$(hostname -s)
conf=/etc/slurm/slurm.conf  # srun inside a batch job only finds its config here, not via SLURM_CONF
marker="# stardomain test cluster"
if [[ -e $conf ]] && ! grep -qx "$marker" "$conf"; then
    echo "$conf exists and is not ours: refusing to overwrite a real cluster's config" >&2
    exit 3
fi
if [[ -e $conf ]]; then  # ours, from an earlier run that was not stopped: stop it first
    "$(dirname "$0")/stop.sh" "$(sed -n 's|^StateSaveLocation=\(.*\)/state$|\1|p' "$conf")"
fi
mkdir -p "$scratch"/{state,spool} /etc/slurm
# a character device is what slurmd wants behind a GPU File= (1,3 is /dev/null's device number)
for i in 0 1; do [[ -e $scratch/fakegpu$i ]] || mknod "$scratch/fakegpu$i" c 1 3; done

cat > "$conf" <<CONF
$marker
ClusterName=stardomain
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/slurmctld.pid
SlurmdPidFile=$scratch/slurmd.pid
SlurmctldLogFile=$scratch/slurmctld.log
SlurmdLogFile=$scratch/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
# finished jobs stay visible to squeue for an hour: the plugin tracks jobs with squeue (no sacct)
MinJobAge=3600
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# one line per finished job, for the test to count submissions
JobCompType=jobcomp/filetxt
JobCompLoc=$scratch/jobcomp.txt
# trust the node line below (memory) instead of what slurmd measures
SlurmdParameters=config_overrides
DefMemPerCPU=500
NodeName=$host CPUs=$(nproc) RealMemory=64000 Gres=gpu:a100:2 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
cat > /etc/slurm/gres.conf <<CONF
$marker
AutoDetect=off
NodeName=$host Name=gpu Type=a100 File=$scratch/fakegpu[0-1]
CONF

# munged: reuse a running one, else start it as the munge user
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged
    touch "$scratch/munged.ours"
fi
/usr/sbin/slurmctld -f "$conf"
/usr/sbin/slurmd -f "$conf"
for _ in $(seq 60); do  # wait until the node takes jobs
    state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
    case $state in
        idle|mix|alloc) echo "slurm up: node $host $state"; sinfo; exit 0 ;;
        unk*|down*|drain*|inval*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
done
echo "slurm did not come up; see $scratch/slurmctld.log and $scratch/slurmd.log" >&2
exit 1
