#!/usr/bin/env bash
# comfyrun doctor against the fakes: one ComfyUI server up, one down (a closed port), one that
# accepts and never answers (bounded by --timeout), a missing key, a key from .env, an
# unwritable output folder and a missing media module. Checks the exit codes (0 when all
# that is configured works, warnings allowed; 1 otherwise), one line per check with a fix
# for each problem, --json, and that a key's value never appears anywhere.
source "$(dirname "$0")/support/lib.sh"
for v in GEMINI_API_KEY GOOGLE_API_KEY OPENAI_API_KEY SORA2_API_KEY GEMINI_BASE_URL OPENAI_BASE_URL \
         SORA2_ENDPOINT COMFYUI_URL COMFYRUN_MODELS COMFYRUN_MEDIA_MODULE; do unset "$v"; done
KEY="gk-SECRET-doctor-3e1f9a77c2-DO-NOT-LEAK"
ENV_KEY="sk-SECRET-doctor-dotenv-55aa10b7-DO-NOT-LEAK"

start_fake_comfyui 1
UP=$COMFYUI_FAKE
# The Gemini endpoint: the test HTTP server (it sends a Date header, so the clock is compared).
start_http_server
export GEMINI_BASE_URL="http://127.0.0.1:$HTTP_PORT"
export GEMINI_API_KEY="$KEY"
# A closed port: bound, then released.
DOWN_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DOWN="http://127.0.0.1:$DOWN_PORT"
# A server that accepts connections and never answers.
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(300)' "$E2E_DIR/silent-port" &
BG_PIDS+=($!)
for _ in $(seq 100); do [ -s "$E2E_DIR/silent-port" ] && break; sleep 0.05; done
SILENT="http://127.0.0.1:$(cat "$E2E_DIR/silent-port")"

no_key_anywhere() {
  ! grep -rqF -e "$KEY" -e "$ENV_KEY" last.out last.err || fail "a key appears in doctor's output: $(cat last.out last.err)"
  ! grep -qF -e "$KEY" -e "$ENV_KEY" "$HTTP_HEADERS" || fail "a key was sent to the endpoint: $(cat "$HTTP_HEADERS")"
}
line() {  # line STATUS CHECK: the line of that check, which must have that status
  grep -E "^$1 +$2: " last.out || fail "no '$1 ... $2:' line in: $(cat last.out)"
}

# 1. Everything configured works: the up server, a writable folder; OPENAI_API_KEY missing is
#    only a warning (--offline runs need no key).
expect_exit 0 env COMFYUI_URL="$UP" "$COMFYRUN" doctor -o out
line ok "key GEMINI_API_KEY" | grep -q "GEMINI_API_KEY is set (environment); http://127.0.0.1:$HTTP_PORT answers" ||
  fail "key line: $(cat last.out)"
line warning "key OPENAI_API_KEY" | grep -q "missing.*; fix: set OPENAI_API_KEY or SORA2_API_KEY in the environment or in ./.env" ||
  fail "missing key line: $(cat last.out)"
line ok "media module" | grep -Eq "comfyrun_media.so loads; FFmpeg .*libavcodec [0-9]+\.[0-9]+\.[0-9]+" ||
  fail "media line: $(cat last.out)"
line ok "comfyui $UP" | grep -q "ComfyUI 0.3.64, GPU cpu (.* VRAM free), queue 0 running, 0 pending" ||
  fail "comfyui line: $(cat last.out)"
line ok "output directory out" | grep -q "does not exist yet; .* is writable, .* free" || fail "out line: $(cat last.out)"
[ ! -e out ] || fail "doctor created the output directory"
line ok clock | grep -q "within 2 s of http://127.0.0.1:$HTTP_PORT (its Date header)" || fail "clock line: $(cat last.out)"
line ok "model table" >/dev/null
[ "$(wc -l < last.out)" -eq 7 ] || fail "expected 7 lines, one per check: $(cat last.out)"
no_key_anywhere
pass "all configured works: exit 0, one line per check, a missing key is a warning with its fix"

