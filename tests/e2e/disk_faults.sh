#!/usr/bin/env bash
# Files and disks:
#   - node outputs named by the user cannot leave --out: a video_stitch output "../../x.mp4" is
#     refused by validate and run (exit 2, nothing run); one made by a template fails the node
#     at once (InvalidInput, no retry) and writes nothing outside; resume refuses a journal
#     whose runId would name a folder outside --out (exit 2);
#   - an output directory that cannot be written is refused before anything is spent (exit 2,
#     the fakes count no submission): a path under a regular file, and (as a non-root user,
#     since root bypasses permissions) a chmod 0500 directory;
#   - a file size limit (prlimit --fsize; comfyrun ignores SIGXFSZ so writes fail with EFBIG)
#     reached while writing the journal, or while downloading an artifact, stops or fails the
#     run with a clear error and leaves a journal that resumes to the end once the limit is
#     lifted, with no prompt submitted twice;
#   - the same with a really full disk (a small tmpfs: ENOSPC), where mounting one is allowed.
source "$(dirname "$0")/support/lib.sh"
export COMFYRUN_POLL_INTERVAL=0.05
start_fake_providers
start_fake_comfyui 2

# --- paths that escape --out ---
cat > escape.json <<'EOF'
{"workflowId": "escape", "nodes": [
  {"id": "stitch", "type": "video_stitch", "inputs": {"videoPaths": ["a.mp4"], "output": "../../escaped.mp4"}}]}
EOF
expect_exit 2 "$COMFYRUN" validate escape.json
grep -q 'stitch' last.err && grep -q 'inputs.output' last.err && grep -q "inside the node's folder" last.err \
  || fail "validate should name the node, the JSON path and the rule: $(cat last.err)"
expect_exit 2 "$COMFYRUN" run escape.json --out gen-escape
[ ! -d gen-escape/journals ] || [ -z "$(ls gen-escape/journals)" ] || fail "an invalid workflow left a journal"
cat > escape-template.json <<'EOF'
{"workflowId": "escape-template", "nodes": [
  {"id": "name", "type": "value", "inputs": {"file": "../../../../escaped.mp4"}},
  {"id": "stitch", "type": "video_stitch", "inputs": {"videoPaths": ["a.mp4"], "output": "<<name.file>>"},
   "retry": {"maximumAttempts": 5, "initialInterval": "10ms"}}]}
EOF
expect_exit 1 "$COMFYRUN" run escape-template.json --out gen --json  # gen/runs/ID/stitch/../../../../ = here
journal=$(jq -r .journal last.out)
jq -s -e 'map(select(.node == "stitch" and .type == "node_started")) | length == 1' "$journal" >/dev/null || fail "the escaping node was retried"
jq -s -e 'map(select(.node == "stitch" and .type == "attempt_failed"))[0] | .error == "InvalidInput" and (.message | test("inside the node.s folder"))' "$journal" >/dev/null \
  || fail "expected InvalidInput naming the rule: $(jq -c 'select(.type == "attempt_failed")' "$journal")"
[ -z "$(find "$E2E_DIR" -name escaped.mp4)" ] || fail "a file was written outside the node's folder"
# A journal whose runId would lead out of --out (damaged or hand-made) is refused by resume.
jq -c 'if .type == "header" then .runId = "../../../tampered" else . end' "$journal" > tampered.jsonl
expect_exit 2 "$COMFYRUN" resume tampered.jsonl
grep -q "not a plain name" last.err || fail "resume of a tampered runId: $(cat last.err)"
[ -z "$(find "$E2E_DIR" -name 'tampered*' -type d)" ] || fail "a folder was made for the tampered runId"
pass "an output name that leaves --out: exit 2 at validate; from a template, the node fails at once (InvalidInput); a journal whose runId leaves --out: exit 2"

