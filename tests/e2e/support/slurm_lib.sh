# Helpers for the Slurm end-to-end scripts (sourced after lib.sh).

# start_slurm [accounting]: starts the test cluster (slurm_cluster.sh; with `accounting`,
# MariaDB and slurmdbd too) in a temporary folder, exports SLURM_CONF, and stops it when the
# script exits (then lib.sh's cleanup runs).
start_slurm() {
  SLURM_DIR=$(mktemp -d /tmp/comfyrun-slurm-e2e.XXXXXX)
  local out
  out=$(bash "$COMFYRUN_SOURCE_DIR/tests/e2e/support/slurm_cluster.sh" start "$SLURM_DIR" 2 ${1:-} 2>&1) \
    || fail "cannot start the test Slurm: $out"
  export SLURM_CONF=$SLURM_DIR/slurm.conf
  export COMFYRUN_SLURM_POLL_SECONDS=0.5  # quicker than the default 2 s
  trap 'slurm_exit' EXIT
}
slurm_exit() {
  local status=$?
  bash "$COMFYRUN_SOURCE_DIR/tests/e2e/support/slurm_cluster.sh" stop "$SLURM_DIR" >/dev/null 2>&1 || true
  if [ $status -eq 0 ]; then rm -rf "$SLURM_DIR"; else echo "Slurm files kept in $SLURM_DIR" >&2; fi
  (exit $status)
  cleanup
}

# job_id_of JOURNAL NODE: the last Slurm job id journaled for NODE.
job_id_of() {
  jq -r -s --arg n "$2" '[.[] | select(.type == "submitted" and .node == $n and .submission.jobId != null)] | last | .submission.jobId' "$1"
}

# job_state ID: its state as squeue says ("" when unknown).
job_state() { squeue --noheader --states=all --jobs "$1" --format '%T' 2>/dev/null | head -1; }

# wait_for_state ID PREFIX: waits (up to 30 s) until the job's state starts with PREFIX.
wait_for_state() {
  for _ in $(seq 150); do
    case "$(job_state "$1")" in "$2"*) return 0 ;; esac
    sleep 0.2
  done
  return 1
}

# wait_for_ids JOURNAL N: waits (up to 60 s) until JOURNAL has N submitted records with a job id.
wait_for_ids() {
  for _ in $(seq 300); do
    local n
    n=$(grep -c '"jobId"' "$1" 2>/dev/null || true)
    [ "${n:-0}" -ge "$2" ] && return 0
    sleep 0.2
  done
  fail "$1 never had $2 Slurm job ids"
}

# resolve_output OUT PATH: a node output path as a file name (absolute, or under OUT).
resolve_output() {
  case "$2" in /*) echo "$2" ;; *) if [ -e "$2" ]; then echo "$2"; else echo "$1/${2#*/}"; fi ;; esac
}
