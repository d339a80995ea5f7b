#!/usr/bin/env bash
# The Slurm backend against a real single-node Slurm (support/slurm_cluster.sh: munged,
# slurmctld, slurmd on 127.0.0.1, 2 CPUs, so a 4-slot pool has jobs PENDING in the queue):
#   1. 20 shell nodes through a 4-slot Slurm pool: each side effect once, logs under the node
#      folders, the job name journaled before the job id;
#   2. a failing job (its log's last lines in the error) and one past its time limit
#      (TIMEOUT; runs alongside the rest, Slurm's limits are whole minutes);
#   3. --executor slurm, a node timeout and --fail-fast scancel their jobs;
#   4. SIGINT detaches (the jobs go on, resume re-attaches), --cancel-remote cancels;
#   5. video_stitch and media_probe on Slurm (comfyrun exec-node) give the same file as a local run;
#   and (after 1) where each attempt ran in journal, metrics, trace and report; batch --executor slurm.
# The kill -9 test is slurm_kill.sh. A test that cannot start Slurm fails; it does not skip.
source "$(dirname "$0")/support/lib.sh"
source "$COMFYRUN_SOURCE_DIR/tests/e2e/support/slurm_lib.sh"
start_slurm

# --- 2 (started first, in the background: its job waits a minute for its time limit) ------
cat > limits.json <<JSON
{"workflowId": "slurm-limits",
 "pools": {"heavy": {"executor": "slurm", "slots": 4},
           "short": {"executor": "slurm", "slots": 1, "partition": "short", "sbatch": ["--time=1"]}},
 "nodes": [
  {"id": "bad", "type": "shell", "pool": "heavy", "retry": 1,
   "inputs": {"shell": true, "command": "echo first-line >&2; echo the-reason-it-failed >&2; exit 3"}},
  {"id": "slow", "type": "shell", "pool": "short", "retry": 1, "inputs": {"argv": ["sleep", "600"]}}]}
JSON
"$COMFYRUN" run limits.json --journal j/limits.jsonl --out out -q > limits.out 2> limits.err &
LIMITS_PID=$!

# --- 1 -------------------------------------------------------------------------------------
nodes=()
for i in $(seq 1 20); do
  nodes+=("{\"id\": \"s$i\", \"type\": \"shell\", \"pool\": \"heavy\", \"inputs\": {\"shell\": true, \"command\": \"echo s$i >> $E2E_DIR/effects.log; sleep 0.$((i % 5)); echo '{\\\"n\\\": $i}'\"}}")
done
nodes+=("{\"id\": \"sum\", \"type\": \"shell\", \"inputs\": {\"argv\": [\"echo\", \"<<s1.n>>+<<s20.n>>\"]}}")
IFS=,; echo "{\"workflowId\": \"slurm-twenty\", \"pools\": {\"heavy\": {\"executor\": \"slurm\", \"slots\": 4}}, \"nodes\": [${nodes[*]}]}" > twenty.json; unset IFS
expect_exit 0 "$COMFYRUN" run twenty.json --journal j/twenty.jsonl --out out -q
for i in $(seq 1 20); do
  [ "$(grep -cx "s$i" effects.log)" -eq 1 ] || fail "s$i ran $(grep -cx "s$i" effects.log) times"
done
run_dir=$(dirname "$(ls -d out/runs/*/s1)")
for i in $(seq 1 20); do
  ls "$run_dir/s$i/slurm/"job-*.log >/dev/null 2>&1 || fail "s$i has no job log under its node folder"
done
# The name alone first, then the same name with the id; the outputs say where it ran.
jq -e -s '[.[] | select(.type == "submitted" and .node == "s7")] | length == 2 and (.[0].submission | has("jobId") | not)
  and .[1].submission.jobId != null and .[0].submission.jobName == .[1].submission.jobName' j/twenty.jsonl >/dev/null \
  || fail "s7's submissions are not name-then-id: $(grep '"submitted","node":"s7"' j/twenty.jsonl)"
