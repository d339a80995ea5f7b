#!/usr/bin/env bash
# --prom and --pushgateway through the binary: the text passes `promtool check metrics`, a real
# Pushgateway (Debian's prometheus-pushgateway, on 127.0.0.1 and a free port) accepts the push
# and shows it under job/workflow, a second run replaces the group, a failed push is a
# warning (exit code unchanged), credentials never appear in output, journal or metrics, and a
# bad URL is refused before anything runs (exit 2).
source "$(dirname "$0")/support/lib.sh"
command -v promtool >/dev/null || fail "promtool missing: apt-get install prometheus (SETUP_TESTS=1 scripts/setup)"
command -v prometheus-pushgateway >/dev/null || fail "prometheus-pushgateway missing: apt-get install prometheus-pushgateway"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

PG_PORT=$(free_port)
prometheus-pushgateway --web.listen-address="127.0.0.1:$PG_PORT" >"$E2E_DIR/pushgateway.log" 2>&1 &
BG_PIDS+=($!)
PG=http://127.0.0.1:$PG_PORT
for _ in $(seq 200); do curl -sf "$PG/-/ready" >/dev/null 2>&1 && break; sleep 0.05; done
curl -sf "$PG/-/ready" >/dev/null || fail "pushgateway did not become ready in 10 s: $(cat "$E2E_DIR/pushgateway.log")"

SECRET=pg-secret-value-1234
cat > wf.json <<JSON
{"workflowId": "e2e-prom", "nodes": [
  {"id": "config", "type": "value", "inputs": {"n": 3}},
  {"id": "say", "type": "shell", "inputs": {"argv": ["echo", "hi"]}, "dependsOn": ["config"]},
  {"id": "other", "type": "shell", "inputs": {"argv": ["echo", "other"]}}
]}
JSON
mkdir textfile
expect_exit 0 "$COMFYRUN" run wf.json --json --prom textfile/comfyrun_e2e.prom --pushgateway "http://pusher:$SECRET@127.0.0.1:$PG_PORT"
run_id=$(jq -r .runId last.out); metrics=$(jq -r .metrics last.out); journal=$(jq -r .journal last.out)
[ -f textfile/comfyrun_e2e.prom ] || fail "no --prom file: $(cat last.err)"
[ "$(ls textfile)" = "comfyrun_e2e.prom" ] || fail "temp files left in the textfile dir: $(ls textfile)"
promtool check metrics < textfile/comfyrun_e2e.prom || fail "promtool check metrics"
grep -q "^comfyrun_run_success{workflow=\"e2e-prom\",run_id=\"$run_id\"} 1$" textfile/comfyrun_e2e.prom || fail "run_success: $(cat textfile/comfyrun_e2e.prom)"
grep -q "^comfyrun_run_nodes{workflow=\"e2e-prom\",run_id=\"$run_id\",status=\"completed\"} 3$" textfile/comfyrun_e2e.prom || fail "node counts"
grep -q "^comfyrun_node_attempts_total{workflow=\"e2e-prom\",run_id=\"$run_id\",node=\"say\",type=\"shell\",status=\"completed\"} 1$" textfile/comfyrun_e2e.prom || fail "node series"
# The duration in the text is the metrics JSON's, in seconds.
want=$(jq -r '.durationMs / 1000' "$metrics")
got=$(sed -n 's/^comfyrun_run_duration_seconds{.*} //p' textfile/comfyrun_e2e.prom)
awk -v a="$want" -v b="$got" 'BEGIN { exit !(a - b < 1e-9 && b - a < 1e-9) }' || fail "duration $got s, metrics say $want s"
grep -q "metrics pushed to $PG/metrics/job/comfyrun/workflow/e2e-prom" last.err || fail "push not reported: $(cat last.err)"
pass "--prom writes text that promtool accepts; the numbers are the metrics JSON's"

# The Pushgateway holds the group job=comfyrun, workflow=e2e-prom with this run's series.
curl -sf "$PG/metrics" > pg1.txt
grep -q "^comfyrun_run_success{instance=\"\",job=\"comfyrun\",run_id=\"$run_id\",workflow=\"e2e-prom\"} 1$" pg1.txt \
  || fail "pushed series not found: $(grep comfyrun_run_success pg1.txt)"
grep -q "^push_time_seconds{instance=\"\",job=\"comfyrun\",workflow=\"e2e-prom\"}" pg1.txt || fail "no push_time_seconds for the group"
grep -q "^push_failure_time_seconds{instance=\"\",job=\"comfyrun\",workflow=\"e2e-prom\"} 0$" pg1.txt || fail "the Pushgateway recorded a failed push"
pass "pushed to a real Pushgateway: grouped by job and workflow"

# Credentials went in a header, never into anything written or printed.
for f in last.out last.err "$journal" "$metrics" textfile/comfyrun_e2e.prom; do
  ! grep -q "$SECRET" "$f" || fail "the Pushgateway password leaked into $f"
done
pass "no credentials in output, journal or metrics"

