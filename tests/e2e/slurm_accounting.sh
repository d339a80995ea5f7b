#!/usr/bin/env bash
# The Slurm backend against a real single-node Slurm that keeps accounting (MariaDB and
# slurmdbd, started by support/slurm_cluster.sh): jobs that squeue no longer lists (they ended
# more than MinJobAge ago, e.g. while comfyrun was down) are looked up with sacct, in one call
# for all of them, and their end (state, node) comes from there.
#
# To make finished jobs vanish from squeue at once instead of after MinJobAge, a `squeue`
# ahead in PATH runs the real one and drops the lines of jobs that ended; a `sacct` ahead in
# PATH logs its arguments and runs the real one.
source "$(dirname "$0")/support/lib.sh"
source "$COMFYRUN_SOURCE_DIR/tests/e2e/support/slurm_lib.sh"
start_slurm accounting

mkdir -p bin
real_squeue=$(command -v squeue)
real_sacct=$(command -v sacct)
cat > bin/squeue <<SH
#!/bin/sh
# squeue as it answers once MinJobAge has passed: no job that ended.
"$real_squeue" "\$@" | grep -vE '\\|(COMPLETED|FAILED|CANCELLED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|PREEMPTED|BOOT_FAIL|DEADLINE)'
exit 0
SH
cat > bin/sacct <<SH
#!/bin/sh
echo "\$*" >> "$E2E_DIR/sacct-calls.log"
exec "$real_sacct" "\$@"
SH
chmod +x bin/squeue bin/sacct
export PATH=$E2E_DIR/bin:$PATH

# Three jobs that end by themselves (one fails), and one cancelled from outside: without
# accounting its end would be unknown ("LOST": no exit code in its folder); sacct says CANCELLED.
cat > wf.json <<JSON
{"workflowId": "slurm-accounting", "nodes": [
  {"id": "a", "type": "shell", "inputs": {"shell": true, "command": "sleep 1; echo a >> $E2E_DIR/effects.log; echo '{\"n\": 1}'"}},
  {"id": "b", "type": "shell", "inputs": {"shell": true, "command": "sleep 1; echo b >> $E2E_DIR/effects.log; echo '{\"n\": 2}'"}},
  {"id": "bad", "type": "shell", "retry": 1, "inputs": {"shell": true, "command": "sleep 1; echo broken >&2; exit 3"}},
  {"id": "victim", "type": "shell", "retry": 1, "inputs": {"argv": ["sleep", "300"]}}]}
JSON
"$COMFYRUN" run wf.json --executor slurm --journal j/acct.jsonl --out out -q > run.out 2> run.err &
pid=$!
wait_for_ids j/acct.jsonl 4
victim=$(job_id_of j/acct.jsonl victim)
wait_for_state "$victim" RUNNING || fail "the victim's job $victim never ran: $(job_state "$victim")"
scancel "$victim"
set +e; wait $pid; code=$?; set -e
[ "$code" -eq 1 ] || fail "the run exited $code, expected 1 (bad and victim fail): $(tail -5 run.err)"

[ -s sacct-calls.log ] || fail "sacct was never called"
grep -q -- "--jobs" sacct-calls.log || fail "sacct was not asked by job id: $(cat sacct-calls.log)"
# One call per poll for all the jobs squeue no longer lists, not one per job: a, b and bad
# end within a second of each other, so some call asks for several.
grep -qE -- '--jobs [0-9]+,[0-9]+' sacct-calls.log || fail "no sacct call asked for several jobs: $(cat sacct-calls.log)"
for n in a b; do
  [ "$(grep -cx $n effects.log)" -eq 1 ] || fail "$n ran $(grep -cx $n effects.log) times"
  jq -e -s --arg n $n '[.[] | select(.type == "completed" and .node == $n)][0]
    | .outputs.n != null and .where.executor == "slurm" and .where.host == "localhost"' j/acct.jsonl >/dev/null \
    || fail "$n's completion (from accounting): $(grep "\"completed\",\"node\":\"$n\"" j/acct.jsonl)"
done
msg=$(jq -r -s '[.[] | select(.type == "attempt_failed" and .node == "bad")][0] | "\(.error) \(.message)"' j/acct.jsonl)
case "$msg" in Execution*"exited with code 3"*broken*) ;; *) fail "bad's failure: $msg" ;; esac
msg=$(jq -r -s '[.[] | select(.type == "attempt_failed" and .node == "victim")][0] | "\(.error) \(.message)"' j/acct.jsonl)
case "$msg" in Cancelled*CANCELLED*) ;; *) fail "the cancelled job's end did not come from accounting: $msg" ;; esac
pass "jobs squeue no longer lists end from sacct (one call for all): completed, failed, cancelled from outside"