# --- an output directory that cannot be written: exit 2 before anything is spent ---
cat > paid.json <<'EOF'
{"workflowId": "paid", "nodes": [
  {"id": "img", "type": "character_image", "inputs": {"characterPrompt": "disk test image", "model": "nanobanana"}},
  {"id": "veo", "type": "video_generation", "inputs": {"prompt": "disk test veo", "model": "veo3-fast", "duration": 4}}]}
EOF
submissions() { curl -sf "$GEMINI_FAKE/_fake/stats" | jq .totalSubmissions; }
touch a-file
expect_exit 2 "$COMFYRUN" run paid.json --out a-file/out
grep -q "a-file/out" last.err || fail "the error should name the directory: $(cat last.err)"
[ "$(submissions)" -eq 0 ] || fail "something was submitted"
if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
  chmod 0755 "$E2E_DIR"
  mkdir -p readonly && chmod 0555 readonly
  chmod 0644 paid.json
  expect_exit 2 setpriv --reuid=65534 --regid=65534 --clear-groups "$COMFYRUN" run paid.json --out readonly/gen
  grep -q "readonly/gen" last.err || fail "the error should name the directory: $(cat last.err)"
  mkdir -p readonly2/gen && chmod 0555 readonly2/gen
  expect_exit 2 setpriv --reuid=65534 --regid=65534 --clear-groups "$COMFYRUN" run paid.json --out readonly2/gen
  grep -qi "not writable\|permission denied" last.err || fail "the error should say why: $(cat last.err)"
  [ "$(submissions)" -eq 0 ] || fail "something was submitted"
  pass "unwritable --out (under a file; chmod 0555 as user nobody): exit 2, nothing submitted"
else
  pass "unwritable --out under a regular file: exit 2, nothing submitted (setpriv unavailable: permission case not run)"
fi

# --- file size limit while writing the journal: stop cleanly, resume once lifted ---
make_shell_workflow() {
  local nodes=() i
  for i in $(seq 1 120); do nodes+=("{\"id\": \"s$i\", \"type\": \"shell\", \"inputs\": {\"argv\": [\"sh\", \"-c\", \"echo s$i >> $E2E_DIR/effects.log\"]}}"); done
  local IFS=,
  echo "{\"workflowId\": \"fsize\", \"nodes\": [${nodes[*]}]}"
}
make_shell_workflow > fsize.json
"$COMFYRUN" validate fsize.json >/dev/null 2>&1 || fail "fsize.json is invalid"
header_bytes=$( { "$COMFYRUN" run fsize.json --out probe-out --journal probe.jsonl -q -j 4 >/dev/null 2>&1 || true; head -n 1 probe.jsonl | wc -c; } )
rm -f "$E2E_DIR/effects.log"
limit=$((header_bytes + 6000))
set +e
prlimit --fsize=$limit "$COMFYRUN" run fsize.json --out gen-fsize --journal j/fsize.jsonl -q -j 4 >fsize.out 2>fsize.err
code=$?
set -e
[ $code -ne 0 ] && [ $code -lt 128 ] || [ $code -eq 130 ] || fail "with a full journal the run exited $code (killed by a signal?): $(tail -3 fsize.err)"
grep -qi "cannot write the journal.*too large" fsize.err || fail "expected a clear journal error: $(tail -5 fsize.err)"
size=$(stat -c %s j/fsize.jsonl)
[ "$size" -le "$limit" ] || fail "the journal ($size bytes) passed the limit ($limit)"
expect_exit 0 "$COMFYRUN" status j/fsize.jsonl --json
done_before=$(jq .counts.completed last.out)
expect_exit 0 "$COMFYRUN" resume j/fsize.jsonl -q
check_journal_invariants j/fsize.jsonl
[ "$(sort -u effects.log | wc -l)" -eq 120 ] || fail "not every shell node ran"
pass "file size limit on the journal (exit $code, '$(grep -oi 'cannot write the journal[^;]*' fsize.err | head -1 | sed "s|$E2E_DIR/||")'): resume finished the other $((120 - done_before)) nodes"

