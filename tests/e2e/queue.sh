#!/usr/bin/env bash
# fal and replicate nodes end to end against `comfyrun_fakes queue` (tests/support/fake_queue):
# success on both providers with a file passed on as a data: URI; a failed request reported
# with the provider's message; keys checked before anything starts; kill -9 during a batch of
# 20 jobs, then resume: exactly 20 submissions; an expired result (OutputExpired naming the
# request, then --resubmit-expired paying again); a 429 storm that the run rides out; plan's
# rate-limit line; --offline placeholders.
source "$(dirname "$0")/support/lib.sh"
export COMFYRUN_POLL_INTERVAL=0.1

# start_fake_queue NAME [ARGS...]: starts `comfyrun_fakes queue ARGS`; sets FAL_<NAME> and
# REPLICATE_<NAME> to the servers' URLs and exports the keys.
start_fake_queue() {
  local name=$1 out
  shift
  out=$(mktemp "$E2E_DIR/fake-queue.XXXXXX")
  "$COMFYRUN_FAKES" queue "$@" > "$out" 2>>"$E2E_DIR/fakes.err" &
  BG_PIDS+=($!)
  for _ in $(seq 200); do [ -s "$out" ] && break; sleep 0.05; done
  [ -s "$out" ] || fail "fake queue servers did not start: $(cat "$E2E_DIR/fakes.err")"
  printf -v "FAL_$name" '%s' "$(jq -r .fal "$out")"
  printf -v "REPLICATE_$name" '%s' "$(jq -r .replicate "$out")"
  FAL_KEY=$(jq -r .falKey "$out"); REPLICATE_API_TOKEN=$(jq -r .replicateKey "$out")
  export FAL_KEY REPLICATE_API_TOKEN
}
stat_of() { curl -sf "$1/_fake/stats" | jq -r ".$2"; }
use() { export FAL_BASE_URL=$1 REPLICATE_BASE_URL=$2; }

start_fake_queue A --job-seconds 0.3
use "$FAL_A" "$REPLICATE_A"

# --- success, with the image passed on to the next model as a data: URI --------------------
cat > ok.json <<'EOF'
{"workflowId": "queue-ok", "nodes": [
  {"id": "img", "type": "fal", "inputs": {"model": "fal-ai/flux/schnell", "input": {"prompt": "a fox"}, "costPerRun": 0.003}},
  {"id": "vid", "type": "replicate", "inputs": {"model": "kwaivgi/kling-v2.1",
    "input": {"prompt": "[video] the fox runs", "start_image": "<<img.imagePath>>"}, "costPerRun": 0.25}}]}
EOF
expect_exit 0 "$COMFYRUN" run ok.json --journal j-ok.jsonl -q
jq -e -s '[.[] | select(.type == "completed")] | length == 2' j-ok.jsonl >/dev/null || fail "both nodes complete"
img=$(jq -r -s '.[] | select(.type == "completed" and .node == "img") | .outputs.imagePath' j-ok.jsonl)
vid=$(jq -r -s '.[] | select(.type == "completed" and .node == "vid") | .outputs.videoPath' j-ok.jsonl)
[ -s "$img" ] && [ -s "$vid" ] || fail "downloaded files exist ($img, $vid)"
jq -e -s '[.[] | select(.type == "submitted")] | length == 2 and all(.submission.requestId | startswith("req-"))' j-ok.jsonl >/dev/null \
  || fail "both request ids are journaled"
jq -e -s '[.[] | select(.type == "run_finished")][0].totalCost | . > 0.252 and . < 0.254' j-ok.jsonl >/dev/null \
  || fail "cost counts both nodes"
! grep -q "$FAL_KEY" j-ok.jsonl || fail "the fal key leaked into the journal"
pass "fal image, then a replicate video from it"

# --- failure with the provider's message ------------------------------------------------------
cat > bad.json <<'EOF'
{"workflowId": "queue-bad", "nodes": [
  {"id": "crash", "type": "fal", "inputs": {"model": "fal-ai/flux/dev", "input": {"prompt": "[fail]"}},
   "retry": {"maximumAttempts": 2, "initialInterval": "0.1s"}}]}
