#!/usr/bin/env bash
# Batch through the binary: rows from CSV (quoted fields, an empty field that takes the
# default) and JSON lines; per-row folders named by --key, files named after their row
# (<<params.X>>); a failing row does not stop the others (exit 1, results say which); bad rows
# are refused before anything runs (exit 2, file:line:column); --sweep alone and crossed with
# ROWS, --rows and --limit; --plan; one --max-cost budget for every row; status of a batch;
# resume of a failed batch gives the failed row fresh attempts and runs no completed node again.
source "$(dirname "$0")/support/lib.sh"

cat > wf.json <<'JSON'
{"workflowId": "greet",
 "params": {"name": null, "greeting": "hello", "n": 1},
 "nodes": [
   {"id": "who", "type": "value", "inputs": {"name": "<<params.name>>", "n": "<<params.n>>"}},
   {"id": "say", "type": "shell", "inputs": {"shell": true,
     "command": "echo \"<<params.greeting>> <<who.name>> <<who.n>>\" > \"<<params.name>>.txt\"; printf %s \"$PWD/<<params.name>>.txt\"; test \"<<who.name>>\" != bad"}},
   {"id": "out", "type": "value", "inputs": {"textPath": "<<say.stdout>>"}}
 ]}
JSON
printf 'name,greeting\nAnn,hi\n"Smith, Ann",\nbad,yo\nBo,"hey, you"\n' > rows.csv

# --- a batch with a failing row ---------------------------------------------------------------
expect_exit 1 "$COMFYRUN" batch wf.json rows.csv --key name --journal j/b.jsonl -q -o out
grep -q "4 rows, 3 succeeded, 1 failed" last.err || fail "summary: $(cat last.err)"
run_id=$(head -1 j/b.jsonl | jq -r .runId)
runs=out/runs/$run_id
[ "$(cat "$runs/Ann/say/Ann.txt")" = "hi Ann 1" ] || fail "Ann's file: $(ls -R "$runs")"
[ "$(cat "$runs/Smith__Ann/say/Smith, Ann.txt")" = "hello Smith, Ann 1" ] || fail "Smith's file (default greeting): $(ls -R "$runs")"
[ "$(cat "$runs/Bo/say/Bo.txt")" = "hey, you Bo 1" ] || fail "Bo's file"
[ -f "$runs/bad/say/bad.txt" ] || fail "the failing row ran"
results=out/batches/$run_id.json
jq -e '.rows == 4 and .succeeded == 3 and .failed == 1' "$results" >/dev/null || fail "results head: $(head -1 "$results")"
jq -e '.results[2] | .status == "failed" and .key == "bad" and (.error | test("say"))' "$results" >/dev/null || fail "bad row: $(cat "$results")"
jq -e '.results[0] | .status == "succeeded" and .params.name == "Ann" and (.outputs[0] | endswith("/Ann/say/Ann.txt"))' "$results" >/dev/null \
  || fail "Ann's row: $(cat "$results")"
[ "$(wc -l < out/batches/$run_id.csv)" -eq 5 ] || fail "CSV results: $(cat out/batches/$run_id.csv)"
head -1 out/batches/$run_id.csv | grep -q '^row,key,status,cost,durationMs,error,outputs,name,greeting,n$' || fail "CSV header"
grep -q '^2,Smith__Ann,succeeded,.*"Smith, Ann"' out/batches/$run_id.csv || fail "CSV quoting: $(cat out/batches/$run_id.csv)"
head -1 j/b.jsonl | jq -e '.batch.rows | length == 4' >/dev/null || fail "the header has no rows"
"$COMFYRUN" status j/b.jsonl > status.out
grep -q "rows: 3 succeeded, 1 failed, 0 running, 0 pending (of 4)" status.out || fail "status: $(cat status.out)"
"$COMFYRUN" status j/b.jsonl --json | jq -e '.batch == {"rows": 4, "succeeded": 3, "failed": 1, "running": 0, "pending": 0, "cost": 0.0} and .counts.completed == 10' >/dev/null \
  || fail "status --json: $("$COMFYRUN" status j/b.jsonl --json | jq -c '{batch, counts}')"