# --- file size limit while downloading an artifact: the node fails clearly, resume fetches it ---
cat > big.json <<'EOF'
{"workflowId": "big", "defaults": {"retry": {"maximumAttempts": 2, "initialInterval": "10ms"}}, "nodes": [
  {"id": "big", "type": "comfyui", "inputs": {"workflow": {
     "1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512, "batch_size": 1, "color": 5}},
     "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "big"}}}}}]}
EOF
prompts_before=$(accepted "$COMFYUI_FAKE" "POST /prompt")
set +e
prlimit --fsize=200000 "$COMFYRUN" run big.json --comfyui "$COMFYUI_FAKE" --journal j/big.jsonl -q >big.out 2>big.err
code=$?
set -e
[ $code -eq 1 ] || fail "a download past the size limit should fail the node (exit 1), got $code: $(tail -3 big.err)"
jq -s -e 'map(select(.type == "attempt_failed")) | length > 0 and all(.message | test("too large"; "i"))' j/big.jsonl >/dev/null \
  || fail "expected 'file too large' in the failure: $(jq -c 'select(.type == "attempt_failed") | .message' j/big.jsonl)"
expect_exit 0 "$COMFYRUN" resume j/big.jsonl -q
image=$(jq -r 'select(.type == "completed") | .outputs.imagePath' j/big.jsonl)
[ "$(stat -c %s "$image")" -gt 700000 ] || fail "the image is not whole: $(stat -c %s "$image") bytes"
ffprobe -v error "$image" || fail "the image does not decode"
[ $(( $(accepted "$COMFYUI_FAKE" "POST /prompt") - prompts_before )) -eq 1 ] || fail "the prompt was submitted more than once"
pass "file size limit during a download: the node failed with 'file too large', resume fetched the whole image, one prompt"

# --- a really full disk (ENOSPC) on a small tmpfs, where this machine lets us mount one ---
mkdir -p tmpfs-out
if unshare -m sh -c "mount -t tmpfs -o size=64k tmpfs '$E2E_DIR/tmpfs-out'" 2>/dev/null; then
  # One mount namespace for the whole story: fill, fail, grow the disk, resume, copy out.
  unshare -m sh -c "
    mount -t tmpfs -o size=${TMPFS_KB:-40}k tmpfs '$E2E_DIR/tmpfs-out' || exit 90
    '$COMFYRUN' run fsize.json --out '$E2E_DIR/tmpfs-out' -q -j 4 > '$E2E_DIR/enospc.out' 2> '$E2E_DIR/enospc.err'
    echo \$? > '$E2E_DIR/enospc.code'
    mount -o remount,size=16m '$E2E_DIR/tmpfs-out' || exit 91
    '$COMFYRUN' resume \$(ls '$E2E_DIR'/tmpfs-out/journals/*.jsonl) -q 2> '$E2E_DIR/enospc-resume.err'
    echo \$? > '$E2E_DIR/enospc-resume.code'
    cp '$E2E_DIR'/tmpfs-out/journals/*.jsonl '$E2E_DIR/enospc.jsonl'
  " || fail "tmpfs story failed ($?)"
  code=$(cat enospc.code)
  [ "$code" -ne 0 ] && { [ "$code" -lt 128 ] || [ "$code" -eq 130 ]; } || fail "on a full disk the run exited $code: $(tail -3 enospc.err)"
  grep -qi "disk full\|no space" enospc.err || fail "expected a clear 'disk full' error: $(tail -5 enospc.err)"
  [ "$(cat enospc-resume.code)" -eq 0 ] || fail "resume after the disk grew exited $(cat enospc-resume.code): $(tail -3 enospc-resume.err)"
  check_journal_invariants enospc.jsonl
  pass "full tmpfs (ENOSPC): exit $code with '$(grep -oi 'disk full\|no space[^;]*' enospc.err | head -1)', resume finished after the disk grew"
else
  pass "full tmpfs: not run (this machine does not allow mounting a tmpfs in a mount namespace)"
fi