EOF
before=$(stat_of "$FAL_A" accepted)
expect_exit 1 "$COMFYRUN" run bad.json --journal j-bad.jsonl -q
jq -e -s '[.[] | select(.type == "node_failed")][0] | .error == "Execution" and (.message | test("CUDA out of memory"))' j-bad.jsonl >/dev/null \
  || fail "the failure carries fal's message: $(grep node_failed j-bad.jsonl)"
[ "$(stat_of "$FAL_A" accepted)" -eq $((before + 2)) ] || fail "one submission per attempt (a failed request is over)"
pass "a failed request is reported with the provider's message"

# --- keys before anything starts --------------------------------------------------------------
before=$(stat_of "$FAL_A" accepted)
FAL_KEY= expect_exit 2 "$COMFYRUN" run ok.json --journal j-nokey.jsonl -q
grep -q FAL_KEY last.err || fail "the missing key is named: $(cat last.err)"
[ "$(stat_of "$FAL_A" accepted)" -eq "$before" ] || fail "nothing was submitted without a key"
pass "a missing FAL_KEY stops the run before anything starts"

# --- kill -9 during a batch of 20, resume: exactly 20 submissions -------------------------------
start_fake_queue B --job-seconds 3
use "$FAL_B" "$REPLICATE_B"
nodes=()
for i in $(seq 1 20); do
  nodes+=("{\"id\": \"n$i\", \"type\": \"fal\", \"inputs\": {\"model\": \"fal-ai/flux/schnell\", \"input\": {\"prompt\": \"image $i\"}}}")
done
(IFS=,; echo "{\"workflowId\": \"queue-batch\", \"pools\": {\"fal\": 20}, \"nodes\": [${nodes[*]}]}") > batch.json
"$COMFYRUN" run batch.json --journal j-batch.jsonl -q 2>j-batch.err >/dev/null &
pid=$!
wait_for_lines '"type":"submitted"' j-batch.jsonl 20
[ "$(grep -c '"type":"submitted"' j-batch.jsonl)" -eq 20 ] || fail "20 submissions journaled before the kill"
[ "$(grep -c '"type":"completed"' j-batch.jsonl || true)" -lt 20 ] || fail "the batch was still running at the kill"
kill -9 $pid; wait $pid 2>/dev/null || true
expect_exit 0 "$COMFYRUN" resume j-batch.jsonl -q
[ "$(jq -s '[.[] | select(.type == "completed")] | length' j-batch.jsonl)" -eq 20 ] || fail "all 20 complete after resume"
[ "$(stat_of "$FAL_B" accepted)" -eq 20 ] || fail "fal saw $(stat_of "$FAL_B" accepted) submissions, expected exactly 20"
pass "kill -9 during 20 jobs, resume: exactly 20 submissions"

# --- an expired result: OutputExpired naming the request, then --resubmit-expired -----------------
start_fake_queue C --job-seconds 0.5 --result-ttl 0
use "$FAL_C" "$REPLICATE_C"
cat > exp.json <<'EOF'
{"workflowId": "queue-expired", "nodes": [
  {"id": "late", "type": "fal", "inputs": {"model": "fal-ai/flux/schnell", "input": {"prompt": "late"}, "costPerRun": 0.003, "pollInterval": 5}}]}
EOF
"$COMFYRUN" run exp.json --journal j-exp.jsonl -q 2>j-exp.err >/dev/null &
pid=$!
wait_for_lines '"type":"submitted"' j-exp.jsonl 1
kill -9 $pid; wait $pid 2>/dev/null || true
id=$(jq -r -s '[.[] | select(.type == "submitted")][0].submission.requestId' j-exp.jsonl)
sleep 1  # the job completes and its result expires while nothing runs
expect_exit 1 "$COMFYRUN" resume j-exp.jsonl -q
jq -e -s --arg id "$id" '[.[] | select(.type == "node_failed")][-1] | .error == "OutputExpired" and (.message | contains($id))' j-exp.jsonl >/dev/null \
  || fail "OutputExpired names $id: $(grep node_failed j-exp.jsonl)"