pass "a failing row does not stop the others; per-row folders and file names; results and status"

# --- resume: the failed row gets fresh attempts, completed nodes do not run again ----------
expect_exit 1 "$COMFYRUN" resume j/b.jsonl -q
[ "$(jq -s '[.[] | select(.type == "completed" and .node == "Ann/say")] | length' j/b.jsonl)" -eq 1 ] || fail "Ann/say ran again"
[ "$(jq -s '[.[] | select(.type == "node_started" and .node == "bad/say")] | length' j/b.jsonl)" -ge 2 ] || fail "bad/say got no fresh attempt"
grep -q "4 rows, 3 succeeded, 1 failed" last.err || fail "resume summary: $(cat last.err)"
{ head -1 j/b.jsonl | jq -c '.batch.rows[0].params.greeting = "edited"'; tail -n +2 j/b.jsonl; } > j/edited.jsonl
expect_exit 2 "$COMFYRUN" resume j/edited.jsonl -q
grep -q "rows do not match their hash" last.err || fail "edited rows: $(cat last.err)"
pass "resume of a batch: fresh attempts for the failed row only; edited rows refused"

# --- bad rows: exit 2, file:line:column, nothing run ------------------------------------------
printf 'name,colour\nA,red\n' > undeclared.csv
expect_exit 2 "$COMFYRUN" batch wf.json undeclared.csv -o bad
grep -q "undeclared.csv:1:6: column 'colour'" last.err || fail "undeclared column: $(cat last.err)"
printf 'name,n\nA,1\nB,two\n' > wrongtype.csv
expect_exit 2 "$COMFYRUN" batch wf.json wrongtype.csv -o bad
grep -q "wrongtype.csv:3:3: param 'n': expected number" last.err || fail "wrong type: $(cat last.err)"
printf 'greeting\nhi\n' > missing.csv
expect_exit 2 "$COMFYRUN" batch wf.json missing.csv -o bad
grep -q "missing.csv:2:1: row 1: param 'name' is required" last.err || fail "missing param: $(cat last.err)"
printf '{"name": "A"}\n{"name": "B", "n": "2"}\n' > rows.jsonl
expect_exit 2 "$COMFYRUN" batch wf.json rows.jsonl -o bad
grep -q "rows.jsonl:2:15: param 'n': expected number" last.err || fail "JSON lines type: $(cat last.err)"
printf 'name\nok\nbad\xff\n' > utf.csv
expect_exit 2 "$COMFYRUN" batch wf.json utf.csv -o bad
grep -q "utf.csv:3:4: byte 0xFF is not UTF-8" last.err || fail "bad UTF-8: $(cat last.err)"
expect_exit 2 "$COMFYRUN" batch wf.json -o bad
[ ! -e bad/journals ] || [ -z "$(ls bad/journals)" ] || fail "a refused batch wrote a journal"
pass "undeclared column, wrong type, missing param, bad UTF-8: exit 2 with file:line:column"

# --- JSON lines, sweeps, slices ----------------------------------------------------------------
printf '{"name": "A", "n": 2}\n\n{"name": "B"}\n' > rows.jsonl
expect_exit 0 "$COMFYRUN" batch wf.json rows.jsonl --sweep greeting=hi,yo --journal j/s.jsonl -q -o out
run_id=$(head -1 j/s.jsonl | jq -r .runId)
[ "$(cat out/runs/$run_id/1/say/A.txt)" = "hi A 2" ] && [ "$(cat out/runs/$run_id/4/say/B.txt)" = "yo B 1" ] \
  || fail "rows x sweep: $(ls -R out/runs/$run_id)"
