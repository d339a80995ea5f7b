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
  first=1
  for attempt in $(seq 1 200); do
    if [ $first -eq 1 ]; then
      "$COMFYRUN" run wf-$round.json --journal $journal -j 4 -q 2>>log-$round.err &
      first=0
    else
      "$COMFYRUN" resume $journal -q 2>>log-$round.err &
    fi
    pid=$!
    # Kill after a random 10..400 ms, unless it finished by then.
    sleep "0.$(printf '%03d' $(( RANDOM % 390 + 10 )))"
    if kill -9 $pid 2>/dev/null; then
      wait $pid 2>/dev/null || true
      total_kills=$((total_kills + 1))
      if [ ! -s $journal ] || [ "$(head -c 1 $journal)" != "{" ] || ! head -n 1 $journal | jq -e '.type == "header"' >/dev/null 2>&1; then
        # Killed before the header was on disk: nothing ran, so start the run again.
        rm -f $journal
        first=1
        continue
      fi
      "$COMFYRUN" status $journal --json > status.json 2>status.err || { cat status.err >&2; fail "journal unreadable after kill $total_kills"; }
      continue
    fi
    set +e; wait $pid; code=$?; set -e
    [ $code -eq 0 ] || { tail -5 log-$round.err >&2; fail "round $round: run exited $code"; }
    break
  done
  grep -q '"type":"run_finished","status":"succeeded"' $journal || grep -q '"status":"succeeded"' $journal || fail "round $round did not finish"
  for node in $(seq -f 's%g' 1 20) $(seq -f 'h%g' 1 10); do
    completions=$(grep -c "\"type\":\"completed\",\"node\":\"$node\"" $journal || true)
    [ "$completions" -eq 1 ] || fail "round $round: $node completed $completions times"
    late=$(awk -v n="\"node\":\"$node\"" 'index($0, "\"type\":\"completed\"") && index($0, n) {done=1; next} done && index($0, "\"type\":\"node_started\"") && index($0, n) {print}' $journal | wc -l)
    [ "$late" -eq 0 ] || fail "round $round: $node started again after it completed"
    starts=$(grep -c "\"type\":\"node_started\",\"node\":\"$node\"" $journal || true)
    if [[ $node == s* ]]; then
      effects=$(grep -cx "$node" effects-$round.log || true)
    else
      effects=$(grep -c "round=$round&node=$node&" "$HTTP_LOG" || true)
    fi
    [ "$effects" -ge 1 ] && [ "$effects" -le "$starts" ] || fail "round $round: $node side effect $effects times for $starts starts"
  done
  echo "round $round: finished after $((attempt - 1)) kills"
done
pass "$total_kills kills in $round rounds: every run finished, no completed node ran again"
