#!/usr/bin/env bash
# ComfyUI WebSocket events through the binary. With the poll interval set to 30 s, comfyui nodes
# still finish within seconds: the fake's /ws events tell comfyrun when to look at /history.
# On a terminal (a pty made by `script`), the status line shows the running ComfyUI node's
# progress ("EmptyImage #1 2/4 on 127.0.0.1:PORT").
source "$(dirname "$0")/support/lib.sh"
: "${COMFYRUN_FAKES:?set COMFYRUN_FAKES to the comfyrun_fakes binary}"
"$COMFYRUN_FAKES" comfyui 2 > fake.txt 2>fake.err &
BG_PIDS+=($!)
for _ in $(seq 200); do grep -q listening fake.txt 2>/dev/null && break; sleep 0.05; done
COMFYUI_FAKE=$(grep -o 'http://[0-9.:]*' fake.txt || true)
[ -n "$COMFYUI_FAKE" ] || fail "fake ComfyUI server did not start: $(cat fake.err)"
export COMFYRUN_POLL_INTERVAL=30s

workflow() {  # workflow FILE N: N comfyui nodes with distinct graphs (no server-side cache hits)
  local file=$1 n=$2 nodes=() i
  for i in $(seq "$n"); do
    nodes+=("{\"id\": \"img$i\", \"type\": \"comfyui\", \"inputs\": {\"workflow\": {
      \"1\": {\"class_type\": \"EmptyImage\", \"inputs\": {\"width\": 64, \"height\": 64, \"batch_size\": 1, \"color\": 0}},
      \"2\": {\"class_type\": \"SaveImage\", \"inputs\": {\"images\": [\"1\", 0], \"filename_prefix\": \"ev\"}}},
      \"set\": {\"1.color\": $((RANDOM * 32 + i))}}}")
  done
  local IFS=,
  echo "{\"workflowId\": \"comfy-events\", \"nodes\": [${nodes[*]}]}" > "$file"
}

# 1. Four nodes on a 2-slot server: each would wait 30 s for its first poll without events.
workflow four.json 4
# (expect_exit allows 120 s; 20 s is the bound that proves the events did the work.)
expect_exit 0 timeout 20 "$COMFYRUN" run four.json --comfyui "$COMFYUI_FAKE#slots=2" --journal j/four.jsonl -q
for i in 1 2 3 4; do
  jq -e -s "map(select(.type==\"completed\" and .node==\"img$i\"))[0].outputs.imagePath" j/four.jsonl >/dev/null ||
    fail "img$i has no image"
done
pass "comfyui events: 4 nodes done in under 20 s with a 30 s poll interval"

# 2. The status line on a terminal shows per-node progress from the events.
workflow one.json 1
set +e
TERM=xterm timeout 20 script -qfec "$COMFYRUN run one.json --comfyui $COMFYUI_FAKE --journal j/one.jsonl" /dev/null \
  > tty.out 2>&1
code=$?
set -e
[ "$code" -eq 0 ] || { cat tty.out >&2; fail "run on a pty exited $code"; }
grep -aq 'img1 (EmptyImage #1 [0-9]/4 on 127\.0\.0\.1:' tty.out ||
  { tr '\r' '\n' < tty.out >&2; fail "the status line never showed ComfyUI node progress"; }
pass "comfyui events: the status line shows 'EmptyImage #1 n/4' while the prompt runs"

# 2b. In a log (not a terminal), the node's first progress is a plain line.
workflow log.json 1
expect_exit 0 timeout 20 "$COMFYRUN" run log.json --comfyui "$COMFYUI_FAKE" --journal j/log.jsonl
grep -q '^\[0/1\] progress img1: EmptyImage #1 [0-9]/4 on 127\.0\.0\.1:' last.err ||
  fail "no plain progress line in the log: $(cat last.err)"
[ "$(grep -c ' progress img1: EmptyImage #1 [0-9]/4' last.err)" -eq 1 ] ||
  fail "the step counter was not throttled to one line per 10 s: $(cat last.err)"
pass "comfyui events: a log gets a progress line per phase, counters at most every 10 s"

# 3. With the sockets off, the same run relies on polling alone (here at 0.05 s).
workflow off.json 2
COMFYRUN_COMFYUI_WS=off COMFYRUN_POLL_INTERVAL=0.05 \
  expect_exit 0 timeout 20 "$COMFYRUN" run off.json --comfyui "$COMFYUI_FAKE" --journal j/off.jsonl -q
pass "comfyui events: COMFYRUN_COMFYUI_WS=off runs on polling alone"
