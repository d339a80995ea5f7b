#!/usr/bin/env bash
# The media module (comfyrun_media.so) is loaded only when a media operation runs: commands
# that need no media work without it, a run that needs it and cannot load it stops before
# anything starts with a message saying which file and how to fix it, and a binary copied
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

# A run that needs the module and cannot load it stops before anything starts (exit 2): a
# paid image that could not be checked would fail and its retry would pay again.
expect_exit 2 env COMFYRUN_MEDIA_MODULE="$missing" "$COMFYRUN" run media.json --offline --json -o out-missing
grep -qF "$missing" last.err || fail "the message does not name $missing: $(cat last.err)"
grep -q "COMFYRUN_MEDIA_MODULE" last.err || fail "the message gives no fix: $(cat last.err)"
grep -q "node img (character_image) needs the media module; nothing was run" last.err || fail "$(cat last.err)"
[ -z "$(ls out-missing/journals 2>/dev/null)" ] || fail "a journal was started: $(ls out-missing/journals)"
pass "a run that needs the module and cannot load it stops first (exit 2), naming $missing and the fix"

# Something that is not a module.
echo "not a library" > bogus.so
expect_exit 2 env COMFYRUN_MEDIA_MODULE="$E2E_DIR/bogus.so" "$COMFYRUN" run media.json --offline -q
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
expect_exit 2 bin/comfyrun run media.json --offline -q
grep -qF "$E2E_DIR/bin/comfyrun_media.so" last.err || fail "copied binary: $(cat last.err)"
grep -q "keep it next to the comfyrun binary" last.err || fail "copied binary, no fix given: $(cat last.err)"
expect_exit 0 env COMFYRUN_MEDIA_MODULE="$module" bin/comfyrun run media.json --offline -q
pass "a copied binary names bin/comfyrun_media.so; COMFYRUN_MEDIA_MODULE points it at the module"
