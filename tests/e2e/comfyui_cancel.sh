#!/usr/bin/env bash
# Checks of generated files, retries of deterministic failures, and what Ctrl-C does to remote
# work, through the binary (docs/guarantees.md "Retries of failed checks" and "Ctrl-C and
# remote jobs"):
#  1. a 438-byte valid PNG from the fake ComfyUI passes (outputs are checked by decoding);
#  2. an output that does not decode is OutputInvalid and, its graph's seeds being literal,
#     is not retried: exactly one prompt;
#  3. media_probe of a text file is OutputInvalid after exactly one attempt;
#  4. SIGINT leaves a running prompt on the server (no /interrupt); resume re-attaches to it
#     and the node completes with exactly one prompt;
#  5. SIGINT with --cancel-remote interrupts it, the journal records the cancel, and resume
#     submits the node afresh.
source "$(dirname "$0")/support/lib.sh"
export COMFYRUN_POLL_INTERVAL=0.05
start_fake_comfyui 1; C=$COMFYUI_FAKE
control() { curl -sf -X POST "$C/_fake/comfy" -d "$1" >/dev/null || fail "fake control $1"; }
stat_of() { curl -sf "$C/_fake/comfy" | jq -r ".$1"; }

graph() {  # graph FILE COLOR: one comfyui node
  echo "{\"workflowId\": \"comfy-checks\", \"defaults\": {\"retry\": {\"maximumAttempts\": 3, \"initialInterval\": \"100ms\"}},
   \"nodes\": [{\"id\": \"img\", \"type\": \"comfyui\", \"inputs\": {\"workflow\": {
    \"1\": {\"class_type\": \"EmptyImage\", \"inputs\": {\"width\": 64, \"height\": 64, \"batch_size\": 1, \"color\": $2}},
    \"2\": {\"class_type\": \"SaveImage\", \"inputs\": {\"images\": [\"1\", 0], \"filename_prefix\": \"chk\"}}}}}]}" > "$1"
}

# 1. A valid PNG of 438 bytes: accepted.
control '{"fault": "small_png", "count": 1}'
graph small.json 1
expect_exit 0 "$COMFYRUN" run small.json --comfyui "$C" --journal j/small.jsonl -q
png=$(jq -r -s 'map(select(.type=="completed"))[0].outputs.imagePath' j/small.jsonl)
[ "$(stat -c %s "$png")" -eq 438 ] || fail "expected the 438-byte PNG, got $(stat -c %s "$png") bytes"
pass "a valid 64x64 PNG of 438 bytes passes the output check"

# 2. An output that does not decode: OutputInvalid, one attempt, one prompt.
before=$(stat_of promptsSubmitted)
control '{"fault": "corrupt", "count": -1}'
graph corrupt.json 2
expect_exit 1 "$COMFYRUN" run corrupt.json --comfyui "$C" --journal j/corrupt.jsonl -q
control '{"fault": "none"}'
[ "$(grep -c '"type":"node_started"' j/corrupt.jsonl)" -eq 1 ] || fail "the corrupt output was retried"
jq -e -s 'map(select(.type=="node_failed"))[0] | .error == "OutputInvalid" and (.message | test("not retried"))' \
  j/corrupt.jsonl >/dev/null || fail "no OutputInvalid without retry: $(grep node_failed j/corrupt.jsonl)"
[ $(( $(stat_of promptsSubmitted) - before )) -eq 1 ] || fail "a deterministic graph ran more than once"
pass "an output that does not decode fails once, with one prompt (literal seeds: no retry)"

# 3. media_probe of a text file: one attempt.
echo "not a video" > notes.txt
echo "{\"workflowId\": \"probe-text\", \"defaults\": {\"retry\": {\"maximumAttempts\": 3, \"initialInterval\": \"100ms\"}},
  \"nodes\": [{\"id\": \"probe\", \"type\": \"media_probe\", \"inputs\": {\"path\": \"$PWD/notes.txt\"}}]}" > probe.json
expect_exit 1 "$COMFYRUN" run probe.json --journal j/probe.jsonl -q
[ "$(grep -c '"type":"node_started"' j/probe.jsonl)" -eq 1 ] || fail "media_probe of a text file ran $(grep -c node_started j/probe.jsonl) attempts"
jq -e -s 'map(select(.type=="node_failed"))[0].error == "OutputInvalid"' j/probe.jsonl >/dev/null || fail "not OutputInvalid"
pass "media_probe of a text file: OutputInvalid after exactly one attempt"

# 4. Ctrl-C detaches: the prompt runs on, resume re-attaches.
control '{"runSeconds": 3}'
graph detach.json 3
before=$(stat_of promptsSubmitted)
interrupts=$(stat_of interrupts)
"$COMFYRUN" run detach.json --comfyui "$C" --journal j/detach.jsonl -q 2>detach.err &
pid=$!
wait_for_lines '"type":"submitted"' j/detach.jsonl 2
kill -INT $pid
set +e; wait $pid; code=$?; set -e
[ "$code" -eq 130 ] || fail "interrupted run exited $code: $(cat detach.err)"
[ "$(stat_of interrupts)" -eq "$interrupts" ] || fail "Ctrl-C without --cancel-remote sent /interrupt"
jq -e -s 'map(select(.type=="attempt_failed"))[-1] | .submissionFinished == false and .details.detached == true' \
  j/detach.jsonl >/dev/null || fail "the detached prompt is not kept in the journal: $(grep attempt_failed j/detach.jsonl)"
expect_exit 0 "$COMFYRUN" resume j/detach.jsonl -q
[ $(( $(stat_of promptsSubmitted) - before )) -eq 1 ] || fail "resume submitted the detached prompt again"
pass "Ctrl-C leaves the prompt running; resume re-attaches (one prompt)"

# 5. Ctrl-C with --cancel-remote: /interrupt and the queue delete, the cancel journaled,
#    resume submits afresh.
graph cancel.json 4
before=$(stat_of promptsSubmitted)
interrupts=$(stat_of interrupts)
"$COMFYRUN" run cancel.json --comfyui "$C" --journal j/cancel.jsonl --cancel-remote -q 2>cancel.err &
pid=$!
wait_for_lines '"type":"submitted"' j/cancel.jsonl 2
kill -INT $pid
set +e; wait $pid; code=$?; set -e
[ "$code" -eq 130 ] || fail "interrupted run exited $code: $(cat cancel.err)"
[ "$(stat_of interrupts)" -gt "$interrupts" ] || fail "--cancel-remote sent no /interrupt"
jq -e -s 'map(select(.type=="attempt_failed"))[-1] | .submissionFinished == true and .details.cancelled == true' \
  j/cancel.jsonl >/dev/null || fail "the cancel is not journaled: $(grep attempt_failed j/cancel.jsonl)"
control '{"runSeconds": 0.2}'
expect_exit 0 "$COMFYRUN" resume j/cancel.jsonl -q
[ $(( $(stat_of promptsSubmitted) - before )) -eq 2 ] || fail "resume after a cancel did not submit afresh"
pass "Ctrl-C with --cancel-remote interrupts the prompt, journals the cancel; resume submits afresh"
