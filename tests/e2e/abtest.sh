#!/usr/bin/env bash
# abtest through the binary: the older format offline, graph + params variants, a variant
# that always fails, all variants failing, invalid tests, kill -9 then resume, SIGINT then
# `comfyrun resume`; finished runs are never redone (side effects are counted).
source "$(dirname "$0")/support/lib.sh"

result_of() { ls "$1"/ab-tests/"$2"-*.json 2>/dev/null | tail -1; }

# The older system's definition runs unchanged (offline: placeholder images, cost 0).
expect_exit 0 "$COMFYRUN" abtest "$COMFYRUN_SOURCE_DIR/ab-tests/aria-prompt-comparison.json" --offline --repeats 2 -o aria --json
r=$(result_of aria aria-prompt-v1-vs-v2)
[ -f "$r" ] || fail "no result file in aria/ab-tests: $(ls -R aria | head)"
jq -e '.testId == "aria-prompt-v1-vs-v2" and (.description | test("Aria")) and (.variants | length == 2)
       and ([.variants[] | .variantId] == ["detailed-prompt", "simple-prompt"])
       and ([.variants[] | .workflowId] == ["aria-detailed-v1", "aria-simple-v1"])
       and all(.variants[]; .success == true and (.duration | type == "number") and .cost == 0
               and has("qualityScore") and (.outputs.character_image_1.characterImagePath | type == "string"))
       and (.winner | type == "string") and (.confidence | type == "number")' "$r" >/dev/null \
  || fail "legacy fields: $(jq -c '{testId, variants: [.variants[] | {variantId, workflowId, success, duration, cost, qualityScore}], winner, confidence}' "$r")"
jq -e '.schemaVersion == 2 and .analysis.probabilityOfBest.seed == 42
       and all(.variants[]; .runs == 2 and .successRate.successes == 2 and .metrics.durationMs.n == 2)
       and (.comparisons | length == 1) and (.decision.status | type == "string")
       and (.variants[0].qualitySource | startswith("none"))
       and ([.warnings[].code] | index("QUALITY_EXCLUDED") != null)' "$r" >/dev/null \
  || fail "statistics: $(jq -c '{analysis, decision, warnings}' "$r")"
jq -e '.testId == "aria-prompt-v1-vs-v2" and .run.resultPath != null' last.out >/dev/null || fail "--json: $(head -c 300 last.out)"
grep -q "detailed-prompt" last.err || fail "no table on stderr: $(cat last.err)"
[ "$(jq -r .run.journal "$r" | xargs head -1 | jq -r '.abtest.testId')" = "aria-prompt-v1-vs-v2" ] || fail "journal header has no abtest manifest"
pass "older format offline: legacy fields and statistics"

# The composite a reader sees beside its interval lies inside it (the posterior median); the
# observed composite is shown apart, labelled. 4 repeats at 100% success: the case where the
# prior leaves the observed composite above the interval. The marks have a legend.
expect_exit 0 "$COMFYRUN" abtest "$COMFYRUN_SOURCE_DIR/ab-tests/aria-prompt-comparison.json" --offline --repeats 4 -o aria4
r=$(result_of aria4 aria-prompt-v1-vs-v2)
jq -e 'all(.variants[]; .composite.ci[0] <= .composite.median and .composite.median <= .composite.ci[1]
                        and .composite.observed == .composite.mean and (.composite.observed | type == "number"))' "$r" >/dev/null \
  || fail "composite: $(jq -c '[.variants[] | .composite]' "$r")"
rows=$(grep -E '^(detailed-prompt|simple-prompt) ' last.err | grep -v ' vs ') || fail "no variant rows in the table: $(cat last.err)"
[ "$(wc -l <<<"$rows")" -eq 2 ] || fail "expected 2 variant rows: $rows"
while read -r row; do
  cell=$(grep -oE '[0-9.]+ \[[0-9.]+,[0-9.]+\]' <<<"$row" | tail -1)
  awk -v c="$cell" 'BEGIN { split(c, a, /[ \[,\]]+/); exit !(a[2] <= a[1] && a[1] <= a[3]) }' \
    || fail "the table shows a composite outside its interval: $row"
  observed=$(jq -r --arg id "${row%% *}" '.variants[] | select(.variantId == $id) | .composite.observed' "$r")
  grep -qF " $(printf '%.3f' "$observed") " <<<"$row" || fail "the observed composite $observed is not in the row: $row"
