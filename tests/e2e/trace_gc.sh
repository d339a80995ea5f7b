#!/usr/bin/env bash
# `comfyrun trace` on the journal of a real run (parallel nodes, a retried node, a failure and
# a skipped dependent): the Chrome trace's structure. `comfyrun gc` on an output directory
# with runs whose journal times the test sets: old, recent, unfinished, live (lock held),
# unreadable; --dry-run, --force, the bytes it reports, and what it never touches.
source "$(dirname "$0")/support/lib.sh"

# --- trace -----------------------------------------------------------------------------------
cat > wf.json <<JSON
{"workflowId": "e2e-trace", "defaults": {"retry": {"maximumAttempts": 3, "initialInterval": "50ms"}}, "nodes": [
  {"id": "left", "type": "shell", "inputs": {"argv": ["sleep", "0.3"]}},
  {"id": "right", "type": "shell", "inputs": {"argv": ["sleep", "0.3"]}},
  {"id": "flaky", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo x >> $E2E_DIR/flaky.count; [ \$(wc -l < $E2E_DIR/flaky.count) -ge 2 ]"]}},
  {"id": "broken", "type": "shell", "inputs": {"argv": ["false"]}, "retry": 1},
  {"id": "after", "type": "shell", "inputs": {"argv": ["true"]}, "dependsOn": ["broken"]},
  {"id": "join", "type": "value", "inputs": {"l": "<<left.exitCode>>", "r": "<<right.exitCode>>"}}
]}
JSON
expect_exit 1 "$COMFYRUN" run wf.json -j 4 --json
journal=$(jq -r .journal last.out)
expect_exit 0 "$COMFYRUN" trace "$journal"
cp last.out trace.json
jq -e '(.traceEvents | type == "array") and .displayTimeUnit == "ms" and .otherData.workflowId == "e2e-trace"
       and .otherData.status == "failed"' trace.json >/dev/null || fail "trace shape: $(head -c 300 trace.json)"
# Every event has ph, pid, and (except metadata) a numeric ts; complete events have a dur.
jq -e 'all(.traceEvents[]; has("ph") and (.pid | type == "number") and (.tid | type == "number")
           and (.ph == "M" or (.ts | type == "number" and . >= 0))
           and (.ph != "X" or (.dur | type == "number" and . >= 0)))' trace.json >/dev/null || fail "event fields"
# One attempt slice per node_started record (inline value nodes journal only their
# completion: one slice each), failed ones marked.
starts=$(jq -s '[group_by(.node)[] | select(.[0].node != null)
                 | ([.[] | select(.type == "node_started")] | length) as $s
                 | if $s > 0 then $s else ([.[] | select(.type == "completed")] | length) end] | add' "$journal")
slices=$(jq '[.traceEvents[] | select(.ph == "X" and (.cat | startswith("attempt")))] | length' trace.json)
[ "$starts" -eq "$slices" ] || fail "$starts attempts in the journal, $slices attempt slices"
jq -e '[.traceEvents[] | select(.cat == "attempt,failed")] | length == 2
       and all(.[]; .args.error == "Execution" and (.name | test("failed: Execution")))' trace.json >/dev/null \
  || fail "failed attempts: $(jq -c '[.traceEvents[] | select(.cat == "attempt,failed") | .name]' trace.json)"
jq -e '[.traceEvents[] | select(.name == "retry wait" and .args.node == "flaky")] | length == 1' trace.json >/dev/null || fail "retry wait of flaky"
jq -e '[.traceEvents[] | select(.ph == "i" and .name == "skipped: after")] | length == 1' trace.json >/dev/null || fail "skipped node"
# No two complete events of one lane overlap; left and right (which ran together) are in
# different lanes; every lane has a name.
jq -e '[.traceEvents[] | select(.ph == "X")] | group_by(.tid)
       | all(.[]; sort_by(.ts) as $s | [range(1; $s | length) | $s[.].ts >= $s[. - 1].ts + $s[. - 1].dur] | all)' trace.json >/dev/null \
  || fail "overlapping slices in a lane"
jq -e '([.traceEvents[] | select(.ph == "X" and (.name == "left" or .name == "right")) | .tid] | unique | length) == 2' trace.json >/dev/null \
  || fail "parallel nodes share a lane"
jq -e '([.traceEvents[] | select(.ph == "X") | .tid] | unique) - ([.traceEvents[] | select(.ph == "M" and .name == "thread_name") | .tid]) == []' trace.json >/dev/null \
  || fail "a lane without a name"
jq -e '[.traceEvents[] | select(.ph == "M" and .name == "process_name")][0].args.name | startswith("comfyrun e2e-trace")' trace.json >/dev/null || fail "process name"
# ts/dur are microseconds: left slept 0.3 s.
jq -e '[.traceEvents[] | select(.ph == "X" and .name == "left")][0].dur | . >= 300000 and . < 60000000' trace.json >/dev/null || fail "left's duration in us"
expect_exit 0 "$COMFYRUN" trace "$journal" -o trace2.json
cmp -s trace.json trace2.json || fail "trace -o differs from stdout"
expect_exit 2 "$COMFYRUN" trace no-such.jsonl
grep -q "no-such.jsonl" last.err || fail "trace error names the file"
pass "trace: lanes, attempts, retries, waits, microseconds"

