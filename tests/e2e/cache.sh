#!/usr/bin/env bash
# The output cache through the binary (docs/cache.md): a paid image generation against the
# fake Gemini server is stored, then reused at cost 0 with no request; misses on a changed
# input file with the same name, a changed seed, --no-cache and a corrupt entry; two
# processes storing the same key at once; resume of a run with cached nodes; cache ls/prune.
source "$(dirname "$0")/support/lib.sh"
start_fake_providers
submissions() { curl -s "$GEMINI_FAKE/_fake/stats" | jq .totalSubmissions; }
lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
entries() { "$COMFYRUN" cache ls --json | jq "[.[] | select($1)] | length"; }

echo "notes, first version" > notes.txt
cat > wf.json <<JSON
{"workflowId": "e2e-cache", "params": {"notes": "$E2E_DIR/notes.txt", "seed": 7},
 "defaults": {"cache": true},
 "nodes": [
  {"id": "img", "type": "character_image", "inputs": {"characterPrompt": "a robot barista", "seed": "<<params.seed>>"}},
  {"id": "sum", "type": "shell", "inputs": {"argv": ["sh", "-c",
     "echo run >> $E2E_DIR/sum.log; cat \"\$1\" \"\$2\" | sha256sum | cut -c1-16 > sum.txt; echo '{\"ok\": true}'",
     "x", "<<img.imagePath>>", "<<params.notes>>"]}},
  {"id": "stamp", "type": "shell", "cache": false, "inputs": {"argv": ["sh", "-c", "echo run >> $E2E_DIR/stamp.log"]}}
 ]}
JSON

# 1. First run: everything runs and is paid for; results are stored.
expect_exit 0 "$COMFYRUN" run wf.json --json -q
jq -e '.totalCost > 0' last.out >/dev/null || fail "first run is paid: $(cat last.out)"
[ "$(submissions)" -eq 1 ] && [ "$(lines sum.log)" -eq 1 ] || fail "first run: $(submissions) submissions, $(lines sum.log) sums"
[ "$(entries 'true')" -eq 2 ] || fail "expected 2 cache entries (img, sum), got $("$COMFYRUN" cache ls)"
pass "miss: the generation is paid for and stored"

# 2. Same inputs: a hit, at cost 0, with no request; journal, metrics and status line say so.
expect_exit 0 "$COMFYRUN" run wf.json --json
journal=$(jq -r .journal last.out); metrics=$(jq -r .metrics last.out)
jq -e '.totalCost == 0 and .cachedNodes == 2' last.out >/dev/null || fail "hit is not free, or not counted: $(cat last.out)"
grep -q "succeeded in .*, cost \$0.00, 2 from the cache" last.err || fail "summary line: $(cat last.err)"
[ "$(submissions)" -eq 1 ] || fail "a hit sent a generation request"
[ "$(lines sum.log)" -eq 1 ] && [ "$(lines stamp.log)" -eq 2 ] || fail "cached shell ran again, or the uncached one did not"
grep -q "done  img in .*(cached)" last.err || fail "status line: $(cat last.err)"
jq -e -s 'map(select(.type=="completed" and .node=="img"))[0] | .cached == true and .cost == 0 and .outputs.cost == 0' \
  "$journal" >/dev/null || fail "journal: no cached completion of img"
jq -e '.cachedNodes == 2 and ([.nodes[] | select(.id=="img")][0] | .cached and .cost == 0 and .provider == "gemini")' \
  "$metrics" >/dev/null || fail "metrics: $(cat "$metrics")"
image=$(jq -r -s 'map(select(.type=="completed" and .node=="img"))[0].outputs.imagePath' "$journal")
case "$image" in "$E2E_DIR/generated/runs/$(jq -r .runId last.out)/img/"*) ;; *) fail "image not in the new run folder: $image";; esac
[ -s "$image" ] && [ "$(stat -c %h "$image")" -ge 2 ] || fail "image not restored as a hard link: $image"
pass "hit: cost 0, no request, cached in journal/metrics/status, files hard-linked into the run"

# 3. Any input change misses: a changed file with the same name, a seed, --no-cache.
echo "notes, second version" > notes.txt
expect_exit 0 "$COMFYRUN" run wf.json -q
[ "$(submissions)" -eq 1 ] && [ "$(lines sum.log)" -eq 2 ] || fail "changed notes.txt: $(submissions) submissions, $(lines sum.log) sums"
expect_exit 0 "$COMFYRUN" run wf.json -q -p seed=8
# The fake returns the same bytes for any seed: sum, keyed by content, still hits.
[ "$(submissions)" -eq 2 ] && [ "$(lines sum.log)" -eq 2 ] || fail "a new seed: $(submissions) submissions, $(lines sum.log) sums"
expect_exit 0 "$COMFYRUN" run wf.json -q --no-cache
[ "$(submissions)" -eq 3 ] && [ "$(lines sum.log)" -eq 3 ] || fail "--no-cache used the cache"
pass "miss on a changed input file (same name), a changed seed, and with --no-cache"

