#!/usr/bin/env bash
# `comfyrun report` pages opened in a real browser (headless Chromium): a run with retries,
# queue waits, a failed and a skipped node, and an A/B test, both carrying hostile text
# (markup in the description, a prompt and an error message). Each page must load with no
# console message and no JavaScript exception, its script must run to its end (it sets
# data-ready="1"), and no injected element may appear in the DOM. First, the same check must
# catch a page that does log and throw, so that a silent browser cannot pass the test.
source "$(dirname "$0")/support/lib.sh"

BROWSER=$(command -v chromium || command -v chromium-browser || true)
[ -n "$BROWSER" ] || fail "chromium is missing (scripts/setup installs TEST_PACKAGES)"

# browse PAGE: loads PAGE headless; the DOM after load goes to PAGE.dom, the browser's log
# (console messages are "INFO:CONSOLE" lines) to PAGE.log.
browse() {
  local profile
  profile=$(mktemp -d "$E2E_DIR/profile.XXXXXX")
  set +e
  timeout 90 "$BROWSER" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --disable-extensions \
    --disable-dev-shm-usage \
    --user-data-dir="$profile" --enable-logging=stderr --v=0 --dump-dom "file://$1" >"$1.dom" 2>"$1.log"
  local code=$?
  set -e
  [ "$code" -eq 0 ] || fail "chromium exited $code on $1: $(grep -v dbus "$1.log" | tail -5)"
  [ -s "$1.dom" ] || fail "chromium printed no DOM for $1"
}

# check_page PAGE: no console output, the script finished, one <script> (ours), no element
# that loads anything (src/href), nothing injected.
check_page() {
  browse "$1"
  if grep -E ':CONSOLE|Uncaught' "$1.log" >&2; then fail "console messages or exceptions on $1 (above)"; fi
  grep -q 'data-ready="1"' "$1.dom" || fail "the page's script did not run to its end on $1"
  [ "$(grep -o '<script' "$1.dom" | wc -l)" -eq 1 ] || fail "more than one <script> element in $1"
  if grep -Eq '<[a-zA-Z]+[^>]* (src|href|onerror)=' "$1.dom"; then fail "an element loads something or has a handler in $1"; fi
  if grep -Eq '<[a-zA-Z][^>]*[[:space:]](src|href)=|url\(["'\'']?[a-z]+:|@import' "$1"; then
    fail "a reference to an external resource in $1"
  fi
  grep -q 'injected' "$1.dom" || fail "the hostile text is missing from $1 (the test input did not reach the page)"
}

# The check itself must see console output, exceptions and a script that stopped early.
cat > canary.html <<'EOF'
<!DOCTYPE html><html><body><p>canary</p>
<script>console.error("canary-console"); null.x; document.documentElement.setAttribute("data-ready", "1");</script>
</body></html>
EOF
browse "$E2E_DIR/canary.html"
grep -q 'canary-console' canary.html.log || fail "chromium does not report console messages: $(tail -3 canary.html.log)"
grep -q 'Uncaught TypeError' canary.html.log || fail "chromium does not report exceptions: $(tail -3 canary.html.log)"
grep -q 'data-ready="1"' canary.html.dom && fail "a script that threw early still set data-ready"
pass "the browser check sees console messages, exceptions and a script that stopped"

# A run: `gen` fails once then succeeds (retry), three parallel nodes on -j 2 (queue waits),
# `bad` fails for good with markup on stderr, `after_bad` is skipped.
cat > wf.json <<'EOF'
{"workflowId": "report-e2e",
 "description": "hostile <script>console.error('injected description')</script>",
 "nodes": [
  {"id": "gen", "type": "shell", "retry": {"maximumAttempts": 3, "initialInterval": "200ms"},
   "inputs": {"argv": ["sh", "-c", "if [ -e ../tried ]; then echo '{\"ok\": 1}'; else touch ../tried; exit 3; fi"]}},
  {"id": "p1", "type": "shell", "dependsOn": ["gen"], "inputs": {"argv": ["sleep", "0.3"]}},
  {"id": "p2", "type": "shell", "dependsOn": ["gen"], "inputs": {"argv": ["sleep", "0.3"]}},
  {"id": "p3", "type": "shell", "dependsOn": ["gen"], "inputs": {"argv": ["sleep", "0.3"]}},
  {"id": "label", "type": "value", "inputs": {"prompt": "<img src=x onerror=\"console.error('injected prompt')\">"}},
  {"id": "bad", "type": "shell", "retry": 1,
   "inputs": {"argv": ["sh", "-c", "echo '<script>console.error(\"injected error\")</script>' >&2; exit 1"]}},
  {"id": "after_bad", "type": "value", "inputs": {"x": "<<bad.stdout>>"}}
 ]}
EOF
expect_exit 1 "$COMFYRUN" run wf.json -o out -j 2 -q
journal=$(ls out/journals/report-e2e-*.jsonl)
expect_exit 0 "$COMFYRUN" report "$journal" --html "$E2E_DIR/run.html"
grep -q 'class="bar failed"' run.html || fail "no failed attempt drawn"
grep -q 'class="backoff"' run.html || fail "no retry wait drawn"
grep -q 'mark skipped' run.html || fail "no skipped node drawn"
check_page "$E2E_DIR/run.html"
pass "run report: loads cleanly in chromium, hostile text escaped"

# An A/B test of two shell variants (3 runs each), scores from the node's folder name.
cat > ab.json <<'EOF'
{"testId": "report-ab", "description": "<script>console.error('injected ab')</script> two scorers", "repeats": 3,
 "variants": [
  {"variantId": "steady", "nodes": [{"id": "score", "type": "shell",
    "inputs": {"argv": ["sh", "-c", "echo \"{\\\"qualityScore\\\": $(( $(pwd | cksum | cut -c1-2) % 3 + 6 ))}\""]}}]},
  {"variantId": "jumpy", "nodes": [{"id": "score", "type": "shell",
    "inputs": {"argv": ["sh", "-c", "sleep 0.1; echo \"{\\\"qualityScore\\\": $(( $(pwd | cksum | cut -c1-2) % 7 + 3 ))}\""]}}]}
 ]}
EOF
expect_exit 0 "$COMFYRUN" abtest ab.json -o ab -j 4 -q
result=$(ls ab/ab-tests/report-ab-*.json)
expect_exit 0 "$COMFYRUN" report "$result" --html "$E2E_DIR/ab.html"
[ "$(grep -o 'class="mean"' ab.html | wc -l)" -ge 8 ] || fail "too few means drawn in the A/B charts"
check_page "$E2E_DIR/ab.html"
pass "A/B report: loads cleanly in chromium, hostile text escaped"

# Bad input: exit 2 and a message naming the file.
expect_exit 2 "$COMFYRUN" report wf.json --html x.html
grep -q 'wf.json' last.err || fail "the error does not name the file: $(cat last.err)"
expect_exit 2 "$COMFYRUN" report no-such.jsonl --html x.html
expect_exit 2 "$COMFYRUN" report "$journal"
pass "report: bad input is exit 2"
