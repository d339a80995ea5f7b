#!/usr/bin/env bash
# Crash safety: a 30-node workflow of shell and http nodes is killed with SIGKILL at seeded
# random moments (at least KILLS times in all) and resumed until it finishes. Checks, per
# round: the run finishes; no completed node runs again (one completion record each, no start
# after it); every node's side effect happened at least once and at most once per attempt the
# journal shows; the journal stays readable after every kill.
source "$(dirname "$0")/support/lib.sh"
KILLS=${KILLS:-50}
RANDOM=${SEED:-20261122}
start_http_server

make_workflow() {  # $1 = round
  local nodes=()
  for i in $(seq 1 20); do
    local deps=""
    [ $i -gt 5 ] && deps=", \"dependsOn\": [\"s$(( (i - 1) / 2 ))\"]"
    nodes+=("{\"id\": \"s$i\", \"type\": \"shell\", \"inputs\": {\"argv\": [\"sh\", \"-c\", \"echo s$i >> $E2E_DIR/effects-$1.log; sleep 0.0$(( RANDOM % 9 + 1 ))\"]}$deps}")
  done
  for i in $(seq 1 10); do
    nodes+=("{\"id\": \"h$i\", \"type\": \"http\", \"inputs\": {\"url\": \"http://127.0.0.1:$HTTP_PORT/json?round=$1&node=h$i&delay=0.0$(( RANDOM % 9 + 1 ))&after=<<s$(( i * 2 )).exitCode>>\"}}")
  done
  local IFS=,
  echo "{\"workflowId\": \"crash-$1\", \"nodes\": [${nodes[*]}]}"
}

total_kills=0
round=0
while [ $total_kills -lt "$KILLS" ]; do
  round=$((round + 1))
  make_workflow $round > wf-$round.json
  journal=j/round-$round.jsonl
  run_with_kills wf-$round.json $journal $((KILLS - total_kills)) -j 4 -q
  total_kills=$((total_kills + KILLS_MADE))
  [ "$RUN_EXIT" -eq 0 ] || { tail -5 $journal.err >&2; fail "round $round: run exited $RUN_EXIT"; }
  grep -q '"type":"run_finished","status":"succeeded"' $journal || grep -q '"status":"succeeded"' $journal || fail "round $round did not finish"
  check_journal_invariants $journal
  for node in $(seq -f 's%g' 1 20) $(seq -f 'h%g' 1 10); do
    starts=$(grep -c "\"type\":\"node_started\",\"node\":\"$node\"" $journal || true)
    if [[ $node == s* ]]; then
      effects=$(grep -cx "$node" effects-$round.log || true)
    else
      effects=$(grep -c "round=$round&node=$node&" "$HTTP_LOG" || true)
    fi
    [ "$effects" -ge 1 ] && [ "$effects" -le "$starts" ] || fail "round $round: $node side effect $effects times for $starts starts"
  done
  echo "round $round: finished after $KILLS_MADE kills"
done
pass "$total_kills kills in $round rounds: every run finished, no completed node ran again"
