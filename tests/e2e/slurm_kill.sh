#!/usr/bin/env bash
# Crash safety with Slurm jobs in flight: a workflow of 12 shell nodes in a 4-slot Slurm pool
# (2 CPUs in the cluster, so jobs also wait PENDING) is killed with SIGKILL at seeded random
# moments, at least KILLS times in all, and resumed until it finishes. Every job's side effect
# happens exactly once: resume adopts the jobs it journaled (by id, or by name when the kill
# came between sbatch and the id's record) and never submits one twice.
source "$(dirname "$0")/support/lib.sh"
source "$(dirname "$0")/support/kill_rounds.sh"
source "$COMFYRUN_SOURCE_DIR/tests/e2e/support/slurm_lib.sh"
KILLS=${KILLS:-20}
RANDOM=${SEED:-20261207}
start_slurm

make_workflow() {  # $1 = round
  local nodes=()
  for i in $(seq 1 12); do
    local deps=""
    [ $i -gt 8 ] && deps=", \"dependsOn\": [\"k$((i - 8))\"]"
    nodes+=("{\"id\": \"k$i\", \"type\": \"shell\", \"pool\": \"heavy\", \"inputs\": {\"shell\": true, \"command\": \"echo k$i >> $E2E_DIR/effects-$1.log; sleep 0.$((RANDOM % 9 + 1))\"}$deps}")
  done
  local IFS=,
  echo "{\"workflowId\": \"slurm-crash-$1\", \"pools\": {\"heavy\": {\"executor\": \"slurm\", \"slots\": 4}}, \"nodes\": [${nodes[*]}]}"
}

check_round() {  # $1 = round, $2 = journal
  for i in $(seq 1 12); do
    n=$(grep -cx "k$i" effects-$1.log || true)
    [ "$n" -eq 1 ] || fail "round $1: k$i's job ran $n times (journal $2)"
  done
}

# Kills from just after the start (before or during the first sbatch) to well into the run.
export KILL_MIN_MS=${KILL_MIN_MS:-30} KILL_MAX_MS=${KILL_MAX_MS:-1500}
kill_rounds "$KILLS" --out out -q
pass "$total_kills kills with Slurm jobs in flight in $round rounds: every job's side effect exactly once"