[ "$(stat_of "$FAL_C" accepted)" -eq 1 ] || fail "an expired result is never resubmitted silently"
curl -sf -X POST "$FAL_C/_fake/ttl?seconds=3600" >/dev/null
expect_exit 0 "$COMFYRUN" resume j-exp.jsonl -q --resubmit-expired
[ "$(stat_of "$FAL_C" accepted)" -eq 2 ] || fail "--resubmit-expired submits once more"
jq -e -s '[.[] | select(.type == "completed")][0] | .cost > 0.0059 and .cost < 0.0061' j-exp.jsonl >/dev/null \
  || fail "the cost shows both payments: $(grep '"completed"' j-exp.jsonl)"
jq -e -s '[.[] | select(.type == "run_finished")][-1].totalCost | . > 0.0059 and . < 0.0061' j-exp.jsonl >/dev/null \
  || fail "the run's cost counts each payment once: $(grep run_finished j-exp.jsonl)"
pass "expired result: OutputExpired naming $id; --resubmit-expired pays again"

# --- a 429 storm ---------------------------------------------------------------------------------
start_fake_queue D --job-seconds 0.2
use "$FAL_D" "$REPLICATE_D"
nodes=()
for i in $(seq 1 20); do
  nodes+=("{\"id\": \"s$i\", \"type\": \"replicate\", \"inputs\": {\"model\": \"owner/model\", \"input\": {\"prompt\": \"storm $i\"}}, \"retry\": {\"maximumAttempts\": 20, \"initialInterval\": \"0.2s\"}}")
done
(IFS=,; echo "{\"workflowId\": \"queue-storm\", \"nodes\": [${nodes[*]}]}") > storm.json
curl -sf -X POST "$REPLICATE_D/_fake/force429?n=15&retryAfter=1" >/dev/null
expect_exit 0 "$COMFYRUN" run storm.json --journal j-storm.jsonl -q
[ "$(stat_of "$REPLICATE_D" accepted)" -eq 20 ] || fail "20 predictions after the storm"
[ "$(stat_of "$REPLICATE_D" rejected429)" -eq 15 ] || fail "429s: $(stat_of "$REPLICATE_D" rejected429)"
grep -q '"error":"RateLimited"' j-storm.jsonl || fail "the 429s are journaled as RateLimited"
pass "a storm of 15 429s: every node completes, 20 predictions"

# --- plan shows what a rate imposes; offline placeholders ---------------------------------------------
cat > rated.json <<'EOF'
{"workflowId": "queue-rated", "pools": {"fal": {"concurrency": 10, "rate": "120/min"}}, "nodes": [
  {"id": "a", "type": "fal", "inputs": {"model": "fal-ai/flux/schnell"}},
  {"id": "b", "type": "fal", "inputs": {"model": "fal-ai/flux/schnell"}},
  {"id": "c", "type": "fal", "inputs": {"model": "fal-ai/kling-video/v2.1/standard/image-to-video", "input": {"duration": 2}}}]}
EOF
expect_exit 0 "$COMFYRUN" plan rated.json
grep -q 'rate limit: pool fal starts 3 nodes at 2/s' last.out || fail "plan shows the rate limit: $(cat last.out)"
cat > badrate.json <<'EOF'
{"workflowId": "queue-badrate", "pools": {"fal": {"rate": "lots"}}, "nodes": [{"id": "a", "type": "value", "inputs": {}}]}
EOF
expect_exit 2 "$COMFYRUN" validate badrate.json
grep -q 'pools.fal.rate' last.err || grep -q 'pools.fal.rate' last.out || fail "a bad rate is named by its path: $(cat last.err last.out)"
FAL_KEY= expect_exit 0 "$COMFYRUN" run rated.json --offline --journal j-off.jsonl -q
jq -e -s '[.[] | select(.type == "completed")] | map(.outputs) | (map(select(.imagePath != null)) | length) == 2 and (map(select(.videoPath != null)) | length) == 1' j-off.jsonl >/dev/null \
  || fail "offline placeholders by kind"
pass "plan shows the rate limit; --offline renders placeholders by kind"
