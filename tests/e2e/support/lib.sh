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

# Starts the test HTTP server on a free port; sets HTTP_PORT and HTTP_LOG.
start_http_server() {
  HTTP_LOG="$E2E_DIR/http-requests.log"
  python3 "$COMFYRUN_SOURCE_DIR/tests/e2e/support/http_server.py" "$E2E_DIR/http-port" "$HTTP_LOG" &
  BG_PIDS+=($!)
  for _ in $(seq 100); do [ -s "$E2E_DIR/http-port" ] && break; sleep 0.05; done
  HTTP_PORT=$(cat "$E2E_DIR/http-port")
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