# 2. One server up, one down, one silent: exit 1; the down one says how to fix it; the silent
#    one is given up after --timeout.
expect_exit 1 env COMFYUI_URL="$UP,$DOWN" "$COMFYRUN" doctor -o out --comfyui "$SILENT" --timeout 1
line ok "comfyui $UP" >/dev/null
line error "comfyui $DOWN" | grep -q "unreachable (.*); fix: start the server, or remove it from COMFYUI_URL / --comfyui" ||
  fail "down server line: $(cat last.out)"
line error "comfyui $SILENT" | grep -q "no answer within 1 s" || fail "silent server line: $(cat last.out)"
no_key_anywhere
pass "a server down and a silent one are errors (exit 1), bounded by --timeout"

# 3. --json: the same checks as one document.
expect_exit 1 env COMFYUI_URL="$UP,$DOWN" "$COMFYRUN" doctor -o out --json
jq -e --arg down "comfyui $DOWN" '.ok == false and .summary.error == 1
  and (.checks[] | select(.check == $down) | .status == "error" and (.fix | length > 0))
  and ([.checks[] | select(.status == "ok")] | length) >= 5' last.out >/dev/null || fail "--json: $(cat last.out)"
no_key_anywhere
pass "--json has every check, status and fix"

# A server URL with a password (ComfyUI behind basic auth): shown without it.
expect_exit 1 "$COMFYRUN" doctor -o out --comfyui "http://doctor:pw-SECRET-5150@127.0.0.1:$DOWN_PORT"
line error "comfyui $DOWN" >/dev/null
! grep -q "pw-SECRET-5150" last.out last.err || fail "a URL's password is printed: $(cat last.out)"
pass "a server URL's password is never printed"

# 4. An output folder that cannot be written (root writes through permissions: use /proc).
if [ "$(id -u)" -eq 0 ]; then ro=/proc/comfyrun-doctor-out; else mkdir ro; chmod 555 ro; ro=$E2E_DIR/ro; fi
expect_exit 1 "$COMFYRUN" doctor -o "$ro"
line error "output directory $ro" | grep -q "fix: make .* writable for this user (chmod u+w), or choose another folder with -o/--out" ||
  fail "unwritable folder line: $(cat last.out)"
echo x > afile
expect_exit 1 "$COMFYRUN" doctor -o afile/out
line error "output directory afile/out" | grep -q "is not a directory" || fail "file in the way: $(cat last.out)"
pass "an unwritable output folder is an error with its fix"

# 5. A key from .env counts, and is not printed either; no ComfyUI configured is fine.
unset GEMINI_API_KEY
echo "OPENAI_API_KEY=$ENV_KEY" > .env
expect_exit 0 env OPENAI_BASE_URL="http://127.0.0.1:$HTTP_PORT/v1" "$COMFYRUN" doctor -o out
line ok "key OPENAI_API_KEY" | grep -q "OPENAI_API_KEY is set (./.env)" || fail ".env key: $(cat last.out)"
line warning "key GEMINI_API_KEY" >/dev/null
line ok comfyui | grep -q "no server configured" || fail "no comfyui: $(cat last.out)"
no_key_anywhere
rm .env
pass "a key from .env is found and not printed"

# 6. The media module missing, and a model alias pointing to a retired model: errors.
echo '{"aliases": {"old-veo": "veo-2.0-generate-001"}}' > models.json
expect_exit 1 env COMFYRUN_MEDIA_MODULE="$E2E_DIR/nowhere/comfyrun_media.so" COMFYRUN_MODELS=models.json \
  "$COMFYRUN" doctor -o out
line error "media module" | grep -q "nowhere/comfyrun_media.so.*; fix: " || fail "media line: $(cat last.out)"
line error "model alias old-veo" | grep -q "retired.*veo-3.1-generate-preview" || fail "alias line: $(cat last.out)"
pass "a missing media module and an alias to a retired model are errors"
