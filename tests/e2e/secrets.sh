#!/usr/bin/env bash
# Secrets: with distinctive provider keys set, workflows of image, Veo, Sora, ComfyUI and http
# nodes run against the fakes, with successes, blocked content, injected faults and their
# retries, a wrong key, and Veo downloads redirected to another port. Then no key appears in
# any file under --out (journals, metrics, artifacts), on stdout or stderr of run, resume and
# status. Keys are not sent across hosts: the fake's redirect target saw no Gemini key, and an
# http node's Authorization header reaches a redirect on the same host and port but not one to
# another port or to "localhost" (hosts are compared by name: 127.0.0.1 and localhost differ).
source "$(dirname "$0")/support/lib.sh"
export COMFYRUN_POLL_INTERVAL=0.05
GKEY="gk-SECRET-7f3a9c1e5d-gemini-DO-NOT-LEAK"
SKEY="sk-SECRET-4b8d2e6f0a-sora-DO-NOT-LEAK"
WRONG_KEY="gk-SECRET-0c0ffee123-wrong-DO-NOT-LEAK"
HTTP_TOKEN="http-SECRET-9e8d7c6b5a-token-DO-NOT-LEAK"
start_fake_providers --gemini-key "$GKEY" --sora-key "$SKEY" \
  --faults "share=0.25,kinds=429,500,reset,truncate,seed=11,retry_after=0"
[ "$GEMINI_API_KEY" = "$GKEY" ] && [ "$OPENAI_API_KEY" = "$SKEY" ] || fail "the fakes did not take the keys"
start_fake_comfyui 1
start_http_server other; OTHER_PORT=$HTTP_PORT; OTHER_HEADERS=$HTTP_HEADERS
start_http_server
curl -sf -X POST --data '{"on": true}' "$GEMINI_FAKE/_fake/redirect" >/dev/null || fail "cannot turn on download redirects"

redirect() { echo "http://127.0.0.1:$HTTP_PORT/redirect?to=$1"; }
http_node() {  # ID URL
  echo "{\"id\": \"$1\", \"type\": \"http\", \"inputs\": {\"url\": \"$2\", \"headers\": {\"Authorization\": \"Bearer $HTTP_TOKEN\"}}}"
}
cat > secrets.json <<EOF
{"workflowId": "secrets",
 "defaults": {"retry": {"maximumAttempts": 10, "initialInterval": "50ms", "maximumInterval": "200ms"},
              "timeout": {"attempt": "5s"}},
 "nodes": [
  {"id": "img", "type": "character_image", "inputs": {"characterPrompt": "secret test image", "model": "nanobanana"}},
  {"id": "blocked", "type": "character_image", "inputs": {"characterPrompt": "secret test [blocked]", "model": "nanobanana"}},
  {"id": "veo", "type": "video_generation", "inputs": {"prompt": "secret test veo", "model": "veo3-fast", "duration": 4,
                                                       "characterImagePath": "<<img.characterImagePath>>"}},
  {"id": "sora", "type": "sora2_video", "inputs": {"prompt": "secret test sora", "model": "sora-2", "duration": 4}},
  {"id": "comfy", "type": "comfyui", "inputs": {"workflow": {
     "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 7}},
     "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "secret"}}}}},
  $(http_node same_host "$(redirect "http://127.0.0.1:$HTTP_PORT/json?hop=same")"),
  $(http_node other_port "$(redirect "http://127.0.0.1:$OTHER_PORT/json?hop=other-port")"),
  $(http_node other_name "$(redirect "http://localhost:$HTTP_PORT/json?hop=other-name")")
 ]}
EOF

# Run (a node fails: exit 1), resume (the failed node fails again), status, a wrong key.
expect_exit 1 "$COMFYRUN" run secrets.json --comfyui "$COMFYUI_FAKE" --json
cp last.out run.out; cp last.err run.err
journal=$(jq -r .journal run.out)
jq -e '.failed | length == 1 and .[0].node == "blocked"' run.out >/dev/null || fail "expected only 'blocked' to fail: $(cat run.out) $(tail -5 run.err)"
expect_exit 1 "$COMFYRUN" resume "$journal" --json
cp last.out resume.out; cp last.err resume.err
expect_exit 0 "$COMFYRUN" status "$journal"
cp last.out status.out; cp last.err status.err
expect_exit 0 "$COMFYRUN" status "$journal" --json
cp last.out status-json.out; cp last.err status-json.err
expect_exit 1 env GEMINI_API_KEY="$WRONG_KEY" "$COMFYRUN" run secrets.json --comfyui "$COMFYUI_FAKE" --json
cp last.out wrong.out; cp last.err wrong.err
jq -e '[.failed[].error] | any(test("Auth"))' wrong.out >/dev/null || fail "a wrong key should fail with Auth: $(cat wrong.out)"

# The keys did their work (the fakes refuse anything else), and faults made retries happen.
jq -s -e 'map(select(.type == "completed")) | map(.node) | (index("img") and index("veo") and index("sora") and index("comfy"))' "$journal" >/dev/null \
  || fail "the generation nodes did not complete"
retries=$(jq -c 'select(.type == "attempt_failed")' "$journal" | wc -l)
[ "$retries" -gt 0 ] || fail "no attempt failed: the faults did not happen"
[ "$(curl -sf "$GEMINI_FAKE/_fake/stats" | jq .redirectSawKey)" = false ] || fail "the Veo download redirect target received the Gemini key"

# No key anywhere: every file under the output dir, stdout and stderr of every command.
leaks=$(grep -rlF -e "$GKEY" -e "$SKEY" -e "$WRONG_KEY" generated ./*.out ./*.err 2>/dev/null || true)
[ -z "$leaks" ] || fail "a key leaked into: $leaks"
files=$(find generated -type f | wc -l)
# The http token was written into the workflow, so the journal's copy of the workflow holds
# it (documented); it must not reach output, metrics or errors.
leaks=$(grep -rlF -e "$HTTP_TOKEN" generated/metrics ./*.out ./*.err 2>/dev/null || true)
[ -z "$leaks" ] || fail "the http token leaked into: $leaks"
pass "no key in $files files under generated/ nor in run/resume/status output ($retries retried attempts, wrong-key run included)"

# Authorization reached the first hop and a same-origin redirect, and nothing else.
jq -s -e --arg t "Bearer $HTTP_TOKEN" 'map(select(.path | startswith("/json?hop=same"))) | length > 0 and all(.headers.Authorization == $t)' \
  "$HTTP_HEADERS" >/dev/null || fail "the same-origin redirect did not carry the Authorization header"
jq -s -e 'map(select(.path | startswith("/json?hop=other-name"))) | length > 0 and all(.headers | has("Authorization") | not)' \
  "$HTTP_HEADERS" >/dev/null || fail "the redirect to localhost carried the Authorization header"
jq -s -e 'length > 0' "$OTHER_HEADERS" >/dev/null || fail "the redirect to another port never arrived"
! grep -qF -e "$HTTP_TOKEN" -e "$GKEY" -e "$SKEY" "$OTHER_HEADERS" || fail "the server on another port received a credential"
pass "credentials stay on their host: same-origin redirect keeps Authorization; another port or host name gets none; the Veo redirect target saw no key"
