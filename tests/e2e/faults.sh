#!/usr/bin/env bash
# Fault injection through the binary: the fake providers and ComfyUI servers fail a seeded 20%
# of their requests (429 with Retry-After, 500, 503, connection resets, stalls past the attempt
# timeout, truncated bodies; support/fault_plan.h). A workflow of image, Veo, Sora, ComfyUI and
# http nodes still finishes within its retry budget, and since a faulted request did no work
# on the fake, every provider submission the fakes accepted is one the journal recorded (no
# duplicate; Veo, Sora and image nodes submit exactly once). Then auth errors (401, 403 on
# every request): every node fails after exactly one attempt, with error Auth, and nothing is
# submitted.
source "$(dirname "$0")/support/lib.sh"
export COMFYRUN_POLL_INTERVAL=0.05
FAULTS="share=0.2,kinds=429,500,503,reset,stall,truncate,seed=${SEED:-7},retry_after=1,stall=7"
start_fake_providers --faults "$FAULTS"
start_fake_comfyui 2 --faults "$FAULTS"

make_workflow() {  # $1 = name
  local nodes=() i
  for i in 1 2 3 4; do
    nodes+=("{\"id\": \"img$i\", \"type\": \"character_image\", \"inputs\": {\"characterPrompt\": \"$1 img$i.\", \"model\": \"nanobanana\"}}")
  done
  for i in 1 2; do
    nodes+=("{\"id\": \"veo$i\", \"type\": \"video_generation\", \"inputs\": {\"prompt\": \"$1 veo$i.\", \"model\": \"veo3-fast\", \"duration\": 4, \"characterImagePath\": \"<<img$i.characterImagePath>>\"}}")
    nodes+=("{\"id\": \"sora$i\", \"type\": \"sora2_video\", \"inputs\": {\"prompt\": \"$1 sora$i.\", \"model\": \"sora-2\", \"duration\": 4}}")
  done
  for i in 1 2 3 4; do
    nodes+=("{\"id\": \"comfy$i\", \"type\": \"comfyui\", \"inputs\": {\"workflow\": {
      \"1\": {\"class_type\": \"EmptyImage\", \"inputs\": {\"width\": 64, \"height\": 64, \"batch_size\": 1, \"color\": $i}},
      \"2\": {\"class_type\": \"SaveImage\", \"inputs\": {\"images\": [\"1\", 0], \"filename_prefix\": \"$1\"}}}}}")
    nodes+=("{\"id\": \"http$i\", \"type\": \"http\", \"inputs\": {\"url\": \"$COMFYUI_FAKE/system_stats?n=$i\", \"extract\": {\"os\": \"system.os\"}}}")
  done
  local IFS=,
  echo "{\"workflowId\": \"$1\",
    \"defaults\": {\"retry\": {\"maximumAttempts\": 12, \"initialInterval\": \"100ms\", \"maximumInterval\": \"1s\"},
                   \"timeout\": {\"attempt\": \"5s\"}},
    \"nodes\": [${nodes[*]}]}"
}

# Records of one type in a journal, as JSON lines.
records() { jq -c --arg t "$2" 'select(.type == $t)' "$1"; }

# --- 20% faults: the run finishes, retries show in the journal, no duplicate submission ---
make_workflow faulty > faulty.json
expect_exit 0 "$COMFYRUN" run faulty.json --journal j/faulty.jsonl --comfyui "$COMFYUI_FAKE" -q
check_journal_invariants j/faulty.jsonl
attempt_counts j/faulty.jsonl
injected=$(( $(fake_stats "$GEMINI_FAKE" | jq .faults.faulted) + $(fake_stats "$SORA_FAKE" | jq .faults.faulted) + $(fake_stats "$COMFYUI_FAKE" | jq .faults.faulted) ))
retried=$(records j/faulty.jsonl attempt_failed | wc -l)
[ "$injected" -gt 0 ] || fail "no fault was injected"  # most are absorbed inside an attempt (a poll again)
# A ComfyUI prompt interrupted by our own attempt timeout is found so by the re-attaching retry
# (Execution, retried with a fresh prompt); anything else must be a transport-level type.
bad_types=$(records j/faulty.jsonl attempt_failed | jq -r 'select(.error != "Execution" or (.message | test("interrupted") | not)) | .error' \
  | grep -vx -e RateLimited -e Unavailable -e Timeout | sort -u || true)
