#!/usr/bin/env bash
# Crash safety: a 30-node workflow of shell and http nodes is killed with SIGKILL at seeded
# random moments (at least KILLS times in all) and resumed until it finishes. Checks, per
# round: the run finishes; no completed node runs again (one completion record each, no start
# after it); every node's side effect happened at least once and at most once per attempt the
# journal shows; the journal stays readable after every kill.
source "$(dirname "$0")/support/lib.sh"
source "$(dirname "$0")/support/kill_rounds.sh"
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

check_round() {  # $1 = round, $2 = journal
  grep -q '"type":"run_finished","status":"succeeded"' $2 || grep -q '"status":"succeeded"' $2 || fail "round $1 did not finish"
  for node in $(seq -f 's%g' 1 20) $(seq -f 'h%g' 1 10); do
    starts=$(grep -c "\"type\":\"node_started\",\"node\":\"$node\"" $2 || true)
    if [[ $node == s* ]]; then
      effects=$(grep -cx "$node" effects-$1.log || true)
    else
      effects=$(grep -c "round=$1&node=$node&" "$HTTP_LOG" || true)
    fi
    [ "$effects" -ge 1 ] && [ "$effects" -le "$starts" ] || fail "round $1: $node side effect $effects times for $starts starts"
  done
}

kill_rounds "$KILLS" -j 4 -q
pass "$total_kills kills in $round rounds: every run finished, no completed node ran again"