# --- gc --------------------------------------------------------------------------------------
out=gcout
mkdir -p $out/journals $out/metrics $out/runs $out/ab-tests
now_ms=$(( $(date +%s) * 1000 ))
day=86400000
# make_run ID LAST_T FINISHED: a journal whose last record is at LAST_T, a run folder with a
# 5000-byte file, a metrics file.
make_run() {
  local id=$1 t=$2 finished=$3
  {
    echo "{\"type\":\"header\",\"format\":1,\"runId\":\"$id\",\"workflowId\":\"wf\",\"t\":$((t - 5000))}"
    echo "{\"type\":\"run_started\",\"pid\":1,\"resume\":0,\"t\":$((t - 4000))}"
    if [ "$finished" = 1 ]; then echo "{\"type\":\"run_finished\",\"status\":\"succeeded\",\"durationMs\":4000,\"totalCost\":0,\"t\":$t}"
    else echo "{\"type\":\"node_started\",\"node\":\"a\",\"attempt\":1,\"t\":$t}"; fi
  } > $out/journals/$id.jsonl
  mkdir -p $out/runs/$id/a
  head -c 5000 /dev/zero > $out/runs/$id/a/out.bin
  echo '{}' > $out/metrics/$id.json
}
make_run old-done $((now_ms - 10 * day)) 1
make_run old-done-2 $((now_ms - 30 * day)) 1
make_run recent $((now_ms - 2 * day)) 1
make_run old-unfinished $((now_ms - 10 * day)) 0
make_run old-live $((now_ms - 10 * day)) 1
touch $out/journals/old-done.jsonl       # a fresh mtime: the age comes from the records
printf 'not json\n' > $out/journals/garbage.jsonl
touch -d '20 days ago' $out/journals/garbage.jsonl
echo '{"testId": "t"}' > $out/ab-tests/t-20261101T000000Z.json
# A live run: its journal lock is held (as a running comfyrun holds it) for up to 60 s.
# (exec: the background pid is the process holding the lock, so killing it frees the lock.)
( exec 9>$out/journals/old-live.jsonl.lock; flock 9; exec sleep 60 ) &
holder=$!
BG_PIDS+=($holder)
for _ in $(seq 100); do flock -n $out/journals/old-live.jsonl.lock true 2>/dev/null || break; sleep 0.05; done
! flock -n $out/journals/old-live.jsonl.lock true || fail "could not hold the live run's lock"

size_of() { find "$@" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
want_bytes=$(size_of $out/runs/old-done $out/runs/old-done-2 $out/metrics/old-done.json $out/metrics/old-done-2.json \
             $out/journals/old-done.jsonl $out/journals/old-done-2.jsonl)

expect_exit 0 "$COMFYRUN" gc --older-than 7d -o $out --dry-run
grep -q "^would remove .* old-done " last.out || fail "dry run: $(cat last.out)"
grep -q "gc (dry run): would remove 2 runs, would free .* ($want_bytes bytes); kept 1 live, 2 unfinished, 1 newer than 7d" last.out \
  || fail "dry-run summary (want $want_bytes bytes): $(cat last.out)"
[ -d $out/runs/old-done ] && [ -f $out/journals/old-done-2.jsonl ] || fail "dry run removed something"
pass "gc --dry-run removes nothing and reports what it would"

expect_exit 0 "$COMFYRUN" gc --older-than 7d -o $out --json
jq -e --argjson b "$want_bytes" '.removed == 2 and .bytesFreed == $b and .kept.live == 1 and .kept.unfinished == 2
       and .kept.recent == 1 and ([.runs[] | select(.action == "removed") | .runId] | sort == ["old-done", "old-done-2"])
       and ([.runs[] | select(.runId == "garbage")][0].ageFrom == "mtime")
       and ([.runs[] | select(.runId == "old-done")][0].ageFrom == "journal")' last.out >/dev/null \
  || fail "gc --json: $(cat last.out)"
for id in old-done old-done-2; do
  [ ! -e $out/runs/$id ] && [ ! -e $out/journals/$id.jsonl ] && [ ! -e $out/metrics/$id.json ] || fail "$id not removed"
done
[ -f $out/runs/recent/a/out.bin ] && [ -f $out/journals/old-unfinished.jsonl ] && [ -f $out/journals/old-live.jsonl ] \
  && [ -f $out/ab-tests/t-20261101T000000Z.json ] && [ -f $out/journals/garbage.jsonl ] || fail "gc removed what it must keep"
pass "gc removes old finished runs (runs/, journals/, metrics/) and reports the bytes"

expect_exit 0 "$COMFYRUN" gc --older-than 7d -o $out --force
grep -q "gc: removed 2 runs" last.out && grep -q "kept (live)  *old-live" last.out || fail "gc --force: $(cat last.out)"
[ ! -e $out/journals/old-unfinished.jsonl ] && [ ! -e $out/journals/garbage.jsonl ] || fail "--force did not remove unfinished runs"
[ -f $out/journals/old-live.jsonl ] && [ -d $out/runs/old-live ] || fail "--force removed a live run"
[ -f $out/ab-tests/t-20261101T000000Z.json ] || fail "gc touched ab-tests/"
kill $holder; wait $holder 2>/dev/null || true
pass "gc --force removes unfinished runs, never a live one"

# A real run's output folder: a run newer than the limit stays; with a limit of 0 it goes.
expect_exit 0 "$COMFYRUN" gc --older-than 1h
grep -q "gc: removed 0 runs" last.out || fail "gc of the trace run: $(cat last.out)"
[ -f "$journal" ] || fail "a recent run was removed"
expect_exit 0 "$COMFYRUN" gc --older-than 0s
grep -q "gc: removed 1 run," last.out && [ ! -e "$journal" ] && [ -z "$(ls generated/runs)" ] || fail "gc --older-than 0s: $(cat last.out); $(ls -R generated | head)"

expect_exit 2 "$COMFYRUN" gc --older-than "7 parsecs"
grep -q "older-than" last.err || fail "bad duration message: $(cat last.err)"
expect_exit 2 "$COMFYRUN" gc --older-than 7d -o no-such-dir
expect_exit 2 "$COMFYRUN" gc
pass "gc on a real run's folder; bad arguments exit 2"
