#!/usr/bin/env bash
# ComfyUI through the binary: a workflow of comfyui nodes on two fake servers (one slot each)
# runs; killed with SIGKILL after prompts were journaled, it resumes through /history and
# /queue without submitting any prompt twice. Every prompt id is journaled before its POST
# (docs/guarantees.md), so wherever the kill lands the fakes run exactly one prompt per node.
source "$(dirname "$0")/support/lib.sh"
export COMFYRUN_POLL_INTERVAL=0.05
start_fake_comfyui 1; A=$COMFYUI_FAKE
start_fake_comfyui 1; B=$COMFYUI_FAKE

nodes=()
for i in 1 2 3 4; do
  nodes+=("{\"id\": \"img$i\", \"type\": \"comfyui\", \"inputs\": {\"workflow\": {
    \"1\": {\"class_type\": \"EmptyImage\", \"inputs\": {\"width\": 64, \"height\": 64, \"batch_size\": 1, \"color\": 0}},
    \"2\": {\"class_type\": \"SaveImage\", \"inputs\": {\"images\": [\"1\", 0], \"filename_prefix\": \"e2e\"}}},
    \"set\": {\"1.color\": $((i * 1000))}}}")
done
IFS=, ; echo "{\"workflowId\": \"comfy-e2e\", \"nodes\": [${nodes[*]}]}" > comfy.json; unset IFS

prompts() { curl -s "$1/history" | jq 'length'; }

"$COMFYRUN" run comfy.json --comfyui "$A" --comfyui "$B" --journal j/c.jsonl -q 2>run.err &
pid=$!
wait_for_lines '"type":"submitted"' j/c.jsonl 1
kill -9 $pid; wait $pid 2>/dev/null || true
submitted=$(grep -c '"type":"submitted"' j/c.jsonl || true)
[ "$submitted" -ge 1 ] || fail "no prompt journaled before the kill: $(cat run.err)"
expect_exit 0 "$COMFYRUN" resume j/c.jsonl -q
# Wait until both fakes have finished everything, then count prompts: one per node.
sleep 1
total=$(( $(prompts "$A") + $(prompts "$B") ))
[ "$total" -eq 4 ] || fail "the fakes ran $total prompts for 4 nodes ($submitted records journaled before the kill)"
for i in 1 2 3 4; do
  jq -e -s "map(select(.type==\"completed\" and .node==\"img$i\"))[0].outputs.imagePath" j/c.jsonl >/dev/null || fail "img$i has no image"
done
pass "comfyui: kill -9 after $submitted journaled prompt records, resume re-attached; exactly 4 prompts for 4 nodes"
