#!/usr/bin/env bash
# `comfyrun schema` checked with an independent JSON Schema validator (Debian's
# python3-jsonschema): the schema is a valid draft-07 schema; every workflow in graphs/ and
# every inline variant workflow in ab-tests/ is valid under it; and on a set of small
# workflows the schema and `comfyrun validate` agree: the good ones (templates where numbers
# or enums are expected, shorthand retry and timeout) pass both, the broken ones (unknown
# type, missing required input, bad enum value, ...) fail both.
source "$(dirname "$0")/support/lib.sh"

# Debian's python3 (not a python earlier on PATH, e.g. pyenv's) has python3-jsonschema.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" -c 'import jsonschema' 2>/dev/null || fail "python3-jsonschema is missing (scripts/setup installs TEST_PACKAGES)"

expect_exit 0 "$COMFYRUN" schema
cp last.out schema.json
expect_exit 0 "$COMFYRUN" schema -o schema-file.json
cmp -s schema.json schema-file.json || fail "schema -o wrote something else than stdout"
expect_exit 2 "$COMFYRUN" schema -o no-such-dir/schema.json

mkdir good bad
# Good: templates for a number, an enum and an array; retry and timeout in both spellings;
# dependsOn as a string; an alias; a value node with free inputs; params and pools.
cat > good/templates.json <<'EOF'
{"workflowId": "t", "params": {"secs": 4, "transition": "fade", "clips": []},
 "defaults": {"retry": 2, "timeout": {"attempt": "10m", "total": "1h"}, "cache": true},
 "pools": {"media": 1},
 "nodes": [
  {"id": "img", "type": "image_generation", "inputs": {"prompt": "a cat", "aspectRatio": "16:9"}},
  {"id": "v", "type": "video_generation", "retry": {"maximumAttempts": 5, "initialInterval": "2s",
     "nonRetryableErrorTypes": ["Auth"]}, "timeout": "20m",
   "inputs": {"prompt": "a cat walks, <<params.transition>> mood", "duration": "<<params.secs>>",
              "characterImagePath": "{{img.imagePath}}", "pollInterval": "1m 30s"}},
  {"id": "s", "type": "video_stitch", "dependsOn": "img", "pool": "media",
   "inputs": {"videoPaths": ["<<v.videoPath>>"], "transitionType": "<<params.transition>>",
              "transitionDuration": "<< params.secs >>"}},
  {"id": "k", "type": "value", "inputs": {"anything": [1, 2], "more": {"x": true}}},
  {"id": "sh", "type": "shell", "inputs": {"argv": ["echo", "<<k.anything>>"]}, "cache": false}
 ]}
EOF
# Bad, one mistake each; the name says which.
w() { echo "{\"workflowId\": \"b\", \"nodes\": [$2]}" > "bad/$1.json"; }
w unknown_type '{"id": "a", "type": "video_generator", "inputs": {"prompt": "x"}}'
w missing_required_input '{"id": "a", "type": "video_generation", "inputs": {"model": "veo3"}}'
w missing_inputs '{"id": "a", "type": "http"}'
w no_prompt_of_two '{"id": "a", "type": "character_image", "inputs": {"model": "nanobanana"}}'
w bad_enum '{"id": "a", "type": "video_stitch", "inputs": {"videoPaths": ["a.mp4"], "transitionType": "sparkle"}}'
w string_for_number '{"id": "a", "type": "video_generation", "inputs": {"prompt": "x", "duration": "eight"}}'
w out_of_range '{"id": "a", "type": "video_generation", "inputs": {"prompt": "x", "duration": 600}}'
w unknown_input '{"id": "a", "type": "video_generation", "inputs": {"prompt": "x", "durration": 8}}'
w unknown_node_key '{"id": "a", "type": "value", "inputs": {}, "retries": 3}'
w bad_duration '{"id": "a", "type": "value", "inputs": {}, "timeout": "10 parsecs"}'
w bad_retry_key '{"id": "a", "type": "value", "inputs": {}, "retry": {"maxAttempts": 3}}'
w bad_error_type '{"id": "a", "type": "value", "inputs": {}, "retry": {"nonRetryableErrorTypes": ["Oops"]}}'
w bad_id '{"id": "a b", "type": "value", "inputs": {}}'
w reserved_id '{"id": "params", "type": "value", "inputs": {}}'
w no_type '{"id": "a", "inputs": {}}'
w undeclared_output '{"id": "a", "type": "media_probe", "inputs": {"path": "x.mp4"}, "outputs": ["videoPath"]}'
w text_for_boolean '{"id": "a", "type": "media_probe", "inputs": {"path": "x.mp4", "hasAudio": "yes <<b.c>>"}}'
echo '{"workflowId": "b", "nodes": []}' > bad/no_nodes.json
echo '{"workflowId": "b c", "nodes": [{"id": "a", "type": "value", "inputs": {}}]}' > bad/bad_workflow_id.json
echo '{"workflowId": "b", "pools": {"veo": 0}, "nodes": [{"id": "a", "type": "value", "inputs": {}}]}' > bad/bad_pool.json

# The workflows in the repository: graphs/*.json, and ab-tests/ variants that carry nodes.
cp "$COMFYRUN_SOURCE_DIR"/graphs/*.json good/
n_graphs=$(ls "$COMFYRUN_SOURCE_DIR"/graphs/*.json | wc -l)
[ "$n_graphs" -ge 5 ] || fail "expected the graphs/ examples, found $n_graphs"
for t in "$COMFYRUN_SOURCE_DIR"/ab-tests/*.json; do
  jq -c '.variants[]? | select(.nodes) ' "$t" | while IFS= read -r v; do
    id=$(jq -r .variantId <<<"$v")
    jq '{workflowId, nodes} + (if .params then {params} else {} end)' <<<"$v" > "good/abtest-$(basename "$t" .json)-$id.json"
  done
done
ls good/abtest-* >/dev/null 2>&1 || fail "no inline workflow found in ab-tests/"

# comfyrun itself must agree with the expectations (else the test data is wrong).
for f in good/*.json; do
  timeout 60 "$COMFYRUN" validate "$f" >/dev/null 2>validate.err || fail "comfyrun validate rejects $f: $(cat validate.err)"
done
for f in bad/*.json; do
  set +e; timeout 60 "$COMFYRUN" validate "$f" >/dev/null 2>&1; code=$?; set -e
  [ "$code" -eq 2 ] || fail "comfyrun validate accepts $f (exit $code)"
done

timeout 120 "$PY" - schema.json good bad <<'EOF' || fail "schema check failed (above)"
import glob, json, sys
import jsonschema

schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
assert cls is jsonschema.Draft7Validator, cls
cls.check_schema(schema)  # the schema itself is a valid draft-07 schema
validator = cls(schema)
failures = 0
for path in sorted(glob.glob(sys.argv[2] + "/*.json")):
    errors = list(validator.iter_errors(json.load(open(path))))
    for e in errors:
        print(f"FAIL: {path} should be valid: {'/'.join(map(str, e.absolute_path))}: {e.message}")
    failures += bool(errors)
bad = sorted(glob.glob(sys.argv[3] + "/*.json"))
for path in bad:
    errors = list(validator.iter_errors(json.load(open(path))))
    if not errors:
        print(f"FAIL: {path} should be rejected by the schema")
        failures += 1
print(f"{len(glob.glob(sys.argv[2] + '/*.json'))} valid, {len(bad)} rejected")
sys.exit(1 if failures else 0)
EOF
pass "schema: valid draft-07; graphs/, ab-tests/ variants and good workflows accepted; $(ls bad | wc -l) broken ones rejected"
