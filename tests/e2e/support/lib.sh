# Shared helpers for the end-to-end scripts (sourced, not run). Each script gets a fresh
# temporary directory as its working directory, removed on success.
set -euo pipefail
: "${COMFYRUN:?set COMFYRUN to the comfyrun binary}"
: "${COMFYRUN_SOURCE_DIR:?set COMFYRUN_SOURCE_DIR to the repository}"
E2E_DIR=$(mktemp -d /tmp/comfyrun-e2e.XXXXXX)
cd "$E2E_DIR"
BG_PIDS=()
cleanup() {
  local status=$?
  for p in "${BG_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  if [ $status -eq 0 ]; then rm -rf "$E2E_DIR"; else echo "e2e files kept in $E2E_DIR" >&2; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

# expect_exit CODE CMD...: runs CMD (with a time limit) and checks its exit code.
expect_exit() {
  local want=$1; shift
  set +e
  timeout 120 "$@" >"$E2E_DIR/last.out" 2>"$E2E_DIR/last.err"
  local got=$?
  set -e
  [ "$got" -eq "$want" ] || { cat "$E2E_DIR/last.err" >&2; fail "$* exited $got, expected $want"; }
}

# start_http_server [NAME]: starts the test HTTP server (support/http_server.py) on a free
# port; sets HTTP_PORT, HTTP_LOG (one line per request) and HTTP_HEADERS (one JSON line of
# headers per request). A NAME starts another one, with its own files.
start_http_server() {
  local name=${1:+-$1}
  HTTP_LOG="$E2E_DIR/http$name-requests.log"
  HTTP_HEADERS="$E2E_DIR/http$name-headers.jsonl"
  python3 "$COMFYRUN_SOURCE_DIR/tests/e2e/support/http_server.py" "$E2E_DIR/http$name-port" "$HTTP_LOG" "$HTTP_HEADERS" &
  BG_PIDS+=($!)
  for _ in $(seq 100); do [ -s "$E2E_DIR/http$name-port" ] && break; sleep 0.05; done
  HTTP_PORT=$(cat "$E2E_DIR/http$name-port")
  [ -n "$HTTP_PORT" ] || fail "test HTTP server did not start"
}

# wait_for_lines PATTERN FILE N: waits (up to 10 s) until FILE has N lines containing PATTERN.
wait_for_lines() {
  local n
  for _ in $(seq 500); do
    n=$(grep -c -- "$1" "$2" 2>/dev/null || true)
    [ "${n:-0}" -ge "$3" ] && return 0
    sleep 0.02
  done
  return 0
}

# --- fake servers (build/comfyrun_fakes) ---------------------------------------------------

# start_fake_providers [ARGS...]: starts `comfyrun_fakes providers ARGS` (e.g. --faults SPEC,
# --gemini-key K) and exports GEMINI_BASE_URL, GEMINI_API_KEY, OPENAI_BASE_URL and
# OPENAI_API_KEY pointing at it. Sets GEMINI_FAKE and SORA_FAKE to the servers' roots (for
# /__stats and /_fake/...).
start_fake_providers() {
  : "${COMFYRUN_FAKES:?set COMFYRUN_FAKES to the comfyrun_fakes binary}"
  local out
  out=$(mktemp "$E2E_DIR/fakes-providers.XXXXXX")
  "$COMFYRUN_FAKES" providers "$@" > "$out" 2>>"$E2E_DIR/fakes.err" &
  BG_PIDS+=($!)
  for _ in $(seq 200); do [ -s "$out" ] && break; sleep 0.05; done
  [ -s "$out" ] || fail "fake provider servers did not start: $(cat "$E2E_DIR/fakes.err")"
  GEMINI_BASE_URL=$(jq -r .gemini "$out"); GEMINI_API_KEY=$(jq -r .geminiKey "$out")
  OPENAI_BASE_URL=$(jq -r .sora "$out"); OPENAI_API_KEY=$(jq -r .soraKey "$out")
  export GEMINI_BASE_URL GEMINI_API_KEY OPENAI_BASE_URL OPENAI_API_KEY
  GEMINI_FAKE=$GEMINI_BASE_URL
  SORA_FAKE=${OPENAI_BASE_URL%/v1}
}

# start_fake_comfyui SLOTS [ARGS...]: starts a fake ComfyUI server; sets COMFYUI_FAKE to its URL.
start_fake_comfyui() {
  : "${COMFYRUN_FAKES:?set COMFYRUN_FAKES to the comfyrun_fakes binary}"
  local out
  out=$(mktemp "$E2E_DIR/fake-comfyui.XXXXXX")
  "$COMFYRUN_FAKES" comfyui "$@" > "$out" 2>>"$E2E_DIR/fakes.err" &
  BG_PIDS+=($!)
  for _ in $(seq 200); do grep -q listening "$out" 2>/dev/null && break; sleep 0.05; done
  COMFYUI_FAKE=$(grep -o 'http://[0-9.:]*' "$out" || true)
  [ -n "$COMFYUI_FAKE" ] || fail "fake ComfyUI server did not start: $(cat "$E2E_DIR/fakes.err")"
}

# fake_stats URL: the /__stats document of a fake server (LocalServer counters and faults).
fake_stats() { curl -sf "$1/__stats"; }

# accepted URL ROUTE: how many requests to ROUTE ("POST /prompt") a fake answered with a 2xx.
accepted() {
  fake_stats "$1" | jq --arg r "$2" '[(.replies[$r] // {}) | to_entries[] | select(.key | startswith("2")) | .value] | add // 0'
}

# --- kill -9 and resume ---------------------------------------------------------------------

# run_with_kills WORKFLOW JOURNAL MAX_KILLS [RUN OPTIONS...]: runs WORKFLOW, kill -9s it at a
# random moment (KILL_MIN_MS..KILL_MAX_MS after it started; default 10..400) and resumes it,
# again and again, until a run ends by itself; after MAX_KILLS kills the last resume is left
# to finish. After every kill, `comfyrun status --json` must read the journal. A kill before
# the header reached the disk (nothing ran yet) starts the run afresh. Uses $RANDOM (seed it).
# Sets KILLS_MADE and RUN_EXIT (the exit code of the run that finished); stderr of every
# process is appended to JOURNAL.err. Fails when 500 starts did not finish the run.
run_with_kills() {
  local workflow=$1 journal=$2 max_kills=$3
  shift 3
  local lo=${KILL_MIN_MS:-10} hi=${KILL_MAX_MS:-400} first=1 pid ms
  KILLS_MADE=0
  RUN_EXIT=
  mkdir -p "$(dirname "$journal")"
  for _ in $(seq 500); do
    if [ $first -eq 1 ]; then
      "$COMFYRUN" run "$workflow" --journal "$journal" "$@" 2>>"$journal.err" >/dev/null &
      first=0
    else
      "$COMFYRUN" resume "$journal" -q 2>>"$journal.err" >/dev/null &
    fi
    pid=$!
    if [ "$KILLS_MADE" -lt "$max_kills" ]; then
      ms=$(( lo + RANDOM % (hi - lo + 1) ))
      sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
      if kill -9 $pid 2>/dev/null; then
        wait $pid 2>/dev/null || true
        KILLS_MADE=$((KILLS_MADE + 1))
        # -s: jq 1.6 -e exits 0 on empty input, so an empty journal must not look like a header.
        if ! head -n 1 "$journal" 2>/dev/null | jq -e -s 'length == 1 and .[0].type == "header"' >/dev/null 2>&1; then
          rm -f "$journal"  # killed before the header was on disk: nothing ran, start again
          first=1
          continue
        fi
        "$COMFYRUN" status "$journal" --json > "$journal.status" 2>"$journal.status.err" \
          || fail "journal $journal unreadable after kill $KILLS_MADE: $(cat "$journal.status.err")"
        continue
      fi
    fi
    set +e; wait $pid; RUN_EXIT=$?; set -e
    return 0
  done
  fail "$workflow did not finish after 500 starts"
}

# check_journal_invariants JOURNAL: every node of the workflow completed exactly once, and no
# node started again after it completed. Prints the failures and fails.
check_journal_invariants() {
  local bad
  bad=$(jq -R -n -r '
    [inputs | fromjson? | select(type == "object")] as $r
    | ($r[0].workflow.nodes | map(.id)) as $ids
    | [$ids[] as $id
       | [$r | to_entries[] | select(.value.node == $id)] as $mine
       | ([$mine[] | select(.value.type == "completed")]) as $done
       | if ($done | length) != 1 then "\($id) completed \($done | length) times"
         elif ([$mine[] | select(.value.type == "node_started" and .key > $done[0].key)] | length) > 0
         then "\($id) started again after it completed"
         else empty end]
    | .[]' "$1")
  [ -z "$bad" ] || fail "journal $1: $bad"
}

# attempt_counts JOURNAL: writes JOURNAL.attempts, one line per node: "ID STARTS CUT
# JOURNALED_IDS" where STARTS counts
# node_started records, CUT the attempts a kill cut short before any submission was journaled
# (their provider call may have happened unrecorded), and JOURNALED_IDS the distinct provider
# ids in its submitted records (a ComfyUI prompt journaled before its POST counts once a
# record says the server has it). Fails when a node submitted anew while a journaled submission
# was still open (not finished by a completed or attempt_failed{submissionFinished}): resume
# must re-attach to that one instead.
attempt_counts() {
  jq -R -n -r '
    def sid: (.submission | (.promptId // .operation // .name // .id // .videoId // tostring));
    [inputs | fromjson? | select(type == "object" and has("node"))]
    | group_by(.node)[]
    | reduce .[] as $e ({id: .[0].node, starts: 0, cut: 0, open: false, sub: false, ids: [], dup: false};
        if $e.type == "node_started" then
          (if .open and (.sub | not) then .cut += 1 else . end) | .starts += 1 | .open = true | .sub = false
        elif $e.type == "submitted" and $e.submission.accepted == false then
          # ComfyUI journals its prompt id before the POST: nothing can be orphaned after it,
          # but the id counts only once the server is known to have it (the next record).
          (if .pending != null then .dup = true else . end) | .sub = true
        elif $e.type == "submitted" then
          (if .pending != null and .pending != ($e | sid) then .dup = true else . end)
          | .sub = true | .pending = ($e | sid) | .ids += [$e | sid]
        elif $e.type == "completed" then .open = false | .pending = null
        elif $e.type == "attempt_failed" then .open = false
          | (if ($e.submissionFinished // true) then .pending = null else . end)
        elif $e.type == "node_failed" then .open = false
        else . end)
    | "\(.id) \(.starts) \(.cut) \(.ids | unique | length)\(if .dup then " DUPLICATE" else "" end)"' "$1" \
    > "$1.attempts"
  ! grep -q DUPLICATE "$1.attempts" || fail "journal $1: a node submitted again while its journaled submission was open: $(grep DUPLICATE "$1.attempts")"
}
