#!/usr/bin/env bash
# The command line under hostile use (issue #20, #19 item 5): closed or broken stdout/stderr,
# empty paths, bad budgets, the wrong kind of file, parser messages, damaged journal headers
# for every command that reads one, a killed run's status, and no lock file left behind.
# Every case asserts an exit code below 124 (never an abort), a message, and the journal.
source "$(dirname "$0")/support/lib.sh"

# expect_code CODE PATTERN CMD...: exit code CODE and PATTERN (grep -E) in stderr.
expect_code() {
  local want=$1 pattern=$2; shift 2
  expect_exit "$want" "$@"
  grep -Eq -- "$pattern" last.err || fail "$*: stderr lacks /$pattern/: $(cat last.err)"
}
# journal_complete JOURNAL: the journal ends with a run_finished record and is valid JSON lines.
journal_complete() {
  jq -s -e 'length > 2 and .[-1].type == "run_finished"' "$1" >/dev/null || fail "journal $1 incomplete: $(tail -2 "$1")"
}

cat > wf.json <<'JSON'
{"workflowId": "hard", "nodes": [
  {"id": "a", "type": "shell", "inputs": {"argv": ["echo", "a"]}},
  {"id": "b", "type": "shell", "inputs": {"argv": ["echo", "b"]}, "dependsOn": ["a"]},
  {"id": "c", "type": "shell", "inputs": {"argv": ["echo", "c"]}, "dependsOn": ["a"]},
  {"id": "d", "type": "value", "inputs": {"x": "<<b.stdout>>"}}
]}
JSON