done <<<"$rows"
grep -q '^detailed-prompt (b) ' last.err || fail "the baseline is not marked: $(cat last.err)"
grep -q '^(b) baseline: ' last.err || fail "no legend for (b)"
grep -qE '^\* (leader|winner): ' last.err || fail "no legend for *"
grep -q 'observed: mean composite of the runs' last.err || fail "no legend for the observed column"
expect_exit 0 "$COMFYRUN" report "$r" --html aria4.html
grep -q '>Observed</th>' aria4.html || fail "no observed column in the A/B report"
cell=$(jq -r '.variants[0].composite | "\(.median) \(.ci[0]) \(.ci[1])"' "$r" | xargs printf '%.3f<br><span class="muted">[%.3f, %.3f]')
grep -qF "$cell" aria4.html || fail "the A/B report does not show the median with its interval ($cell)"
grep -q 'class="observed"' aria4.html || fail "the observed composite is not drawn in the A/B report"
pass "composite: posterior median inside its interval, observed apart, in the table, JSON and report; legend"

# A variant that always fails has success 0 and is not the winner; quality from a shell node.
cat > fails.json <<JSON
{"testId": "fails", "repeats": 3, "quality": "work.score", "variants": [
  {"variantId": "good", "defaults": {"retry": 1}, "nodes": [
    {"id": "work", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo good >> $E2E_DIR/fails.log; echo '{\"score\": 7}'"]}}]},
  {"variantId": "bad", "defaults": {"retry": 1}, "nodes": [
    {"id": "work", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo bad >> $E2E_DIR/fails.log; exit 1"]}}]}
]}
JSON
expect_exit 0 "$COMFYRUN" abtest fails.json -o out -q
r=$(result_of out fails)
jq -e '.winner == "good" and .variants[1].variantId == "bad" and .variants[1].success == false
       and .variants[1].successRate.successes == 0 and .variants[0].successRate.successes == 3
       and .variants[0].qualityScore == 7 and .variants[0].qualitySource == "work.score"
       and ([.warnings[].code] | index("NO_SUCCESSFUL_RUNS") != null)' "$r" >/dev/null \
  || fail "failing variant: $(jq -c '{winner, variants: [.variants[] | {variantId, success, successRate, qualityScore}]}' "$r")"
[ "$(grep -c bad fails.log)" -eq 3 ] || fail "bad ran $(grep -c bad fails.log) times, expected 3 (no retry)"
# Resuming the finished test does not give the failed runs another chance; it rewrites the result.
journal=$(jq -r .run.journal "$r")
sleep 1
expect_exit 0 "$COMFYRUN" resume "$journal" -q
[ "$(grep -c bad fails.log)" -eq 3 ] && [ "$(grep -c good fails.log)" -eq 3 ] || fail "resume redid finished runs: $(sort fails.log | uniq -c)"
[ "$(ls out/ab-tests/fails-*.json | wc -l)" -eq 2 ] || fail "resume wrote no new result"
pass "an always-failing variant is not the winner; resume does not redo failed runs"

# All variants failing: exit 1, and still a result.
sed -e 's/echo good >>/echo good2 >>/' -e 's/echo .{\\"score\\": 7}./exit 3/' -e 's/"fails"/"allfail"/' fails.json > allfail.json
expect_exit 1 "$COMFYRUN" abtest allfail.json -o out -q
r=$(result_of out allfail)
jq -e '.winner == null and all(.variants[]; .success == false)' "$r" >/dev/null || fail "all failing: $(jq -c '{winner, decision}' "$r")"
pass "no variant succeeded: exit 1"

# Invalid variants: every problem at once, exit 2, nothing run.
mkdir -p t/graphs
cat > t/graphs/g.json <<JSON
{"workflowId": "g", "params": {"prompt": "p"}, "nodes": [
  {"id": "say", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo ran >> $E2E_DIR/invalid.log; echo \$0", "<<params.prompt>>"]}}]}
JSON
cat > t/bad.json <<JSON
{"testId": "bad", "variants": [
  {"variantId": "ok", "graph": "graphs/g.json", "params": {"prompt": "x"}},
  {"variantId": "typo", "graph": "graphs/g.json", "params": {"promt": "x"}},
  {"variantId": "broken", "nodes": [{"id": "n", "type": "shell", "inputs": {"argv": ["echo", "<<nowhere.x>>"]}}]}
]}
JSON
expect_exit 2 "$COMFYRUN" abtest t/bad.json -o out
grep -q "variant 'typo'" last.err && grep -q "variants\[2\].nodes\[0\]" last.err && grep -q "nothing was run" last.err \
  || fail "diagnostics: $(cat last.err)"
[ ! -f invalid.log ] || fail "an invalid test ran something"
pass "invalid variants: all errors at once, exit 2, nothing run"

# kill -9 in the middle, then resume: finished runs are not redone.
cat > slow.json <<JSON
{"testId": "slow", "repeats": 3, "variants": [
  {"variantId": "a", "nodes": [{"id": "work", "type": "shell",
    "inputs": {"argv": ["sh", "-c", "echo a >> $E2E_DIR/slow.log; sleep 0.4; echo '{\"qualityScore\": 6}'"]}}]},
  {"variantId": "b", "nodes": [{"id": "work", "type": "shell",
    "inputs": {"argv": ["sh", "-c", "echo b >> $E2E_DIR/slow.log; sleep 0.4; echo '{\"qualityScore\": 8}'"]}}]}
]}
JSON
"$COMFYRUN" abtest slow.json -o slow -j 2 -q 2>slow.err &
pid=$!
j=""
for _ in $(seq 200); do
  j=$(ls slow/journals/*.jsonl 2>/dev/null | head -1 || true)
  [ -n "$j" ] && [ "$(grep -c '"type":"completed"' "$j")" -ge 2 ] && break
  sleep 0.05
done
kill -9 $pid; wait $pid 2>/dev/null || true
done_before=$(jq -r 'select(.type == "completed") | .node' "$j" | sort)
n_done=$(echo "$done_before" | grep -c . || true)
[ "$n_done" -ge 2 ] && [ "$n_done" -lt 6 ] || fail "kill came at the wrong time: $n_done runs done"
expect_exit 0 "$COMFYRUN" abtest --resume "$j" -q
for node in $done_before; do
  [ "$(jq -r "select(.type == \"node_started\" and .node == \"$node\") | .node" "$j" | wc -l)" -eq 1 ] \
    || fail "finished run $node was started again after resume"
done
started_unfinished=$(( $(grep -c . slow.log) ))
[ "$started_unfinished" -le $((6 + 2)) ] || fail "too many executions: $(sort slow.log | uniq -c)"
r=$(result_of slow slow)
jq -e '.variants[0].runs == 3 and .variants[1].runs == 3 and .run.runsUnfinished == 0 and .winner == "b"
       and .variants[1].qualityScore == 8' "$r" >/dev/null || fail "result after resume: $(jq -c '{run, winner}' "$r")"
pass "kill -9 mid-test, abtest --resume: finished runs not redone, result complete"

# SIGINT: exit 130 and no result; `comfyrun resume` finishes it and writes the A/B result.
rm -f slow.log
"$COMFYRUN" abtest slow.json -o int -j 1 -q 2>int.err &
pid=$!
for _ in $(seq 200); do
  j=$(ls int/journals/*.jsonl 2>/dev/null | head -1 || true)
  [ -n "$j" ] && [ "$(grep -c '"type":"completed"' "$j")" -ge 1 ] && break
  sleep 0.05
done
kill -INT $pid
set +e; wait $pid; code=$?; set -e
[ $code -eq 130 ] || fail "SIGINT exit code $code: $(cat int.err)"
[ -z "$(ls int/ab-tests 2>/dev/null)" ] || fail "an interrupted test wrote a result"
expect_exit 0 "$COMFYRUN" resume "$j" -q
r=$(result_of int slow)
[ -f "$r" ] && jq -e '.variants[0].runs == 3 and .variants[1].runs == 3' "$r" >/dev/null || fail "resume wrote no complete A/B result"
pass "SIGINT exits 130; comfyrun resume finishes the A/B test and writes its result"
