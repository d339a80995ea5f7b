#!/usr/bin/env bash
# Hostile input through the built binary: special files (/dev/zero, a FIFO with no writer, a
# directory, a socket), empty and binary files, invalid UTF-8, deep nesting, huge numbers,
# duplicate keys, unclosed references, bad URLs and settings, for validate, plan, run
# --offline, resume, status, report, trace and gc.
#
# Each case runs in a fresh working directory and asserts: an exit code of 0, 1 or 2 (the one
# expected; never 124 = hung, nor 128+N = killed by a signal), a message, no sanitizer report,
# and that nothing was written outside --out: the working directory holds nothing but ./out
# afterwards (cases marked "nothing written" not even that), and the shared inputs are
# unchanged.
#
# Run by ctest with COMFYRUN and COMFYRUN_SOURCE_DIR set, or by hand:
#   COMFYRUN=build/comfyrun COMFYRUN_SOURCE_DIR=$PWD bash tests/e2e/hostile_input.sh
set -uo pipefail

: "${COMFYRUN:?set COMFYRUN to the comfyrun binary}"
: "${COMFYRUN_SOURCE_DIR:?set COMFYRUN_SOURCE_DIR to the repository}"
CR=$(realpath "$COMFYRUN")
GRAPHS="$COMFYRUN_SOURCE_DIR/graphs"
export COMFYRUN_POLL_INTERVAL=0.05
unset COMFYUI_URL GEMINI_API_KEY GOOGLE_API_KEY OPENAI_API_KEY SORA2_API_KEY COMFYRUN_MODELS || true

TMP=$(mktemp -d)
cleanup() {
  [ -n "${SOCKET_PID:-}" ] && kill "$SOCKET_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
IN="$TMP/in"
mkdir -p "$IN"

failures=0
cases=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

listing() { (cd "$1" && find . -mindepth 1 | LC_ALL=C sort); }

# t NAME CODE PATTERN CMD...: runs CMD (in a fresh directory, stdin from /dev/null, 20 s at
# most) and checks its exit code is CODE (a regex such as "2" or "0|1"), that its stdout or
# stderr matches the extended regex PATTERN, and what it wrote. NOTHING=1 before t: not even
# ./out may appear.
t() {
  local name=$1 codes=$2 pattern=$3
  shift 3
  cases=$((cases + 1))
  local dir
  dir=$(mktemp -d "$TMP/case.XXXXXX")
  local before_in
  before_in=$(listing "$IN")
  local code=0
  (cd "$dir" && exec timeout -k 5 20 "$@" </dev/null >"$TMP/stdout" 2>"$TMP/stderr") || code=$?
  local shown
  shown=$(cat "$TMP/stdout" "$TMP/stderr" | head -c 2000)
  if [ "$code" -ge 124 ]; then
    fail "$name: exit $code (hung or killed by a signal)"
  elif ! [[ "$code" =~ ^($codes)$ ]]; then
    fail "$name: exit $code, expected $codes"
  fi
  # grep reads the files itself: `cat ... | grep -q` under pipefail fails at random when grep
  # stops at the first match and cat, with more to write (a trace), dies of SIGPIPE.
  if ! grep -Eq -- "$pattern" "$TMP/stdout" "$TMP/stderr"; then
    fail "$name: output does not match /$pattern/"
  fi
  if grep -Eq "Sanitizer|runtime error:|terminate called|Assertion .* failed" "$TMP/stderr"; then
    fail "$name: sanitizer report or abort"
  fi
  local stray
  if [ "${NOTHING:-0}" = 1 ]; then
    stray=$(listing "$dir")
  else
    stray=$(listing "$dir" | grep -v -e '^\./out$' -e '^\./out/' || true)
  fi
  [ -z "$stray" ] || fail "$name: wrote outside --out: $(echo "$stray" | head -3 | tr '\n' ' ')"
  [ "$(listing "$IN")" = "$before_in" ] || fail "$name: changed the input folder"
  if [ "$failures" -gt "${reported:-0}" ]; then
    reported=$failures
    echo "$shown" | head -6 | sed 's/^/  output: /' >&2
  fi
  rm -rf "$dir"
}

# --- inputs ---------------------------------------------------------------------------------
mkfifo "$IN/fifo"
mkdir "$IN/dir"
: >"$IN/empty"
printf '   \n\t\n' >"$IN/blank"
head -c 4096 /dev/zero | tr '\0' '\377' >"$IN/ff"
printf '{"workflowId":"u","nodes":[{"id":"a","type":"value","inputs":{"x":"\xc3\x28 \xff"}}]}' >"$IN/bad_utf8.json"
head -c 100000 /dev/zero | tr '\0' '[' >"$IN/deep.json"
printf '\x00\x01binary\x00' >"$IN/nul.json"
SOCKET_PID=""
if python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$IN/socket" 2>/dev/null; then
  :
fi
wf() { printf '%s' "$2" >"$IN/$1"; }
wf huge_number.json '{"workflowId":"h","nodes":[{"id":"a","type":"value","inputs":{"x":1e400}}]}'
wf huge_int.json '{"workflowId":"h","nodes":[{"id":"a","type":"value","inputs":{"x":123456789012345678901234567890}}]}'
wf huge_retry.json '{"workflowId":"h","nodes":[{"id":"a","type":"value","inputs":{"x":1},"retry":99999999999999999999}]}'
wf dup_node.json '{"workflowId":"d","nodes":[{"id":"a","id":"b","type":"value","inputs":{"x":1}}]}'
wf dup_inputs.json '{"workflowId":"d","nodes":[{"id":"a","type":"value","inputs":{"x":1,"x":2}}]}'
wf dup_top.json '{"workflowId":"d","description":"one","description":"two","nodes":[{"id":"a","type":"value","inputs":{"x":1}}]}'
wf unclosed.json '{"workflowId":"u","nodes":[{"id":"img_x","type":"value","inputs":{"path":"p"}},
  {"id":"b","type":"value","inputs":{"t":"hello <<img_x.path and more"}}]}'