expect_exit 0 "$COMFYRUN" batch wf.json --sweep name=P,Q,R --sweep n=1,2 --rows 2-5 --limit 3 --journal j/t.jsonl -q -o out
head -1 j/t.jsonl | jq -e '[.batch.rows[].key] == ["2","3","4"] and .batch.rows[0].params == {"name": "P", "n": 2}' >/dev/null \
  || fail "sweep slice: $(head -1 j/t.jsonl | jq -c .batch.rows)"
expect_exit 0 "$COMFYRUN" batch wf.json --sweep name=P,Q --plan
grep -q "2 rows x 3 nodes = 6 nodes" last.out || fail "plan: $(cat last.out)"
pass "JSON lines, sweep alone and crossed with rows, --rows and --limit, --plan"

# --- one budget for every row ------------------------------------------------------------------
start_fake_providers
cat > paid.json <<'JSON'
{"workflowId": "paid", "params": {"name": null},
 "nodes": [{"id": "clip", "type": "sora2_video", "inputs": {"prompt": "batch <<params.name>>.", "model": "sora-2", "duration": 4}}]}
JSON
expect_exit 0 "$COMFYRUN" batch paid.json --sweep name=a,b,c --plan
row_cost=$(grep -o 'row 1 (1): \$[0-9.]*' last.out | grep -o '[0-9.]*$')
total=$(grep -o 'estimated cost \$[0-9.]*' last.out | grep -o '[0-9.]*$')
awk -v r="$row_cost" -v t="$total" 'BEGIN { exit !(r > 0 && t > 2.9 * r) }' || fail "plan costs: $(cat last.out)"
budget=$(awk -v r="$row_cost" 'BEGIN { printf "%.2f", r * 2 }')
expect_exit 2 "$COMFYRUN" batch paid.json --sweep name=a,b,c --max-cost "$budget" -o paidout
grep -q "above --max-cost" last.err || fail "budget: $(cat last.err)"
[ "$(curl -sf "$SORA_FAKE/_fake/stats" | jq '[.submissions[]] | add // 0')" -eq 0 ] || fail "something was submitted"
pass "--max-cost is one budget for every row (each row fits, the batch does not: refused, nothing spent)"

# --- report --html of a batch: a table of rows with thumbnails of their images ---------------
cat > img.json <<'JSON'
{"workflowId": "imgs", "params": {"name": null},
 "nodes": [{"id": "img", "type": "character_image", "inputs": {"characterPrompt": "batch <<params.name>> portrait.", "model": "nanobanana"}}]}
JSON
expect_exit 0 "$COMFYRUN" batch img.json --sweep name=a,b --key name --journal j/img.jsonl -q -o imgout
expect_exit 0 "$COMFYRUN" report j/img.jsonl --html page.html
python3 - page.html <<'PY' || fail "report rows table"
import re, sys
page = open(sys.argv[1]).read()
rows = page[page.index("<h2>Rows</h2>"):]
rows = rows[:rows.index("</section>")]
assert rows.count("<tr><td class=\"num\">") == 2, rows[:500]
assert rows.count("data:image/jpeg;base64,") == 2, "no thumbnails in the rows table"
assert ">a</td>" in rows and ">b</td>" in rows
PY
pass "report --html of a batch: a rows table with a thumbnail per image"

# --- the output cache works across rows: rows with the same inputs pay once, also when they
# are ready at the same time (the later ones wait for the first and take its result) ---------
expect_exit 0 "$COMFYRUN" batch img.json --sweep name=twin,twin,twin --cache -j 4 --journal j/twins.jsonl -q -o twinout
subs=$(curl -sf "$GEMINI_FAKE/_fake/stats" | jq '[.submissions | to_entries[] | select(.key | contains("batch twin portrait.")) | .value] | add // 0')
[ "$subs" -eq 1 ] || fail "three rows with the same inputs were submitted $subs times"
jq -e -s '[.[] | select(.type == "completed" and .cached == true)] | length == 2' j/twins.jsonl >/dev/null || fail "not two rows came from the cache"
pass "the output cache works across rows: three rows with the same inputs, ready together, paid once"