jq -e -s '[.[] | select(.type == "completed" and .node == "s7")][0].outputs.slurm | .jobId != null and .node == "localhost"' \
  j/twenty.jsonl >/dev/null || fail "s7's outputs do not say its job id and node"
jq -e -s '[.[] | select(.type == "completed" and .node == "sum")][0].outputs.stdout == "1+20\n"' j/twenty.jsonl >/dev/null \
  || fail "a local node did not get the Slurm nodes' outputs"
pass "20 shell nodes through a 4-slot Slurm pool: each side effect once, job logs in the node folders"

# Where each attempt ran (job id and cluster node) in the journal, metrics, trace and report;
# the local node says "local".
s7_id=$(job_id_of j/twenty.jsonl s7)
jq -e -s --arg id "$s7_id" '[.[] | select(.type == "completed" and .node == "s7")][0].where
  == {"executor": "slurm", "jobId": $id, "host": "localhost"}' j/twenty.jsonl >/dev/null \
  || fail "s7's completed record does not say where it ran: $(grep '"completed","node":"s7"' j/twenty.jsonl)"
twenty_run=$(jq -r -s '.[0].runId' j/twenty.jsonl)
jq -e --arg id "$s7_id" '(.nodes[] | select(.id == "s7") | .where) == [{"attempt": 1, "executor": "slurm", "jobId": $id,
  "host": "localhost"}] and (.nodes[] | select(.id == "sum") | .where) == [{"attempt": 1, "executor": "local"}]' \
  "out/metrics/$twenty_run.json" >/dev/null || fail "the metrics do not say where s7 and sum ran: $(grep '"s7"' "out/metrics/$twenty_run.json")"
expect_exit 0 "$COMFYRUN" trace j/twenty.jsonl -o twenty-trace.json
jq -e --arg id "$s7_id" '[.traceEvents[] | select(.cat == "attempt" and .args.node == "s7")][0].args.where.jobId == $id
  and ([.traceEvents[] | select(.ph == "M" and .name == "process_name" and .args.name == "host slurm localhost")] | length == 1)
  and ([.traceEvents[] | select(.cat == "host")] | length == 20)' twenty-trace.json >/dev/null \
  || fail "the trace does not show where s7 ran (slice args, a track per cluster node)"
expect_exit 0 "$COMFYRUN" report j/twenty.jsonl --html twenty.html
grep -q "<th>Where</th>" twenty.html && grep -q "slurm job $s7_id on localhost" twenty.html \
  || fail "the report does not say where s7 ran (slurm job $s7_id on localhost)"
pass "the journal, metrics, trace and report say where each attempt ran: Slurm job id and node, or local"

# --executor slurm for a batch: every row's process nodes are Slurm jobs.
cat > batch-wf.json <<JSON
{"workflowId": "slurm-batch", "params": {"word": "x"}, "nodes": [
  {"id": "say", "type": "shell", "inputs": {"shell": true, "command": "echo <<params.word>> >> $E2E_DIR/batch-effects.log; echo <<params.word>>"}}]}
JSON
expect_exit 0 "$COMFYRUN" batch batch-wf.json --sweep word=alpha,beta,gamma --executor slurm --journal j/batch.jsonl --out out -q
[ "$(sort batch-effects.log | tr '\n' ' ')" = "alpha beta gamma " ] || fail "the batch rows ran: $(cat batch-effects.log)"
[ "$(jq -s '[.[] | select(.type == "completed" and .where.executor == "slurm" and .outputs.slurm.jobId != null)] | length' j/batch.jsonl)" -eq 3 ] \
  || fail "batch --executor slurm did not run every row's shell node on Slurm"
jq -e -s '.[0].options.executor == "slurm"' j/batch.jsonl >/dev/null || fail "the batch's header does not keep --executor slurm"
pass "batch --executor slurm: every row's shell node is a Slurm job"

