#!/usr/bin/env bash
# Crash safety with Slurm jobs in flight: a workflow of 12 shell nodes in a 4-slot Slurm pool
# (2 CPUs in the cluster, so jobs also wait PENDING) is killed with SIGKILL at seeded random
# moments, at least KILLS times in all, and resumed until it finishes. Every job's side effect
# happens exactly once: resume adopts the jobs it journaled (by id, or by name when the kill
# came between sbatch and the id's record) and never submits one twice.
source "$(dirname "$0")/support/lib.sh"
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

total_kills=0
round=0
# Kills from just after the start (before or during the first sbatch) to well into the run.
export KILL_MIN_MS=${KILL_MIN_MS:-30} KILL_MAX_MS=${KILL_MAX_MS:-1500}
while [ $total_kills -lt "$KILLS" ]; do
  round=$((round + 1))
  make_workflow $round > wf-$round.json
  journal=j/round-$round.jsonl
  run_with_kills wf-$round.json $journal $((KILLS - total_kills)) --out out -q
  total_kills=$((total_kills + KILLS_MADE))
  [ "$RUN_EXIT" -eq 0 ] || { tail -5 $journal.err >&2; fail "round $round: run exited $RUN_EXIT"; }
  check_journal_invariants $journal
  for i in $(seq 1 12); do
    n=$(grep -cx "k$i" effects-$round.log || true)
    [ "$n" -eq 1 ] || fail "round $round: k$i's job ran $n times (journal $journal)"
  done
  echo "round $round: finished after $KILLS_MADE kills"
done
pass "$total_kills kills with Slurm jobs in flight in $round rounds: every job's side effect exactly once"
