#!/usr/bin/env bash
# run / resume / status through the binary: exit codes, outputs, journal, metrics, --json,
# failures and skipped dependents, SIGINT, the journal lock.
source "$(dirname "$0")/support/lib.sh"
start_http_server

cat > ok.json <<JSON
{"workflowId": "e2e-ok", "params": {"greeting": "hello"}, "nodes": [
  {"id": "config", "type": "value", "inputs": {"n": 3, "who": "<<params.greeting>>"}},
  {"id": "say", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo '{\"score\": 0.5, \"text\": \"'\$1'\"}'", "x", "<<config.who>>"]}},
  {"id": "fetch", "type": "http", "inputs": {"url": "http://127.0.0.1:$HTTP_PORT/json?q=<<say.score>>", "extract": {"path": "path"}}},
  {"id": "post", "type": "http", "inputs": {"url": "http://127.0.0.1:$HTTP_PORT/echo", "method": "POST", "body": {"n": "<<config.n>>"}, "extract": {"echoed": "body"}}}
]}
JSON
expect_exit 0 "$COMFYRUN" run ok.json --json -p greeting=hi
jq -e '.status == "succeeded" and .totalCost == 0 and (.failed | length == 0)' last.out >/dev/null || fail "--json summary: $(cat last.out)"
journal=$(jq -r .journal last.out); metrics=$(jq -r .metrics last.out)
[ -f "$journal" ] && [ -f "$metrics" ] || fail "journal or metrics missing"
jq -e '.schemaVersion == 1 and .status == "succeeded" and .counts.completed == 4 and (.nodes | length == 4) and .peakParallelism >= 1' "$metrics" >/dev/null || fail "metrics: $(cat $metrics)"
grep -q '"type":"completed","node":"say"' "$journal" || fail "journal has no completion of say"
jq -e -s 'map(select(.type=="completed" and .node=="say"))[0] | .outputs.text == "hi" and .outputs.score == 0.5' "$journal" >/dev/null || fail "shell outputs"
jq -e -s 'map(select(.type=="completed" and .node=="post"))[0] | .outputs.echoed == "{\"n\":3}"' "$journal" >/dev/null || fail "typed template in http body"
grep -q "GET /json?q=0.5" "$HTTP_LOG" || fail "template in URL"
[ -d generated/runs ] || fail "no run folder"
pass "run: outputs, templates, journal, metrics, --json"

expect_exit 0 "$COMFYRUN" status "$journal"
grep -q "succeeded" last.out && grep -q "4/4 completed" last.out || fail "status: $(cat last.out)"
expect_exit 0 "$COMFYRUN" status "$journal" --json
jq -e '.live == false and .counts.completed == 4' last.out >/dev/null || fail "status --json"
expect_exit 0 "$COMFYRUN" resume "$journal"
grep -q "already finished" last.err || fail "resume of a finished run: $(cat last.err)"
pass "status and resume of a finished run"

# A failure skips dependents only; resume after the cause is fixed completes the run.
cat > flaky.json <<JSON
{"workflowId": "e2e-flaky", "defaults": {"retry": {"maximumAttempts": 2, "initialInterval": "50ms"}}, "nodes": [
  {"id": "gate", "type": "shell", "inputs": {"argv": ["test", "-f", "$E2E_DIR/marker"]}},
  {"id": "after", "type": "shell", "inputs": {"argv": ["echo", "after"]}, "dependsOn": ["gate"]},
  {"id": "other", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo other >> $E2E_DIR/other.log"]}}
]}
JSON
expect_exit 1 "$COMFYRUN" run flaky.json --json
journal=$(jq -r .journal last.out)
jq -e '.status == "failed" and .failed[0].node == "gate"' last.out >/dev/null || fail "failed summary"
grep -q "skip  after" last.err || fail "dependent not reported skipped: $(cat last.err)"
[ "$(grep -c '"type":"node_started","node":"gate"' "$journal")" -eq 2 ] || fail "gate not retried once"
touch marker
expect_exit 0 "$COMFYRUN" resume "$journal"
[ "$(wc -l < other.log)" -eq 1 ] || fail "completed node ran again on resume"
pass "failure, skipped dependents, resume after fix"

# Ctrl-C: exit 130, a resumable journal; the lock refuses a second writer meanwhile.
cat > slow.json <<JSON
{"workflowId": "e2e-slow", "nodes": [
  {"id": "first", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo first >> $E2E_DIR/slow.log"]}},
  {"id": "sleep", "type": "shell", "inputs": {"argv": ["sleep", "30"]}, "dependsOn": ["first"]},
  {"id": "last", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo last >> $E2E_DIR/slow.log"]}, "dependsOn": ["sleep"]}
]}
JSON
"$COMFYRUN" run slow.json --journal j/slow.jsonl 2>slow.err &
pid=$!
for _ in $(seq 100); do grep -q '"node":"sleep"' j/slow.jsonl 2>/dev/null && break; sleep 0.05; done
expect_exit 2 "$COMFYRUN" resume j/slow.jsonl
grep -q "pid $pid" last.err || fail "lock message does not name the running process: $(cat last.err)"
expect_exit 0 "$COMFYRUN" status j/slow.jsonl --json
jq -e ".live == true and .pid == $pid" last.out >/dev/null || fail "status of a live run: $(cat last.out)"
kill -INT $pid
set +e; wait $pid; code=$?; set -e
[ $code -eq 130 ] || fail "SIGINT exit code $code"
grep -q '"status":"interrupted"' j/slow.jsonl || fail "no interrupted record"
pass "SIGINT exits 130; the lock names the live pid"

# Resume continues where the run stopped: "first" is not run again.
timeout 60 "$COMFYRUN" resume j/slow.jsonl >/dev/null 2>&1 &
rpid=$!
for _ in $(seq 100); do [ "$(grep -c '"node":"sleep"' j/slow.jsonl)" -ge 3 ] && break; sleep 0.05; done
kill -INT $rpid; wait $rpid || true
[ "$(grep -c first slow.log)" -eq 1 ] || fail "first ran again after resume"
pass "resume does not run a completed node again"

# Invalid workflow: exit 2 and nothing created.
echo '{"nodes": [{"id": "a", "type": "shel"}]}' > bad.json
expect_exit 2 "$COMFYRUN" run bad.json -o badout
grep -q "did you mean 'shell'" last.err || fail "no hint"
[ ! -e badout ] || fail "an invalid workflow created output"
pass "invalid workflow: exit 2, nothing written"

# A big workflow (two threads read its nodes; resume converts the header's nodes as it reads
# them): a resume of a journal cut short runs only the nodes the journal has not completed,
# and their templates see the outputs of the nodes completed before.
python3 - <<'PY'
import json, os
nodes = [{"id": "n0", "type": "value", "inputs": {"v": 1}}]
nodes += [{"id": f"n{i}", "type": "value", "inputs": {"v": f"<<n{i - 1}.v>>", "i": i}} for i in range(1, 5000)]
nodes.append({"id": "last", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo $1 >> " + os.getcwd() + "/big.log", "x", "<<n4999.i>>"]}})
json.dump({"workflowId": "e2e-big", "nodes": nodes}, open("big.json", "w"))
PY
expect_exit 0 "$COMFYRUN" run big.json -q --journal j/big.jsonl
# Keep the header, run_started and the first 3,000 completions: as if killed there.
head -n 3002 j/big.jsonl > j/big-cut.jsonl
expect_exit 0 "$COMFYRUN" resume j/big-cut.jsonl --json
[ "$(grep -c '"type":"completed"' j/big-cut.jsonl)" -eq 5001 ] || fail "big resume: completions $(grep -c '"type":"completed"' j/big-cut.jsonl)"
[ "$(sort -u big.log)" = "4999" ] && [ "$(wc -l < big.log)" -eq 2 ] || fail "big resume: last ran $(wc -l < big.log) times: $(cat big.log)"
jq -e '.counts.completed == 5001 and (.nodes | length == 5001) and .nodes[4000].outputs.v == 1' "$(jq -r .metrics last.out)" >/dev/null \
  || fail "big resume metrics"
pass "resume of a 5,000-node journal cut short"
