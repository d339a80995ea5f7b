#!/usr/bin/env bash
# The media module (comfyrun_media.so) is loaded only when a media operation runs: commands
# that need no media work without it, a media node that cannot load it fails like any other
# node failure with a message saying which file and how to fix it, and a binary copied
# without it can be pointed at it with COMFYRUN_MEDIA_MODULE.
source "$(dirname "$0")/support/lib.sh"

module="$(dirname "$COMFYRUN")/comfyrun_media.so"
[ -f "$module" ] || fail "$module was not built next to $COMFYRUN"
# The executable itself does not link libav (that is the point of the module).
if ldd "$COMFYRUN" | grep -q 'libav'; then fail "comfyrun links libav: $(ldd "$COMFYRUN" | grep libav)"; fi
pass "comfyrun_media.so is built next to comfyrun, which does not link libav"

# An offline image, then a probe of it: offline rendering, the image check and media_probe
# all go through the module.
cat > media.json <<'JSON'
{"workflowId": "e2e-media-module", "defaults": {"retry": {"maximumAttempts": 1}}, "nodes": [
  {"id": "img", "type": "character_image", "inputs": {"prompt": "a lighthouse", "aspectRatio": "1:1"}},
  {"id": "probe", "type": "media_probe", "inputs": {"path": "<<img.imagePath>>", "hasVideo": true}}
]}
JSON

missing="$E2E_DIR/nowhere/comfyrun_media.so"
expect_exit 0 env COMFYRUN_MEDIA_MODULE="$missing" "$COMFYRUN" --version
expect_exit 0 env COMFYRUN_MEDIA_MODULE="$missing" "$COMFYRUN" validate media.json
expect_exit 0 env COMFYRUN_MEDIA_MODULE="$missing" "$COMFYRUN" plan media.json --offline
pass "--version, validate and plan work without the module"

# The first media operation (the offline render of img) fails; probe is skipped.
expect_exit 1 env COMFYRUN_MEDIA_MODULE="$missing" "$COMFYRUN" run media.json --offline --json
jq -e '.status == "failed" and .failed[0].node == "img"' last.out >/dev/null || fail "summary: $(cat last.out)"
journal=$(jq -r .journal last.out)
failed=$(jq -c -s 'map(select(.type == "node_failed" and .node == "img"))[0]' "$journal")
printf '%s' "$failed" | jq -e '.error == "Internal"' >/dev/null || fail "failure record: $failed"
msg=$(printf '%s' "$failed" | jq -r .message)
case "$msg" in *"$missing"*COMFYRUN_MEDIA_MODULE*) ;; *) fail "message does not name the file and the fix: $msg" ;; esac
grep -qF "$missing" last.err || fail "the message is not on stderr: $(cat last.err)"
pass "a media operation without the module fails (exit 1, Internal) naming $missing and the fix"

# Something that is not a module.
echo "not a library" > bogus.so
expect_exit 1 env COMFYRUN_MEDIA_MODULE="$E2E_DIR/bogus.so" "$COMFYRUN" run media.json --offline -q
grep -q "bogus.so" last.err || fail "bogus module: $(cat last.err)"
pass "a file that is not a module is refused with its name"

# With the module next to the binary: the whole graph runs, the probe sees the image.
expect_exit 0 "$COMFYRUN" run media.json --offline --json
journal=$(jq -r .journal last.out)
jq -e -s 'map(select(.type == "completed" and .node == "probe"))[0].outputs | .width == 1024 and .hasVideo' \
  "$journal" >/dev/null || fail "probe outputs: $(grep probe "$journal")"
pass "with the module next to the binary: offline render, image check and media_probe run"

# A binary copied without its module says what to keep next to it; the variable fixes it.
mkdir bin
cp "$COMFYRUN" bin/comfyrun
expect_exit 1 bin/comfyrun run media.json --offline -q
grep -qF "$E2E_DIR/bin/comfyrun_media.so" last.err || fail "copied binary: $(cat last.err)"
grep -q "keep it next to the comfyrun binary" last.err || fail "copied binary, no fix given: $(cat last.err)"
expect_exit 0 env COMFYRUN_MEDIA_MODULE="$module" bin/comfyrun run media.json --offline -q
pass "a copied binary names bin/comfyrun_media.so; COMFYRUN_MEDIA_MODULE points it at the module"
