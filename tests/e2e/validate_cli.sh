#!/usr/bin/env bash
# End-to-end checks of the commands that read a workflow without running it: validate, plan,
# nodes, --version and --help; and hostile input, which must get a clear message and exit 2,
# never a crash or a hang.
#
# Run by ctest with COMFYRUN (the binary) and COMFYRUN_SOURCE_DIR (the repository) set, or by
# hand: COMFYRUN=build/comfyrun COMFYRUN_SOURCE_DIR=$PWD bash tests/e2e/validate_cli.sh
set -euo pipefail

: "${COMFYRUN:?set COMFYRUN to the comfyrun binary}"
: "${COMFYRUN_SOURCE_DIR:?set COMFYRUN_SOURCE_DIR to the repository}"
COMFYRUN=$(realpath "$COMFYRUN")
GRAPHS="$COMFYRUN_SOURCE_DIR/graphs"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run EXPECTED_EXIT ARGS...: runs comfyrun with a limit of RUN_LIMIT seconds (20; a hang
# detector, not a speed test), keeps stdout in out.txt and stderr in err.txt, and checks the
# exit code (124 = hung, >128 = killed by a signal).
RUN_LIMIT=20
run() {
  local expected=$1
  shift
  local code=0
  timeout "$RUN_LIMIT" "$COMFYRUN" "$@" >out.txt 2>err.txt || code=$?
  if [ "$code" -ne "$expected" ]; then
    fail "comfyrun $* exited $code, expected $expected"
    sed 's/^/  stderr: /' err.txt | head -5 >&2
  fi
}

# expect_err PATTERN: the last command's stderr matches the extended regex PATTERN.
expect_err() {
  grep -Eq -- "$1" err.txt || {
    fail "stderr does not match /$1/"
    sed 's/^/  stderr: /' err.txt | head -5 >&2
  }
}

# --- the shipped graphs -------------------------------------------------------------------
for graph in "$GRAPHS"/*.json; do
  run 0 validate "$graph"
  expect_err "valid \\([0-9]+ nodes?\\)"
done
run 0 validate "$GRAPHS"/*.json

run 0 plan "$GRAPHS/multi-video-series.json"
grep -q "critical path" out.txt || fail "plan text has no critical path"
grep -q "estimated cost" out.txt || fail "plan text has no estimated cost"

for graph in "$GRAPHS"/*.json; do
  run 0 plan "$graph" --dot
  timeout 20 dot -Tsvg out.txt >plan.svg 2>dot-err.txt || fail "dot cannot render plan --dot of $graph: $(cat dot-err.txt)"
  grep -q "<svg" plan.svg || fail "dot made no SVG for $graph"
  run 0 plan "$graph" --json
  jq -e '.stages | length > 0' out.txt >/dev/null || fail "plan --json of $graph has no stages"
  jq -e '.criticalPath | length > 0' out.txt >/dev/null || fail "plan --json of $graph has no critical path"
  jq -e '.estimatedCost >= 0' out.txt >/dev/null || fail "plan --json of $graph has no estimated cost"
done
run 0 plan "$GRAPHS/multi-video-series.json" --json
[ "$(jq -r '.stages | map(length) | join(",")' out.txt)" = "1,3,1" ] || fail "multi-video-series stages are not 1,3,1"
run 0 plan "$GRAPHS/quickstart.json" --offline --json
[ "$(jq '.estimatedCost' out.txt)" = "0" ] || fail "plan --offline estimates a cost"

# --- nodes, --version, --help -----------------------------------------------------------
run 0 nodes
for type in character_image video_generation sora2_video comfyui video_stitch media_probe shell http value; do
  grep -q "^$type" out.txt || fail "nodes does not list $type"
done
run 0 nodes video_stitch --json
jq -e '.type == "video_stitch" and (.inputs | map(.name) | index("videoPaths") != null)' out.txt >/dev/null ||
  fail "nodes video_stitch --json lacks videoPaths"
jq -e '.outputs | map(.name) | index("videoPath") != null' out.txt >/dev/null || fail "video_stitch has no videoPath output"
run 0 nodes --json
[ "$(jq 'length' out.txt)" -ge 9 ] || fail "nodes --json lists fewer than 9 types"
run 0 nodes image_generation
grep -q "^character_image" out.txt || fail "alias image_generation does not show character_image"
run 2 nodes teleport
expect_err "unknown node type 'teleport'"

run 0 --version
grep -Eq "^comfyrun [0-9]+\.[0-9]+\.[0-9]+" out.txt || fail "--version prints no version"
run 0 --help
grep -q "validate" out.txt || fail "--help does not list validate"
subcommands=$(timeout 20 "$COMFYRUN" --help | awk 'tolower($0) ~ /^(subcommands:|commands$)/{on=1; next} on && /^  [a-z]/{print $1} on && /^$/{on=0}')
[ -n "$subcommands" ] || fail "--help lists no subcommands"
for sub in $subcommands; do
  run 0 "$sub" --help
  grep -Eqi "usage|^synopsis$" out.txt || fail "$sub --help prints no usage"
done
run 2
run 2 frobnicate
run 2 validate

# --- validate with params ---------------------------------------------------------------
cat >params.json <<'EOF'
{"workflowId": "p", "params": {"n": 3, "style": "noir"},
 "nodes": [{"id": "a", "type": "value", "inputs": {"n": "<<params.n>>", "s": "<<params.style>>"}}]}
EOF
run 0 validate params.json --param n=5 -p style=pop
run 2 validate params.json --param n=five
expect_err "params.json: --param n: expected number like its default 3, got 'five'"
run 2 validate params.json --param styel=pop
expect_err "did you mean 'style'\\?"
run 2 validate params.json --param n
expect_err "--param 'n': the value is missing; write --param NAME=VALUE"

# --- broken workflows: exact messages -----------------------------------------------------
cat >typo.json <<'EOF'
{"nodes": [
  {"id": "video_segment_1", "type": "video_generation", "inputs": {"prompt": "p"}},
  {"id": "stitch", "type": "video_stitch", "inputs": {"videoPaths": ["<<video_segmnt_1.videoPath>>"]}}]}
EOF
run 2 validate typo.json
expect_err "^typo.json: node 'stitch' at \\\$.nodes\[1\].inputs.videoPaths\[0\]: <<video_segmnt_1.videoPath>> names unknown node 'video_segmnt_1'; did you mean 'video_segment_1'\\?$"
expect_err "^typo.json: 1 error$"

run 2 validate typo.json --json
jq -e '.valid == false and (.diagnostics | length) == 1' out.txt >/dev/null || fail "validate --json is wrong"
jq -e '.diagnostics[0].node == "stitch" and .diagnostics[0].path == "$.nodes[1].inputs.videoPaths[0]"' out.txt \
  >/dev/null || fail "validate --json lacks node or path"

cat >cycle.json <<'EOF'
{"nodes": [{"id": "a", "type": "value", "inputs": {"x": "<<c.x>>"}},
           {"id": "b", "type": "value", "inputs": {"x": "<<a.x>>"}},
           {"id": "c", "type": "value", "inputs": {"x": "<<b.x>>"}}]}
EOF
run 2 validate cycle.json
expect_err "cycle: a -> b -> c -> a"

# One valid and one invalid file: exit 2, both reported.
run 2 validate "$GRAPHS/quickstart.json" cycle.json
expect_err "quickstart.json: valid"
expect_err "cycle.json: 1 error"
run 2 plan cycle.json
expect_err "cycle: a -> b -> c -> a"

# --- hostile input ------------------------------------------------------------------------
: >empty.json
run 2 validate empty.json
expect_err "^empty.json: file is empty$"
run 2 plan empty.json

run 2 validate missing.json
expect_err "^missing.json: cannot read file: no such file$"

mkdir adir
run 2 validate adir
expect_err "^adir: cannot read file: is a directory, not a file$"

head -c 4096 /dev/urandom >garbage.json
run 2 validate garbage.json
expect_err "^garbage.json: not (valid JSON|a JSON text)"

printf '{"nodes": [\n  {"id": "a",, }\n]}' >syntax.json
run 2 validate syntax.json
expect_err "^syntax.json: not valid JSON at line 2, column 14: "

printf '[1, 2]' >array.json
run 2 validate array.json
expect_err "a workflow is a JSON object with \"nodes\", got array"

run 2 validate "$COMFYRUN_SOURCE_DIR/ab-tests/aria-prompt-comparison.json"
expect_err "this is an A/B test definition, not a workflow"

# JSON nested 100,000 levels deep, both arrays and objects.
python3 -c 'import sys; sys.stdout.write("[" * 100000 + "]" * 100000)' >deep.json
run 2 validate deep.json
expect_err "JSON nested deeper than [0-9]+ levels at line 1, column [0-9]+"
python3 -c 'import sys; sys.stdout.write("{\"nodes\": " + "{\"a\": " * 100000 + "1" + "}" * 100001)' >deep2.json
run 2 validate deep2.json
expect_err "JSON nested deeper than"
# Deep nesting inside a node's inputs, below the limit, still validates.
python3 -c 'import sys; sys.stdout.write("{\"nodes\": [{\"id\": \"a\", \"type\": \"value\", \"inputs\": {\"x\": " + "[" * 200 + "\"<<params.p>>\"" + "]" * 200 + "}}], \"params\": {\"p\": 1}}")' >deep_ok.json
run 0 validate deep_ok.json

# A node id with odd characters.
printf '{"nodes": [{"id": "clip 1; rm -rf /", "type": "value"}]}' >oddid.json
run 2 validate oddid.json
expect_err "node id 'clip 1; rm -rf /' has characters a template cannot name"

# Non-ASCII in a bad id: messages cut long quotes at a character boundary, so --json stays
# valid UTF-8; and numbers too large for a double.
python3 -c 'import json; print(json.dumps({"nodes": [{"id": "\u00e9" * 100, "type": "value"}]}))' >utf8.json
run 2 validate utf8.json --json
jq -e '.diagnostics[0].message | test("has characters a template cannot name")' out.txt >/dev/null ||
  fail "validate --json of a non-ASCII id is not valid JSON"
printf '{"nodes": [{"id": "a", "type": "value", "inputs": {"x": 1e400}}]}' >overflow.json
run 2 validate overflow.json
expect_err "^overflow.json: not valid JSON at line 1, column 57: number overflow parsing '1e400'$"

# 50 MB: a huge description string, and many nodes. Both are over the 16 MB limit.
python3 - <<'EOF'
import json
with open("huge_string.json", "w") as f:
    f.write('{"description": "' + "x" * (50 << 20) + '", "nodes": [{"id": "a", "type": "value"}]}')
nodes = [{"id": f"n{i}", "type": "value", "inputs": {"x": i, "pad": "y" * 400}} for i in range(120000)]
with open("huge_nodes.json", "w") as f:
    json.dump({"workflowId": "huge", "nodes": nodes}, f)
EOF
[ "$(stat -c %s huge_nodes.json)" -gt $((50 << 20)) ] || fail "huge_nodes.json is under 50 MB"
run 2 validate huge_string.json
expect_err "^huge_string.json: file is 50.0 MiB; the limit is 16 MiB$"
run 2 validate huge_nodes.json
expect_err "the limit is 16 MiB"

# A big valid workflow (100,000 value nodes in a chain, ~6 MB) validates (within run's 20 s
# hang guard; how fast is scripts/bench/engine's business, not a test's).
python3 - <<'EOF'
import json
nodes = [{"id": "n0", "type": "value", "inputs": {"x": 0}}]
nodes += [{"id": f"n{i}", "type": "value", "inputs": {"x": f"<<n{i-1}.x>>"}} for i in range(1, 100000)]
with open("chain.json", "w") as f:
    json.dump({"workflowId": "chain", "nodes": nodes}, f)
EOF
# 100,000 nodes take 0.6 s in a release build but 3-25 s under AddressSanitizer on a busy
# machine (scripts/sanitize asan): the limit only has to catch a hang.
RUN_LIMIT=180
run 0 validate chain.json
run 0 plan chain.json
grep -Eq "^critical path \(~.*, 100000 nodes\): n0 -> n1 -> .* -> \.\.\. \(99980 more\) -> .* -> n99999$" out.txt ||
  fail "plan text of the chain does not abbreviate the critical path"
run 0 plan chain.json --json
[ "$(jq '.criticalPath | length' out.txt)" = 100000 ] || fail "chain critical path is not 100,000 nodes"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "validate_cli: all checks passed" >&2
