#!/usr/bin/env bash
# Crash safety of a batch: a 30-row batch (per row: a shell node with a side effect, then a
# paid Sora video on the fake provider) is killed with SIGKILL at seeded random moments (KILLS
# times in all, default 8; round after round, a round being one batch to its end) and resumed with `comfyrun resume` until it finishes. Checks: every row
# succeeds (results file); every node completed exactly once and never started after it
# completed; no journaled submission was submitted again (resume re-attached to it) and the
# fake accepted per row no more videos than the journal accounts for (its ids, plus attempts a
# kill cut short before their id was journaled: docs/guarantees.md); every shell side effect
# happened at least once and at most once per attempt; status reads the journal after every kill.
source "$(dirname "$0")/support/lib.sh"
KILLS=${KILLS:-8}
RANDOM=${SEED:-20261207}
KILL_MIN_MS=${KILL_MIN_MS:-50}
KILL_MAX_MS=${KILL_MAX_MS:-700}
export COMFYRUN_POLL_INTERVAL=0.05
start_fake_providers

one_round() {  # $1 = round; sets ROUND_KILLS
local r=$1
cat > wf-$r.json <<JSON
{"workflowId": "batch-crash-$r", "params": {"name": null, "pause": "0.01"},
 "nodes": [
   {"id": "s", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo <<params.name>> >> $E2E_DIR/effects-$r.log; sleep <<params.pause>>"]}},
   {"id": "clip", "type": "sora2_video", "dependsOn": ["s"],
    "inputs": {"prompt": "batch round$r <<params.name>> clip.", "model": "sora-2", "duration": 4}}
 ]}
JSON
{ echo "name,pause"; for i in $(seq 1 30); do echo "r$i,0.$(( RANDOM % 4 + 1 ))"; done; } > rows-$r.csv

journal=j/batch-$r.jsonl
mkdir -p j
local kills=0 first=1 finished= pid ms
for _ in $(seq 300); do
  if [ $first -eq 1 ]; then
    "$COMFYRUN" batch wf-$r.json rows-$r.csv --journal $journal -j 4 -q -o out 2>>$journal.err >/dev/null &
    first=0
  else
    "$COMFYRUN" resume $journal -q 2>>$journal.err >/dev/null &
  fi
  pid=$!
  if [ $((total_kills + kills)) -lt "$KILLS" ]; then
    ms=$(( KILL_MIN_MS + RANDOM % (KILL_MAX_MS - KILL_MIN_MS + 1) ))
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    if kill -9 $pid 2>/dev/null; then
      wait $pid 2>/dev/null || true
      kills=$((kills + 1))
      if ! head -n 1 $journal 2>/dev/null | jq -e -s 'length == 1 and .[0].type == "header"' >/dev/null 2>&1; then
        rm -f $journal; first=1; continue  # killed before the header was on disk: nothing ran
      fi
      "$COMFYRUN" status $journal > status.out 2>&1 || fail "status cannot read the journal after kill $kills: $(cat status.out)"
      grep -q "rows: " status.out || fail "status shows no rows: $(cat status.out)"
      continue
    fi
  fi
  set +e; wait $pid; finished=$?; set -e
  break
done
[ "$finished" = 0 ] || { tail -5 $journal.err >&2; fail "the batch ended with exit ${finished:-none} after $kills kills"; }
run_id=$(head -1 $journal | jq -r .runId)
jq -e '.rows == 30 and .succeeded == 30' out/batches/$run_id.json >/dev/null || fail "results: $(head -1 out/batches/$run_id.json)"

bad=$(jq -R -n -r '
  [inputs | fromjson? | select(type == "object" and has("node"))] | to_entries | group_by(.value.node)[]
  | (.[0].value.node) as $id
  | ([.[] | select(.value.type == "completed")]) as $done
  | if ($done | length) != 1 then "\($id) completed \($done | length) times"
    elif ([.[] | select(.value.type == "node_started" and .key > $done[0].key)] | length) > 0
    then "\($id) started again after it completed" else empty end' $journal)
[ -z "$bad" ] || fail "$bad"
[ "$(jq -s '[.[] | select(.type == "completed")] | length' $journal)" -eq 60 ] || fail "not 60 completions"

attempt_counts $journal
[ "$(grep -c '/clip ' $journal.attempts)" -eq 30 ] && [ "$(grep -c '/s ' $journal.attempts)" -eq 30 ] || fail "attempts: $(head -3 $journal.attempts)"
curl -sf "$SORA_FAKE/_fake/stats" > sora-stats.json
while read -r node starts cut ids; do
  row=${node%%/*}
  case $node in
    */s)
      name=$(jq -r --arg k "$row" '.batch.rows[] | select(.key == $k) | .params.name' <(head -1 $journal))
      effects=$(grep -cx "$name" effects-$r.log || true)
      [ "$effects" -ge 1 ] && [ "$effects" -le "$starts" ] || fail "$node: side effect $effects times for $starts starts" ;;
    */clip)
      name=$(jq -r --arg k "$row" '.batch.rows[] | select(.key == $k) | .params.name' <(head -1 $journal))
      subs=$(jq --arg p "batch round$r $name clip." '[.submissions | to_entries[] | select(.key | contains($p)) | .value] | add // 0' sora-stats.json)
      low=$(( ids > 1 ? ids : 1 ))
      [ "$subs" -ge "$low" ] && [ "$subs" -le $((low + cut)) ] \
        || fail "$node: the fake accepted $subs videos; the journal accounts for $low (+ $cut cut short by a kill)"
      orphans=$((orphans + subs - low)) ;;
  esac
done < $journal.attempts
ROUND_KILLS=$kills
echo "round $r: 30 rows finished after $kills kills"
}

total_kills=0
round=0
orphans=0
while [ $total_kills -lt "$KILLS" ]; do
  round=$((round + 1))
  one_round $round
  total_kills=$((total_kills + ROUND_KILLS))
done
pass "$total_kills kills in $round rounds of a 30-row batch: every row finished, no node completed twice, no journaled submission repeated (unrecorded submissions lost to a kill: $orphans)"