# 4. Corrupt entries are misses with a warning, never a crash; the node's new result replaces them.
for dir in generated/cache/*/*/; do
  jq -e '.type == "character_image"' "$dir/manifest.json" >/dev/null || continue
  for f in "$dir"files/*; do rm "$f"; head -c "$(jq '.files[0].size' "$dir/manifest.json")" /dev/zero > "$f"; done
done
expect_exit 0 "$COMFYRUN" run wf.json -q
grep -q "warning: img: cache entry .* is unusable (files/.* does not match its SHA-256)" last.err || fail "no warning: $(cat last.err)"
[ "$(submissions)" -eq 4 ] || fail "a corrupt entry was used"
expect_exit 0 "$COMFYRUN" run wf.json -q
[ "$(submissions)" -eq 4 ] || fail "the corrupt entry was not replaced"
for m in generated/cache/*/*/manifest.json; do echo '{"format": 1, "key"' > "$m"; done
expect_exit 0 "$COMFYRUN" run wf.json -q
grep -q "is unusable (manifest.json is not a JSON object)" last.err || fail "bad manifest: $(cat last.err)"
[ "$(submissions)" -eq 5 ] || fail "a bad manifest was used"
pass "corrupt entries (hash mismatch, bad manifest): warning, miss, replaced"

# 5. Resume of a run whose nodes came from the cache: nothing runs or is paid again.
jq '.nodes += [{"id": "gate", "type": "shell", "cache": false, "dependsOn": ["sum"],
                "inputs": {"argv": ["test", "-f", "'"$E2E_DIR"'/marker"]}}]
    | .defaults.retry = {"maximumAttempts": 1}' wf.json > gated.json
expect_exit 1 "$COMFYRUN" run gated.json --json -q
journal=$(jq -r .journal last.out)
[ "$(grep -c '"cached":true' "$journal")" -eq 2 ] || fail "gated run: img and sum were not cache hits"
sums=$(lines sum.log)
touch marker
expect_exit 0 "$COMFYRUN" resume "$journal" --json -q
jq -e '.totalCost == 0' last.out >/dev/null || fail "resume paid: $(cat last.out)"
[ "$(submissions)" -eq 5 ] && [ "$(lines sum.log)" -eq "$sums" ] || fail "resume ran a cached node again"
pass "resume after cached completions runs only the failed node"

# 6. Two processes storing the same key at once: both succeed, one valid entry, no leftovers.
cat > slow.json <<JSON
{"workflowId": "e2e-cache-slow", "nodes": [
  {"id": "slow", "type": "shell", "cache": true,
   "inputs": {"argv": ["sh", "-c", "echo run >> $E2E_DIR/slow.log; sleep 1; echo same > out.txt"]}}]}
JSON
"$COMFYRUN" run slow.json -q --journal j/a.jsonl 2>a.err & pa=$!
"$COMFYRUN" run slow.json -q --journal j/b.jsonl 2>b.err & pb=$!
wait $pa || fail "first concurrent writer failed: $(cat a.err)"
wait $pb || fail "second concurrent writer failed: $(cat b.err)"
[ "$(lines slow.log)" -eq 2 ] || fail "the two runs did not both miss (the test needs them to overlap)"
[ "$(entries '.node == "slow"')" -eq 1 ] || fail "expected one entry for slow: $("$COMFYRUN" cache ls)"
[ -z "$(ls -A generated/cache/tmp)" ] || fail "leftovers in cache/tmp: $(ls -A generated/cache/tmp)"
! grep -q warning a.err b.err || fail "a concurrent writer warned: $(cat a.err b.err)"
expect_exit 0 "$COMFYRUN" run slow.json -q
[ "$(lines slow.log)" -eq 2 ] || fail "the entry two writers left is not used"
pass "concurrent writers: both succeed, one valid entry"

# 7. cache ls and prune; no key ever reaches the cache.
if grep -rqF -e "$GEMINI_API_KEY" generated/cache; then fail "an API key is in the cache"; fi
expect_exit 0 "$COMFYRUN" cache ls
grep -q "character_image" last.out && grep -q "entries" last.out || fail "cache ls: $(cat last.out)"
total=$(entries 'true')
expect_exit 0 "$COMFYRUN" cache prune --older-than 30d
grep -q "removed 0 entries" last.out || fail "prune removed fresh entries: $(cat last.out)"
old=$("$COMFYRUN" cache ls --json | jq -r '[.[] | select(.node == "slow")][0].key')
touch -d "40 days ago" "generated/cache/${old:0:2}/$old/manifest.json"
expect_exit 0 "$COMFYRUN" cache prune --older-than 30d --dry-run
grep -q "would remove 1 entry" last.out || fail "dry run: $(cat last.out)"
expect_exit 0 "$COMFYRUN" cache prune --older-than 30d --json
jq -e '.removed == 1' last.out >/dev/null || fail "prune: $(cat last.out)"
[ "$(entries 'true')" -eq $((total - 1)) ] && [ ! -e "generated/cache/${old:0:2}/$old" ] || fail "prune removed the wrong entries"
expect_exit 0 "$COMFYRUN" cache prune --older-than 0
expect_exit 0 "$COMFYRUN" cache ls
grep -q "no cache entries" last.out || fail "prune --older-than 0 left entries: $(cat last.out)"
expect_exit 2 "$COMFYRUN" cache prune --older-than soon
pass "cache ls, prune --older-than (dry run, json, everything), bad age: exit 2"
