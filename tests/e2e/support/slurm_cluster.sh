#!/usr/bin/env bash
# A real single-node Slurm for the tests, started from Debian's packages (slurm-wlm, munge)
# on 127.0.0.1, everything under one directory: its own munged socket and key, a generated
# slurm.conf (proctrack/linuxproc, task/none, select/cons_tres, no accounting, MinJobAge of an
# hour so that `squeue -t all` still lists finished jobs), free ports, and slurmctld + slurmd.
# Two test processes can each run one at the same time.
#
#   slurm_cluster.sh start DIR [CPUS] [accounting]
#                                       starts it; prints `export SLURM_CONF=DIR/slurm.conf`;
#                                       `accounting` adds MariaDB and slurmdbd (sacct works)
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
  for f in slurmd slurmctld slurmdbd mariadb munge/munged; do
    local p
    p=$(cat "$d/$f.pid" 2>/dev/null || true)
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for f in slurmd slurmctld slurmdbd mariadb munge/munged; do
    local p
    p=$(cat "$d/$f.pid" 2>/dev/null || true)
    [ -z "$p" ] && continue
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
}

# start_accounting DIR: MariaDB (its own datadir, socket and port under DIR) and slurmdbd
# (slurmdbd.conf beside slurm.conf, where Slurm looks for it); sets ACCOUNTING_CONF, the
# slurm.conf lines that point slurmctld at it.
start_accounting() {
  local d=$1 dbport dbdport
  for b in mariadbd mariadb-install-db slurmdbd sacct; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || {
      echo "slurm_cluster: $b is missing: install slurmdbd and mariadb-server (scripts/test does)" >&2
      exit 1
    }
  done
  dbport=$(free_port)
  dbdport=$(free_port)
  mariadb-install-db --no-defaults --datadir="$d/db" --user=root --auth-root-authentication-method=normal \
    --skip-test-db > "$d/log/mariadb-install.log" 2>&1 ||
    { echo "slurm_cluster: mariadb-install-db failed" >&2; cat "$d/log/mariadb-install.log" >&2; exit 1; }
  /usr/sbin/mariadbd --no-defaults --datadir="$d/db" --socket="$d/db.sock" --port="$dbport" --bind-address=127.0.0.1 \
    --pid-file="$d/mariadb.pid" --user=root --log-error="$d/log/mariadb.log" > /dev/null 2>&1 &
  for _ in $(seq 300); do [ -S "$d/db.sock" ] && break; sleep 0.1; done
  [ -S "$d/db.sock" ] || { echo "slurm_cluster: MariaDB did not start" >&2; cat "$d/log/mariadb.log" >&2; exit 1; }
  cat > "$d/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$d/munge-run/munge.sock
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbdport
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$dbport
StorageUser=root
StorageLoc=slurm_acct_db
PidFile=$d/slurmdbd.pid
LogFile=$d/log/slurmdbd.log
CONF
  chmod 600 "$d/slurmdbd.conf"
  SLURM_CONF=$d/slurm.conf /usr/sbin/slurmdbd || { cat "$d/log/slurmdbd.log" >&2; exit 1; }
  for _ in $(seq 300); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $dbdport), 0.2)" 2>/dev/null && break
    sleep 0.1
  done
  # AccountingStoragePass names the munged socket for slurmctld's (and sacct's) talk to
  # slurmdbd; without it they look for the system's munged.
  ACCOUNTING_CONF="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$dbdport
AccountingStoragePass=$d/munge-run/munge.sock"
}

start_cluster() {
  local d=$1 cpus=${2:-} accounting=${3:-}
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
  ACCOUNTING_CONF=AccountingStorageType=accounting_storage/none
  [ "$accounting" = accounting ] && start_accounting "$d"
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
$ACCOUNTING_CONF
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
    # A slurmctld that died after it daemonized (a fatal error in its log) is not waited for.
    kill -0 "$(cat "$d/slurmctld.pid" 2>/dev/null || echo 0)" 2>/dev/null ||
      { echo "slurm_cluster: slurmctld stopped" >&2; tail -20 "$d/log/slurmctld.log" >&2; stop_cluster "$d"; exit 1; }
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
  start) start_cluster "${2:?DIR}" "${3:-}" "${4:-}" ;;
  stop) stop_cluster "${2:?DIR}" ;;
  *) echo "usage: $0 start DIR [CPUS] | stop DIR" >&2; exit 2 ;;
esac