# --executor slurm for an A/B test: every variant's process nodes are Slurm jobs.
cat > ab.json <<JSON
{"testId": "slurm-ab", "repeats": 1, "quality": "work.score", "variants": [
  {"variantId": "one", "nodes": [{"id": "work", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo one >> $E2E_DIR/ab-effects.log; echo '{\"score\": 7}'"]}}]},
  {"variantId": "two", "nodes": [{"id": "work", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo two >> $E2E_DIR/ab-effects.log; echo '{\"score\": 5}'"]}}]}]}
JSON
expect_exit 0 "$COMFYRUN" abtest ab.json --executor slurm -o out-ab -q
[ "$(sort ab-effects.log | tr '\n' ' ')" = "one two " ] || fail "the A/B variants ran: $(cat ab-effects.log)"
ab_journal=$(ls out-ab/journals/*.jsonl)
[ "$(jq -s '[.[] | select(.type == "completed" and .where.executor == "slurm")] | length' "$ab_journal")" -eq 2 ] \
  || fail "abtest --executor slurm did not run every variant's shell node on Slurm: $(grep completed "$ab_journal")"
pass "abtest --executor slurm: every variant's shell node is a Slurm job"

# --- 3 -------------------------------------------------------------------------------------
cat > stop.json <<JSON
{"workflowId": "slurm-stop", "nodes": [
  {"id": "sleepy", "type": "shell", "timeout": "3s", "retry": 1, "inputs": {"argv": ["sleep", "300"]}},
  {"id": "quick", "type": "shell", "inputs": {"argv": ["echo", "quick"]}}]}
JSON
expect_exit 1 "$COMFYRUN" run stop.json --executor slurm --journal j/stop.jsonl --out out -q
id=$(job_id_of j/stop.jsonl sleepy)
wait_for_state "$id" CANCELLED || fail "the timed-out node's job $id is $(job_state "$id"), not CANCELLED"
jq -e -s '[.[] | select(.type == "completed" and .node == "quick")][0].outputs.slurm.jobId != null' j/stop.jsonl >/dev/null \
  || fail "--executor slurm did not send the shell node to Slurm"
cat > failfast.json <<JSON
{"workflowId": "slurm-failfast", "pools": {"heavy": {"executor": "slurm", "slots": 4}}, "nodes": [
  {"id": "long", "type": "shell", "pool": "heavy", "inputs": {"argv": ["sleep", "300"]}},
  {"id": "boom", "type": "shell", "retry": 1, "inputs": {"shell": true, "command": "sleep 2; exit 1"}}]}
JSON
expect_exit 1 "$COMFYRUN" run failfast.json --fail-fast --journal j/failfast.jsonl --out out -q
id=$(job_id_of j/failfast.jsonl long)
wait_for_state "$id" CANCELLED || fail "--fail-fast left job $id $(job_state "$id")"
pass "--executor slurm; a node timeout and --fail-fast scancel the job"

# --- 4 -------------------------------------------------------------------------------------
sigint_workflow() {  # $1 = name
  local n=()
  for i in 1 2 3; do
    n+=("{\"id\": \"w$i\", \"type\": \"shell\", \"pool\": \"heavy\", \"inputs\": {\"shell\": true, \"command\": \"sleep 3; echo w$i >> $E2E_DIR/$1-effects.log\"}}")
  done
  local IFS=,
  echo "{\"workflowId\": \"$1\", \"pools\": {\"heavy\": {\"executor\": \"slurm\", \"slots\": 4}}, \"nodes\": [${n[*]}]}"
}
sigint_workflow detach > detach.json
"$COMFYRUN" run detach.json --journal j/detach.jsonl --out out -q 2> detach.err &
pid=$!
wait_for_ids j/detach.jsonl 3
kill -INT $pid
set +e; wait $pid; code=$?; set -e
[ "$code" -eq 130 ] || fail "SIGINT: exit $code, expected 130: $(tail -3 detach.err)"
for node in w1 w2 w3; do
  id=$(job_id_of j/detach.jsonl $node)
  case "$(job_state "$id")" in CANCELLED*) fail "SIGINT cancelled $node's job $id; it should detach" ;; esac
done
expect_exit 0 "$COMFYRUN" resume j/detach.jsonl -q
for node in w1 w2 w3; do
  [ "$(grep -cx $node detach-effects.log)" -eq 1 ] || fail "after SIGINT and resume, $node ran $(grep -cx $node detach-effects.log) times"
  [ "$(jq -s "[.[] | select(.type == \"submitted\" and .node == \"$node\" and (.submission.jobId == null))] | length" j/detach.jsonl)" -eq 1 ] \
    || fail "resume submitted $node again instead of re-attaching"
done
sigint_workflow cancel > cancel.json
"$COMFYRUN" run cancel.json --cancel-remote --journal j/cancel.jsonl --out out -q 2> cancel.err &
pid=$!
wait_for_ids j/cancel.jsonl 3
kill -INT $pid
set +e; wait $pid; code=$?; set -e
[ "$code" -eq 130 ] || fail "SIGINT with --cancel-remote: exit $code"
for node in w1 w2 w3; do
  id=$(job_id_of j/cancel.jsonl $node)
  wait_for_state "$id" CANCELLED || fail "--cancel-remote left $node's job $id $(job_state "$id")"
done
pass "SIGINT detaches (resume re-attaches, each job once); --cancel-remote scancels"

# --- 5 -------------------------------------------------------------------------------------
for c in a b; do
  ffmpeg -loglevel error -f lavfi -i "testsrc=size=160x120:rate=10:duration=1" -pix_fmt yuv420p "$E2E_DIR/clip-$c.mp4"
done
media_workflow() {  # $1 = pool entry for the nodes ("" for local)
  cat <<JSON
{"workflowId": "media", "pools": {"heavy": {"executor": "slurm", "slots": 2}}, "nodes": [
  {"id": "stitch", "type": "video_stitch", $1 "inputs": {"videoPaths": ["$E2E_DIR/clip-a.mp4", "$E2E_DIR/clip-b.mp4"]}},
  {"id": "probe", "type": "media_probe", $1 "inputs": {"path": "<<stitch.videoPath>>", "minDuration": 1.5}}]}
JSON
}
media_workflow "" > media-local.json
media_workflow '"pool": "heavy",' > media-slurm.json
expect_exit 0 "$COMFYRUN" run media-local.json --journal j/media-local.jsonl --out out-local -q
expect_exit 0 "$COMFYRUN" run media-slurm.json --journal j/media-slurm.jsonl --out out -q
local_file=$(jq -r -s '[.[] | select(.type == "completed" and .node == "stitch")][0].outputs.videoPath' j/media-local.jsonl)
slurm_file=$(jq -r -s '[.[] | select(.type == "completed" and .node == "stitch")][0].outputs.videoPath' j/media-slurm.jsonl)
case "$local_file" in /*) ;; *) local_file=out-local/${local_file#*/} ;; esac
jq -e -s '[.[] | select(.type == "completed" and .node == "stitch")][0].outputs.slurm.jobId != null' j/media-slurm.jsonl >/dev/null \
  || fail "video_stitch did not run on Slurm"
cmp "$(resolve_output out-local "$local_file")" "$(resolve_output out "$slurm_file")" \
  || fail "video_stitch on Slurm wrote a different file than locally"
pass "video_stitch and media_probe on Slurm (exec-node): the same file as a local run"

# --- 2, its end ----------------------------------------------------------------------------
set +e; wait $LIMITS_PID; code=$?; set -e
[ "$code" -eq 1 ] || fail "the limits run exited $code, expected 1: $(tail -3 limits.err)"
msg=$(jq -r -s '[.[] | select(.type == "attempt_failed" and .node == "bad")][0].message' j/limits.jsonl)
case "$msg" in *"exited with code 3"*"last lines of its log"*the-reason-it-failed*) ;;
  *) fail "the failed job's error lacks its log's last lines: $msg" ;; esac
err=$(jq -r -s '[.[] | select(.type == "attempt_failed" and .node == "slow")][0] | "\(.error) \(.message)"' j/limits.jsonl)
case "$err" in Timeout*TIMEOUT*) ;; *) fail "the job past its time limit ended: $err" ;; esac
pass "a failing job's error has its log's last lines; a job past its time limit is a Timeout"