[ -z "$bad_types" ] || fail "faults that should be retryable failed as: $bad_types"
records j/faulty.jsonl attempt_failed | jq -e 'select(.retryIn == null)' >/dev/null && fail "an attempt failed with no retry planned"
comfy_ids=0
while read -r node starts cut ids; do
  case $node in
    img*|veo*|sora*)
      subs=$( { curl -sf "$GEMINI_FAKE/_fake/stats"; curl -sf "$SORA_FAKE/_fake/stats"; } |
              jq -s --arg p "faulty $node." '[.[].submissions | to_entries[] | select(.key | contains($p)) | .value] | add // 0')
      # Faults are transport-level and come before the handler: each generation is submitted
      # once, and a retry after a failed poll or download re-attaches to it.
      [ "$subs" -eq 1 ] && [ "$ids" -le 1 ] || fail "$node: the fakes accepted $subs submissions, the journal recorded $ids ids" ;;
    comfy*) comfy_ids=$((comfy_ids + ids)) ;;
  esac
done < j/faulty.jsonl.attempts
comfy_subs=$(accepted "$COMFYUI_FAKE" "POST /prompt")
[ "$comfy_subs" -eq "$comfy_ids" ] || fail "ComfyUI accepted $comfy_subs prompts, the journal recorded $comfy_ids"
pass "20% faults ($injected injected, $retried attempts retried): all 16 nodes completed, every accepted submission journaled once"

# --- auth errors fail fast: one attempt, no retry, nothing submitted ---
for code in 401 403; do
  for url in "$GEMINI_FAKE" "$SORA_FAKE" "$COMFYUI_FAKE"; do
    curl -sf -X POST --data "share=1,kinds=$code" "$url/__faults" >/dev/null || fail "cannot set faults on $url"
  done
  gem_before=$(curl -sf "$GEMINI_FAKE/_fake/stats" | jq .totalSubmissions)
  sora_before=$(curl -sf "$SORA_FAKE/_fake/stats" | jq .totalSubmissions)
  comfy_before=$(accepted "$COMFYUI_FAKE" "POST /prompt")
  make_workflow auth$code > auth$code.json
  expect_exit 1 "$COMFYRUN" run auth$code.json --journal j/auth$code.jsonl --comfyui "$COMFYUI_FAKE" -q
  # Nodes that depend on a failed one are skipped; every other node failed on its one attempt.
  jq -s -e 'map(select(.type == "node_started")) | group_by(.node) | all(length == 1)' j/auth$code.jsonl >/dev/null \
    || fail "$code: a node was started more than once: $(jq -c 'select(.type == "node_started")' j/auth$code.jsonl)"
  jq -s -e 'map(select(.type == "attempt_failed")) | length > 0 and all(.error == "Auth" and .retryIn == null)' j/auth$code.jsonl >/dev/null \
    || fail "$code: expected Auth failures with no retry: $(records j/auth$code.jsonl attempt_failed | jq -c '{node, error, message}')"
  started=$(records j/auth$code.jsonl node_started | wc -l)
  failed=$(records j/auth$code.jsonl node_failed | wc -l)
  [ "$started" -eq "$failed" ] && [ "$started" -ge 12 ] || fail "$code: $started nodes started, $failed failed"
  [ "$(curl -sf "$GEMINI_FAKE/_fake/stats" | jq .totalSubmissions)" -eq "$gem_before" ] \
    && [ "$(curl -sf "$SORA_FAKE/_fake/stats" | jq .totalSubmissions)" -eq "$sora_before" ] \
    && [ "$(accepted "$COMFYUI_FAKE" "POST /prompt")" -eq "$comfy_before" ] || fail "$code: something was submitted"
  pass "$code on every request: $failed nodes failed on their first attempt with Auth, no retry, nothing submitted"
done