wf unclosed_brace.json '{"workflowId":"u","nodes":[{"id":"img_x","type":"value","inputs":{"path":"p"}},
  {"id":"b","type":"value","inputs":{"t":"hello {{img_x[0] and more"}}]}'
wf shift_text.json '{"workflowId":"s","nodes":[{"id":"a","type":"value","inputs":{"t":"1 << 2.5 and a << b"}}]}'
wf escaped.json '{"workflowId":"s","nodes":[{"id":"a","type":"value","inputs":{"t":"write \\<<x.y to quote"}}]}'
long_id=$(head -c 10000 /dev/zero | tr '\0' 'n')
wf long_id.json "{\"workflowId\":\"l\",\"nodes\":[{\"id\":\"$long_id\",\"type\":\"value\",\"inputs\":{\"x\":1}}]}"
wf long_wfid.json "{\"workflowId\":\"$long_id\",\"nodes\":[{\"id\":\"a\",\"type\":\"value\",\"inputs\":{\"x\":1}}]}"
wf giant_index.json '{"workflowId":"g","nodes":[{"id":"a","type":"value","inputs":{"x":[1]}},
  {"id":"b","type":"value","inputs":{"y":"<<a.x[99999999999999999999]>>"}}]}'
wf timeout_zero.json '{"workflowId":"t","nodes":[{"id":"a","type":"shell","inputs":{"argv":["true"]},"timeout":"0s"}]}'
wf timeout_total.json '{"workflowId":"t","nodes":[{"id":"a","type":"shell","inputs":{"argv":["true"]},
  "timeout":{"attempt":"10m","total":"1m"}}]}'
wf comfyui.json '{"workflowId":"c","nodes":[{"id":"c1","type":"comfyui","inputs":{"workflow":{"3":{"class_type":"KSampler","inputs":{}}}}}]}'
wf unknown_model.json '{"workflowId":"m","nodes":[{"id":"img","type":"character_image","inputs":{"prompt":"a cat","model":"zzzz-qqqq-9000"}}]}'
wf literal_empty.json '{"workflowId":"e","nodes":[{"id":"v","type":"video_generation","inputs":{"prompt":"  ","model":"veo3-fast"}}]}'
wf not_object.json '[1,2,3]'
wf no_nodes.json '{"workflowId":"n"}'
wf trailing.json '{"workflowId":"n","nodes":[]} {"again":1}'
wf http_closed.json '{"workflowId":"h","nodes":[{"id":"h","type":"http","inputs":{"url":"http://127.0.0.1:9/x"},"retry":1}]}'
wf ab_missing.json '{"testId":"t","variants":[{"variantId":"a","graph":"no-such-graph.json"},{"variantId":"b","graph":"no-such-graph.json"}]}'