# --- closed and broken console streams ------------------------------------------------------
set +e
"$COMFYRUN" run "$COMFYRUN_SOURCE_DIR/graphs/quickstart.json" --offline -o pipe 2>&1 | head -1 >head.out
codes=("${PIPESTATUS[@]}")
set -e
[ "${codes[0]}" -eq 0 ] || fail "run | head -1 exited ${codes[0]} (an abort is 134)"
[ -s head.out ] || fail "head read nothing"
journal_complete "$(ls pipe/journals/*.jsonl)"
ls pipe/metrics/*.json >/dev/null || fail "no metrics after | head -1"
pass "run --offline 2>&1 | head -1: the run finishes, journal and metrics complete"

set +e
"$COMFYRUN" run wf.json -o pipe2 --json | head -c 1 >/dev/null
code=${PIPESTATUS[0]}
set -e
[ "$code" -eq 0 ] || fail "run --json | head -c 1 exited $code"
journal_complete "$(ls pipe2/journals/*.jsonl)"
pass "--json into a pipe closed early"

for redirect in "1" "2" "12"; do
  rm -rf closed
  set +e
  case $redirect in
    1) timeout 60 "$COMFYRUN" run wf.json -o closed --json >&- ;;
    2) timeout 60 "$COMFYRUN" run wf.json -o closed 2>&- ;;
    12) timeout 60 "$COMFYRUN" run wf.json -o closed --json >&- 2>&- ;;
  esac
  code=$?
  set -e
  [ "$code" -eq 0 ] || fail "run with fd(s) $redirect closed exited $code"
  j=$(ls closed/journals/*.jsonl)
  journal_complete "$j"
  [ "$(head -c 1 "$j")" = "{" ] || fail "journal polluted with console output"
  ls closed/metrics/*.json >/dev/null || fail "no metrics with fd(s) $redirect closed"
done
pass "stdout, stderr or both closed (>&-, 2>&-): run completes, journal and metrics complete"

# --- empty paths ------------------------------------------------------------------------------
expect_code 2 "comfyrun run: .*--out.*empty path" "$COMFYRUN" run wf.json --out ''
expect_code 2 "empty path" "$COMFYRUN" run wf.json --out '   '
expect_code 2 "empty path" "$COMFYRUN" run wf.json -o ''
expect_code 2 "empty path" "$COMFYRUN" run wf.json --journal ''
expect_code 2 "empty path" "$COMFYRUN" resume whatever.jsonl --out ''
expect_code 2 "empty path" "$COMFYRUN" abtest x.json --out ''
expect_code 2 "comfyrun gc: .*empty path" "$COMFYRUN" gc --older-than 1d -o ''
expect_code 2 "empty path" "$COMFYRUN" gc --older-than 1d -o ' '
expect_code 2 "comfyrun cache ls: .*empty path" "$COMFYRUN" cache ls -o ''
expect_code 2 "empty path" "$COMFYRUN" cache prune --older-than 1d -o ''
expect_code 2 "empty path" "$COMFYRUN" trace x.jsonl -o ''
expect_code 2 "empty path" "$COMFYRUN" schema -o ''
expect_code 2 "empty path" "$COMFYRUN" report x.jsonl --html ''
[ ! -e runs ] && [ ! -e journals ] && [ ! -e metrics ] || fail "an empty --out wrote here"
pass "empty or blank --out, --journal, -o, --html: exit 2 with a message, nothing written"

# --- budgets ----------------------------------------------------------------------------------
for budget in nan NaN inf -inf -1 -0.5 abc ''; do
  expect_code 2 "comfyrun run: --max-cost.*finite number" "$COMFYRUN" run wf.json -o budget --max-cost "$budget"
done
[ ! -e budget/journals ] || [ -z "$(ls budget/journals)" ] || fail "a refused budget made a journal"
expect_exit 0 "$COMFYRUN" run wf.json -o budget --max-cost 0
expect_code 2 "finite number" "$COMFYRUN" resume "$(ls budget/journals/*.jsonl)" --max-cost nan
pass "--max-cost must be a finite number >= 0"

# --- the wrong kind of path -------------------------------------------------------------------
mkdir -p somedir
expect_code 2 "somedir is a directory" "$COMFYRUN" run wf.json -o jdir --journal somedir
echo "a file" > plainfile
expect_code 2 "plainfile is not a directory" "$COMFYRUN" cache ls -o plainfile
expect_code 2 "is not a directory" "$COMFYRUN" cache prune --older-than 0 -o plainfile
finished=$(ls budget/journals/*.jsonl)
expect_code 2 "is a run's journal.*comfyrun resume" "$COMFYRUN" run "$finished"
expect_code 2 "wf.json is a workflow.*comfyrun run wf.json" "$COMFYRUN" resume wf.json
expect_code 2 "comfyrun plan: --dot and --json.*one or the other" "$COMFYRUN" plan wf.json --dot --json
pass "--journal DIR, cache -o FILE, journal to run, workflow to resume, plan --dot --json"

# --- parser messages --------------------------------------------------------------------------
expect_code 2 "^comfyrun run: .*jobs" "$COMFYRUN" run wf.json --jobs 0
expect_code 2 "^comfyrun run: .*--nope" "$COMFYRUN" run wf.json --nope
expect_code 2 "^comfyrun cache ls: " "$COMFYRUN" cache ls --bogus
expect_code 2 "unknown command 'rnu'.*did you mean .run" "$COMFYRUN" rnu wf.json
expect_code 2 "unknown command 'frobnicate'" "$COMFYRUN" frobnicate
pass "parser errors name the command; an unknown command is named, with the closest one"

# --- no lock file left; a killed run's status -------------------------------------------------
expect_exit 0 "$COMFYRUN" run wf.json -o locks --json
j=$(jq -r .journal last.out)
[ ! -e "$j.lock" ] || fail "lock file left beside a finished journal"
expect_exit 0 "$COMFYRUN" status "$j"
cat > slow.json <<'JSON'
{"workflowId": "slow", "nodes": [
  {"id": "quick", "type": "shell", "inputs": {"argv": ["echo", "q"]}},
  {"id": "sleeper", "type": "shell", "inputs": {"argv": ["sleep", "20"]}, "dependsOn": ["quick"]}
]}
JSON
"$COMFYRUN" run slow.json -o killed --journal killed/j.jsonl >/dev/null 2>&1 &
pid=$!
BG_PIDS+=("$pid")
for _ in $(seq 500); do grep -q '"node_started","node":"sleeper"' killed/j.jsonl 2>/dev/null && break; sleep 0.02; done
grep -q '"node_started","node":"sleeper"' killed/j.jsonl || fail "sleeper did not start"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true
expect_exit 0 "$COMFYRUN" status killed/j.jsonl
grep -q "interrupted (1 node was running; .comfyrun resume. continues it)" last.out || fail "status of a killed run: $(cat last.out)"
! grep -q "stopped" last.out || fail "status says stopped and interrupted: $(cat last.out)"
pass "status of a killed run says interrupted; no lock file beside a finished journal"

# --- damaged journal headers ------------------------------------------------------------------
cat > fails.json <<JSON
{"workflowId": "fails", "nodes": [
  {"id": "gate", "type": "shell", "inputs": {"argv": ["test", "-f", "$E2E_DIR/gate-open"]}, "retry": {"maximumAttempts": 1}},
  {"id": "paid", "type": "shell", "inputs": {"argv": ["touch", "$E2E_DIR/spent"]}, "dependsOn": ["gate"]}
]}
JSON
expect_exit 1 "$COMFYRUN" run fails.json -o dmg --json
base=$(jq -r .journal last.out)
[ ! -e spent ] || fail "paid node ran before the gate opened"
touch gate-open
# damage NAME JQ-FILTER: a copy of the journal with its header changed by the filter.
damage() {
  { head -1 "$base" | jq -c "$2"; tail -n +2 "$base"; } > "dmg/journals/$1.jsonl"
}
damage runid '.runId = 5'
damage runid-path '.runId = "../../etc"'
damage wfid-num '.workflowId = 5'
damage wfid-arr '.workflowId = []'
damage options-str '.options = "x"'
damage jobs-str '.options.jobs = "many"'
damage jobs-zero '.options.jobs = 0'
damage maxcost '.options.maxCost = "lots"'
damage durability '.options.durability = 7'
damage comfyui '.options.comfyui = [1]'
damage cache '.options.cache = "maybe"'
damage params '.params = "x"'
damage workflow '.workflow = "x"'
damage no-workflow 'del(.workflow)'
damage hash-num '.hash = 5'
damage abtest '.abtest = "x"'
damage abtest-variants '.abtest = {"variants": "x"}'
damage format '.format = "one"'
for case in runid:runId runid-path:runId wfid-num:workflowId wfid-arr:workflowId options-str:options \
            jobs-str:options.jobs jobs-zero:options.jobs maxcost:options.maxCost durability:options.durability \
            comfyui:'options.comfyui\[0\]' cache:options.cache params:params workflow:workflow \
            no-workflow:workflow hash-num:hash abtest:abtest abtest-variants:abtest.variants format:format; do
  name=${case%%:*}; field=${case#*:}
  j="dmg/journals/$name.jsonl"
  lines=$(wc -l < "$j")
  for cmd in resume status trace; do
    expect_code 2 "$name.jsonl.*(\\\$\\.$field|format)" "$COMFYRUN" $cmd "$j"
  done
  expect_code 2 "$name.jsonl" "$COMFYRUN" report "$j" --html "dmg/$name.html"
  [ "$(wc -l < "$j")" -eq "$lines" ] || fail "$name: resume appended to a damaged journal"
  [ ! -e spent ] || fail "$name: resume ran the paid node"
done
expect_exit 0 "$COMFYRUN" gc --older-than 1d -o dmg
pass "damaged headers: resume, status, trace, report exit 2 naming the journal and the field; nothing ran; gc copes"

# The header's hash: a workflow edited after the run started is refused, --force goes on.
{ head -1 "$base" | jq -c '.workflow.nodes[1].inputs.argv = ["touch", "'"$E2E_DIR"'/edited"]'; tail -n +2 "$base"; } > dmg/journals/edited.jsonl
expect_code 2 "edited.jsonl.*hash.*--force" "$COMFYRUN" resume dmg/journals/edited.jsonl
[ ! -e edited ] && [ ! -e spent ] || fail "a header with a wrong hash ran"
expect_exit 0 "$COMFYRUN" resume dmg/journals/edited.jsonl --force
grep -q "warning: .*hash" last.err || fail "--force says nothing: $(cat last.err)"
[ -e edited ] || fail "resume --force did not run the edited workflow"
[ ! -e dmg/journals/edited.jsonl.lock ] || fail "lock file left after resume"
expect_exit 0 "$COMFYRUN" resume "$base"
[ -e spent ] || fail "resume of the intact journal did not run the rest"
pass "a header whose hash does not match: exit 2, resume --force goes on; the intact journal resumes"
