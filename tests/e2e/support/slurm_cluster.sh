#!/usr/bin/env bash
# A real single-node Slurm for the tests, started from Debian's packages (slurm-wlm, munge)
# on 127.0.0.1, everything under one directory: its own munged socket and key, a generated
# slurm.conf (proctrack/linuxproc, task/none, select/cons_tres, no accounting, MinJobAge of an
# hour so that `squeue -t all` still lists finished jobs), free ports, and slurmctld + slurmd.
# Two test processes can each run one at the same time.
#
#   slurm_cluster.sh start DIR [CPUS]   starts it; prints `export SLURM_CONF=DIR/slurm.conf`
#   slurm_cluster.sh stop DIR           stops the daemons by the pids in their pid files
#
# Run as root (the daemons and munged's socket). Exits non-zero with the daemons' logs when
# something does not come up: a test that cannot start Slurm fails, it does not skip.
set -euo pipefail

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop_cluster() {
  local d=$1
  for f in slurmd slurmctld munge/munged; do
    local p
    p=$(cat "$d/$f.pid" 2>/dev/null || true)
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for f in slurmd slurmctld munge/munged; do
    local p
    p=$(cat "$d/$f.pid" 2>/dev/null || true)
    [ -z "$p" ] && continue
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
}

start_cluster() {
  local d=$1 cpus=${2:-}
  for b in munged slurmctld slurmd sbatch squeue scontrol scancel; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || {
      echo "slurm_cluster: $b is missing: install slurm-wlm and munge (scripts/test does)" >&2
      exit 1
    }
  done
  [ "$(id -u)" -eq 0 ] || { echo "slurm_cluster: must run as root to start the daemons" >&2; exit 1; }
  [ -n "$cpus" ] || cpus=$(nproc)
  mkdir -p "$d/state" "$d/spool" "$d/log" "$d/munge" "$d/munge-run"
  d=$(cd "$d" && pwd)
  chown munge:munge "$d/munge" 2>/dev/null || true
  chmod 700 "$d/munge"
  chown munge:munge "$d/munge-run" 2>/dev/null || true
  chmod 755 "$d/munge-run"  # the socket's folder: munged wants it searchable by all
  dd if=/dev/urandom bs=1 count=1024 of="$d/munge/munge.key" status=none
  chown munge:munge "$d/munge/munge.key" 2>/dev/null || true
  chmod 400 "$d/munge/munge.key"
  # munged refuses a world-writable parent of its socket; $d is 700 or 755 (mktemp -d).
  chmod 755 "$d"
  local munge_user=munge
  id munge >/dev/null 2>&1 || munge_user=root
  su -s /bin/sh "$munge_user" -c "/usr/sbin/munged --socket=$d/munge-run/munge.sock --key-file=$d/munge/munge.key \
    --pid-file=$d/munge/munged.pid --log-file=$d/munge/munged.log --seed-file=$d/munge/munge.seed" ||
    { echo "slurm_cluster: munged did not start" >&2; cat "$d/munge/munged.log" >&2 2>/dev/null; exit 1; }
  local cport dport
  cport=$(free_port)
  dport=$(free_port)
  cat > "$d/slurm.conf" <<CONF
ClusterName=comfyrun-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge-run/munge.sock
CredType=cred/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MinJobAge=3600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=2
InactiveLimit=0
SchedulerParameters=sched_interval=1
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=localhost MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$d/slurm.conf
  /usr/sbin/slurmctld -i -f "$d/slurm.conf" || { cat "$d/log/slurmctld.log" >&2; exit 1; }
  /usr/sbin/slurmd -f "$d/slurm.conf" || { cat "$d/log/slurmd.log" >&2; exit 1; }
  for _ in $(seq 150); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "export SLURM_CONF=$d/slurm.conf"
      return 0
    fi
    sleep 0.2
  done
  echo "slurm_cluster: the node did not come up within 30 s" >&2
  sinfo >&2 || true
  tail -20 "$d/log/slurmctld.log" "$d/log/slurmd.log" >&2 || true
  stop_cluster "$d"
  exit 1
}

case "${1:-}" in
  start) start_cluster "${2:?DIR}" "${3:-}" ;;
  stop) stop_cluster "${2:?DIR}" ;;
  *) echo "usage: $0 start DIR [CPUS] | stop DIR" >&2; exit 2 ;;
esac