# A real journal, from an offline run of the quickstart (free), and damaged copies of it.
(cd "$TMP" && timeout 120 "$CR" run "$GRAPHS/quickstart.json" --offline -q --out "$TMP/made" \
  --journal "$IN/good.jsonl" >/dev/null 2>&1) || fail "setup: the offline quickstart run failed"
rm -f "$IN/good.jsonl.lock"
head -c 100 "$IN/good.jsonl" >"$IN/torn_header.jsonl"
head -n 1 "$IN/good.jsonl" >"$IN/header_only.jsonl"
{ cat "$IN/good.jsonl"; printf '\xff\xfe garbage \x00\n{"type":\n'; } >"$IN/garbage_tail.jsonl"
{ head -n 1 "$IN/good.jsonl"; head -c 100000 /dev/zero | tr '\0' '['; echo; } >"$IN/deep_line.jsonl"
printf '{"type":"header","format":1}\n' >"$IN/thin_header.jsonl"
printf 'not json at all\n' >"$IN/text.jsonl"
cp "$IN/good.jsonl" "$IN/fifo_lock.jsonl"
mkfifo "$IN/fifo_lock.jsonl.lock"
mkdir -p "$IN/gc_out/journals" "$IN/gc_out/runs"
mkfifo "$IN/gc_out/journals/fifo.jsonl"
cp "$IN/ff" "$IN/gc_out/journals/ff.jsonl"
cp "$IN/torn_header.jsonl" "$IN/gc_out/journals/torn.jsonl"
ln -s /dev/zero "$IN/gc_out/journals/zero.jsonl"
ln -s /dev/zero "$IN/zero_link.json"

NOT_REGULAR="not a regular file|is a directory"

# --- special files, for every command that reads a file ---------------------------------------
for cmd in validate plan; do
  t "$cmd /dev/zero" 2 "$NOT_REGULAR" "$CR" $cmd /dev/zero
  t "$cmd FIFO" 2 "FIFO" "$CR" $cmd "$IN/fifo"
  t "$cmd directory" 2 "is a directory" "$CR" $cmd "$IN/dir"
  t "$cmd empty file" 2 "empty" "$CR" $cmd "$IN/empty"
  t "$cmd 0xFF bytes" 2 "not valid JSON" "$CR" $cmd "$IN/ff"
  t "$cmd missing file" 2 "no such file" "$CR" $cmd "$IN/no-such-file.json"
done
t "validate a symlink to /dev/zero" 2 "character device" "$CR" validate "$IN/zero_link.json"
[ -S "$IN/socket" ] && t "validate a socket" 2 "socket" "$CR" validate "$IN/socket"
t "validate blank file" 2 "empty" "$CR" validate "$IN/blank"
t "validate NUL bytes" 2 "binary data" "$CR" validate "$IN/nul.json"
NOTHING=1 t "run --offline /dev/zero" 2 "$NOT_REGULAR" "$CR" run /dev/zero --offline --out out
NOTHING=1 t "run --offline FIFO" 2 "FIFO" "$CR" run "$IN/fifo" --offline --out out
NOTHING=1 t "run --offline directory" 2 "is a directory" "$CR" run "$IN/dir" --offline --out out
NOTHING=1 t "run --offline empty file" 2 "empty" "$CR" run "$IN/empty" --offline --out out
NOTHING=1 t "run --offline 0xFF bytes" 2 "not valid JSON" "$CR" run "$IN/ff" --offline --out out