# A second run replaces the group (PUT): only the new run id is left for the workflow; a
# failing run pushes success 0 and exits 1 as usual.
cat > failing.json <<JSON
{"workflowId": "e2e-prom", "nodes": [{"id": "bad", "type": "shell", "inputs": {"argv": ["false"]}, "retry": 1}]}
JSON
expect_exit 1 "$COMFYRUN" run failing.json --json --pushgateway "$PG"
run2=$(jq -r .runId last.out)
curl -sf "$PG/metrics" > pg2.txt
grep -q "run_id=\"$run2\",workflow=\"e2e-prom\"} 0$" pg2.txt || fail "second push: $(grep comfyrun_run_success pg2.txt)"
! grep -q "run_id=\"$run_id\"" pg2.txt || fail "the first run's series were not replaced"
grep -q "^comfyrun_run_failed_attempts_total{error=\"Execution\",instance=\"\",job=\"comfyrun\",run_id=\"$run2\",workflow=\"e2e-prom\"} 1$" pg2.txt \
  || fail "failed attempts by error type: $(grep failed_attempts pg2.txt)"
pass "a later run of the workflow replaces its group; failures are pushed"

# --push-job, with a name that needs the Pushgateway's base64 form in the path.
cat > other.json <<JSON
{"workflowId": "e2e-prom-other", "nodes": [{"id": "a", "type": "value", "inputs": {"x": 1}}]}
JSON
expect_exit 0 "$COMFYRUN" run other.json --pushgateway "$PG/" --push-job "nightly batch/7"
# (Saved first: `curl | grep -q` fails under pipefail when grep stops reading early.)
curl -sf "$PG/metrics" > pg3.txt
grep -q '^comfyrun_run_success{instance="",job="nightly batch/7",run_id="e2e-prom-other-.*",workflow="e2e-prom-other"} 1$' pg3.txt \
  || fail "base64 grouping key: $(grep 'e2e-prom-other' pg3.txt | head -3)"
pass "--push-job; grouping values that need base64"

# A push that fails is a warning: the run's exit code stays, and no secret is printed.
DEAD_PORT=$(free_port)
expect_exit 0 "$COMFYRUN" run wf.json --pushgateway "http://pusher:$SECRET@127.0.0.1:$DEAD_PORT"
grep -q "warning: pushing metrics to the Pushgateway failed" last.err || fail "no warning for a failed push: $(cat last.err)"
! grep -q "$SECRET" last.err || fail "password in the warning: $(cat last.err)"
expect_exit 0 "$COMFYRUN" run wf.json --prom no-such-dir/x.prom
grep -q "warning: cannot write Prometheus metrics no-such-dir/x.prom" last.err || fail "no warning for an unwritable --prom: $(cat last.err)"
pass "failed push or write: a warning, exit code unchanged"

# COMFYRUN_PUSHGATEWAY_URL keeps credentials off the command line.
COMFYRUN_PUSHGATEWAY_URL="http://pusher:$SECRET@127.0.0.1:$PG_PORT" expect_exit 0 "$COMFYRUN" run wf.json -o envrun
grep -q "metrics pushed to $PG/" last.err || fail "COMFYRUN_PUSHGATEWAY_URL not used: $(cat last.err)"
pass "COMFYRUN_PUSHGATEWAY_URL"

# A bad URL is refused before anything runs.
expect_exit 2 "$COMFYRUN" run wf.json -o badurl --pushgateway "ftp://pusher:$SECRET@host"
[ ! -d badurl/journals ] || [ -z "$(ls badurl/journals)" ] || fail "a run started despite a bad --pushgateway"
! grep -q "$SECRET" last.err || fail "password in the error: $(cat last.err)"
expect_exit 2 "$COMFYRUN" run wf.json -o badurl --pushgateway "$PG/metrics/job/x"
grep -q "not a /metrics/job" last.err || fail "path error: $(cat last.err)"
pass "bad --pushgateway: exit 2, nothing run"

# resume and abtest take the same options.
cat > gate.json <<JSON
{"workflowId": "e2e-prom-resume", "nodes": [{"id": "gate", "type": "shell", "inputs": {"argv": ["test", "-f", "$E2E_DIR/marker"]}, "retry": 1}]}
JSON
expect_exit 1 "$COMFYRUN" run gate.json --json
journal=$(jq -r .journal last.out)
touch marker
expect_exit 0 "$COMFYRUN" resume "$journal" --prom resumed.prom
grep -q '^comfyrun_run_starts_total{workflow="e2e-prom-resume",.*} 2$' resumed.prom || fail "resume --prom: $(cat resumed.prom)"
promtool check metrics < resumed.prom || fail "promtool on the resumed run's metrics"
cat > ab.json <<JSON
{"testId": "prom-ab", "repeats": 2, "variants": [
  {"variantId": "a", "nodes": [{"id": "w", "type": "value", "inputs": {"x": 1}}]},
  {"variantId": "b", "nodes": [{"id": "w", "type": "value", "inputs": {"x": 2}}]}]}
JSON
expect_exit 0 "$COMFYRUN" abtest ab.json -q --prom ab.prom --pushgateway "$PG"
grep -q '^comfyrun_run_nodes{workflow="prom-ab",.*status="completed"} 4$' ab.prom || fail "abtest --prom: $(cat ab.prom)"
promtool check metrics < ab.prom || fail "promtool on the A/B test's metrics"
curl -sf "$PG/metrics" > pg4.txt
grep -q '^comfyrun_run_success{instance="",job="comfyrun",run_id="prom-ab-.*",workflow="prom-ab"} 1$' pg4.txt || fail "abtest push"
pass "resume and abtest export too"