for cmd in resume status trace; do
  extra=()
  [ $cmd = resume ] && extra=(--out out --offline)
  NOTHING=1 t "$cmd /dev/zero" 2 "$NOT_REGULAR" "$CR" $cmd /dev/zero "${extra[@]}"
  NOTHING=1 t "$cmd FIFO" 2 "FIFO" "$CR" $cmd "$IN/fifo" "${extra[@]}"
  NOTHING=1 t "$cmd directory" 2 "is a directory" "$CR" $cmd "$IN/dir" "${extra[@]}"
  NOTHING=1 t "$cmd empty journal" 2 "empty|no header" "$CR" $cmd "$IN/empty" "${extra[@]}"
  NOTHING=1 t "$cmd 0xFF journal" 2 "header|journal|line" "$CR" $cmd "$IN/ff" "${extra[@]}"
  NOTHING=1 t "$cmd torn header" 2 "header" "$CR" $cmd "$IN/torn_header.jsonl" "${extra[@]}"
  NOTHING=1 t "$cmd text file" 2 "header|journal|JSON" "$CR" $cmd "$IN/text.jsonl" "${extra[@]}"
  NOTHING=1 t "$cmd missing journal" 2 "no such file" "$CR" $cmd "$IN/no-such.jsonl" "${extra[@]}"
done
[ -S "$IN/socket" ] && NOTHING=1 t "resume a socket" 2 "socket" "$CR" resume "$IN/socket" --out out
NOTHING=1 t "report /dev/zero" 2 "$NOT_REGULAR" "$CR" report /dev/zero --html r.html
NOTHING=1 t "report FIFO" 2 "FIFO" "$CR" report "$IN/fifo" --html r.html
NOTHING=1 t "report directory" 2 "is a directory" "$CR" report "$IN/dir" --html r.html
NOTHING=1 t "report empty" 2 "neither|empty" "$CR" report "$IN/empty" --html r.html
NOTHING=1 t "report 0xFF" 2 "neither" "$CR" report "$IN/ff" --html r.html

# Damaged journals: a clear answer (any of 0, 1, 2), never a crash or a hang.
for j in garbage_tail deep_line thin_header header_only; do
  t "status $j" "0|1|2" "." "$CR" status "$IN/$j.jsonl"
  t "trace $j" "0|1|2" "." "$CR" trace "$IN/$j.jsonl"
done
t "report garbage_tail" "0|2" "." "$CR" report "$IN/garbage_tail.jsonl" --html -
t "status of a journal whose lock file is a FIFO" 0 "completed|finished|succeeded" "$CR" status "$IN/fifo_lock.jsonl"
t "status of a good journal" 0 "completed|finished|succeeded" "$CR" status "$IN/good.jsonl"
t "gc of an out folder with a FIFO, /dev/zero and garbage journals" "0|1|2" "." \
  "$CR" gc --older-than 0s --dry-run --out "$IN/gc_out"

# --- JSON oddities -----------------------------------------------------------------------------
t "invalid UTF-8 in a string" 2 "UTF-8|not valid JSON" "$CR" validate "$IN/bad_utf8.json"
t "100,000 nested [" 2 "nested deeper" "$CR" validate "$IN/deep.json"
t "a number beyond double" 2 "1e400|number|out of range|overflow" "$CR" validate "$IN/huge_number.json"
t "an integer beyond 64 bits" "0|2" "valid|integer|number" "$CR" validate "$IN/huge_int.json"
t "retry of 20 digits" 2 "retry" "$CR" validate "$IN/huge_retry.json"
t "a document that is not an object" 2 "JSON object" "$CR" validate "$IN/not_object.json"
t "a workflow without nodes" 2 "no \"nodes\"" "$CR" validate "$IN/no_nodes.json"
t "text after the document" 2 "not valid JSON" "$CR" validate "$IN/trailing.json"
t "duplicate key in a node" 2 "nodes\\[0\\]\\.id: key 'id' is given more than once" "$CR" validate "$IN/dup_node.json"
t "duplicate key in inputs" 2 "nodes\\[0\\]\\.inputs\\.x: key 'x' is given more than once" "$CR" validate "$IN/dup_inputs.json"
t "duplicate key at the top level is a warning" 0 "warning.*description.*more than once" "$CR" validate "$IN/dup_top.json"
NOTHING=1 t "run --offline with a duplicate key in a node" 2 "more than once" "$CR" run "$IN/dup_inputs.json" --offline --out out

# --- templates ---------------------------------------------------------------------------------
t "unclosed <<reference" 2 "inputs\\.t: unclosed reference '<<img_x.path and more'" "$CR" validate "$IN/unclosed.json"
t "unclosed <<reference: the hint gives the escape" 2 'hint: .*\\\\<<' "$CR" validate "$IN/unclosed.json"
t "unclosed {{reference[" 2 "unclosed reference" "$CR" validate "$IN/unclosed_brace.json"
NOTHING=1 t "run --offline with an unclosed reference" 2 "unclosed reference" "$CR" run "$IN/unclosed.json" --offline --out out
t "1 << 2.5 stays text" 0 "valid" "$CR" validate "$IN/shift_text.json"
t "an escaped \\<< stays text" 0 "valid" "$CR" validate "$IN/escaped.json"
t "a 10,000-character node id" 2 "too long: 10000 characters, the limit is 128" "$CR" validate "$IN/long_id.json"
t "a 10,000-character workflowId" 2 "too long: 10000 characters, the limit is 128" "$CR" validate "$IN/long_wfid.json"
t "a giant index" 2 "too large" "$CR" validate "$IN/giant_index.json"

# --- settings: timeouts, URLs, servers, params ---------------------------------------------------
t "timeout 0s" 2 "time limit of \"0s\"" "$CR" validate "$IN/timeout_zero.json"
t "total shorter than attempt" 2 "total \\(1m00s|shorter than attempt" "$CR" validate "$IN/timeout_total.json"
NOTHING=1 t "--comfyui notaurl" 2 "--comfyui 'notaurl' is not a server URL" \
  "$CR" run "$GRAPHS/quickstart.json" --offline --out out --comfyui notaurl
NOTHING=1 t "--comfyui with a bad port" 2 "port '99999'" \
  "$CR" run "$GRAPHS/quickstart.json" --offline --out out --comfyui http://127.0.0.1:99999
NOTHING=1 t "COMFYUI_URL=notaurl" 2 "COMFYUI_URL entry 'notaurl'" \
  env COMFYUI_URL=notaurl "$CR" run "$GRAPHS/quickstart.json" --offline --out out
NOTHING=1 t "a comfyui node and no server" 2 "needs a ComfyUI server" "$CR" run "$IN/comfyui.json" --offline --out out
t "validate of a comfyui node needs no server" 0 "valid" "$CR" validate "$IN/comfyui.json"
NOTHING=1 t "--param character= (empty)" 2 "characterPrompt would be empty" \
  "$CR" run "$GRAPHS/quickstart.json" --offline --out out --param character=
t "validate --param character= (empty)" 2 "--param character=TEXT" \
  "$CR" validate "$GRAPHS/quickstart.json" --param "character= "
NOTHING=1 t "a blank literal prompt" 2 "prompt is empty" "$CR" run "$IN/literal_empty.json" --offline --out out
t "an unknown model points to comfyrun models" 2 "comfyrun models" "$CR" validate "$IN/unknown_model.json"
t "comfyrun models" 0 "veo-3.1-fast-generate-preview.*veo3-fast" "$CR" models
t "comfyrun models --json" 0 "\"aliases\"" "$CR" models --json
NOTHING=1 t "a missing A/B graph names each path once" 2 "looked for no-such-graph.json \\(" \
  bash -c 'cd "$1" && exec "$2" abtest ab_missing.json --offline' _ "$IN" "$CR"

t "an HTTP failure names the URL once" 0 "URL once" bash -c \
  '"$1" run "$2" -q --out out 2>&1 | grep -o "http://127.0.0.1:9/x" | wc -l | grep -qx 1 && echo "URL once"' _ "$CR" "$IN/http_closed.json"

# --- the normal case, for contrast: a free run writes under --out only ----------------------------
t "run --offline of the quickstart" 0 "completed|succeeded|cost" "$CR" run "$GRAPHS/quickstart.json" --offline -q --out out

echo "hostile_input: $cases cases, $failures failures"
[ "$cases" -ge 60 ] || fail "only $cases cases (at least 60 expected)"
[ "$failures" -eq 0 ]
