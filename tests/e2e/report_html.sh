#!/usr/bin/env bash
# `comfyrun report` pages opened in a real browser (headless Chromium): a run with retries,
# queue waits, a failed and a skipped node, and an A/B test, both carrying hostile text
# (markup in the description, a prompt and an error message). Each page must load with no
# console message and no JavaScript exception, its script must run to its end (it sets
# data-ready="1"), and no injected element may appear in the DOM. First, the same check must
# catch a page that does log and throw, so that a silent browser cannot pass the test.
# Then the quickstart, offline, with a --param and a video node that fails: the page shows the
# prompt as used, a thumbnail of each image and a poster frame of each video (embedded, linked
# to the file), the failed node's error where its video would be; and without the media
# module the page still renders, saying why it has no pictures.
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

# self_contained FILE: no element with an event handler, no src but an embedded picture
# (data:image/...), no link but a relative one (the run's own files), no external style.
self_contained() {
  local tags
  tags=$(grep -Eo '<[a-zA-Z]+[^>]*>' "$1" || true)
  if grep -Eq '[[:space:]]on[a-z]+=' <<<"$tags"; then fail "an element has an event handler in $1"; fi
  if grep -Eo '[[:space:]]src=[^ >]*' <<<"$tags" | grep -Evq '^[[:space:]]src="data:image/(jpeg|png);base64,'; then
    fail "an element loads something other than an embedded picture in $1"
  fi
  if grep -Eo '[[:space:]]href=[^ >]*' <<<"$tags" | grep -Eq '^[[:space:]]href="?([a-zA-Z][a-zA-Z0-9+.-]*:|/)'; then
    fail "a link that is not relative in $1"
  fi
  if grep -Eq 'url\(["'\'']?[a-z]+:|@import' "$1"; then fail "a reference to an external resource in $1"; fi
}

# check_page PAGE [quiet]: no console output, the script finished, one <script> (ours),
# nothing that loads from elsewhere, and (unless quiet) the hostile text present but inert.
check_page() {
  browse "$1"
  if grep -E ':CONSOLE|Uncaught' "$1.log" >&2; then fail "console messages or exceptions on $1 (above)"; fi
  grep -q 'data-ready="1"' "$1.dom" || fail "the page's script did not run to its end on $1"
  [ "$(grep -o '<script' "$1.dom" | wc -l)" -eq 1 ] || fail "more than one <script> element in $1"
  self_contained "$1.dom"
  self_contained "$1"
  [ "${2:-}" = quiet ] && return 0
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
echo '<p><img src="x.png"><a href="https://example.com/">x</a></p>' > loads.html
( self_contained loads.html ) 2>/dev/null && fail "the self-contained check misses an external picture"
echo '<p><a href="https://example.com/">x</a></p>' > loads.html
( self_contained loads.html ) 2>/dev/null && fail "the self-contained check misses an absolute link"
echo '<p><img src="data:image/jpeg;base64,/9g="><a href="out/a.mp4">x</a></p>' > loads.html
( self_contained loads.html ) || fail "the self-contained check refuses an embedded picture or a relative link"
pass "the self-contained check sees external pictures and absolute links"

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

# The quickstart offline, with a --param for its character's prompt, plus a video node whose
# first frame is not a picture (it fails) and a stitch that is then skipped.
python3 - "$COMFYRUN_SOURCE_DIR/graphs/quickstart.json" > gallery.json <<'EOF'
import json, sys
wf = json.load(open(sys.argv[1]))
wf["workflowId"] = "gallery"
wf["nodes"] += [
    {"id": "not_a_picture", "type": "shell",
     "inputs": {"argv": ["sh", "-c", "echo hello > fake.png; printf '{\"path\": \"%s/fake.png\"}' \"$PWD\""]}},
    {"id": "broken_clip", "type": "video_generation", "retry": 1,
     "inputs": {"prompt": "The robot <b>trips</b>", "characterImagePath": "<<not_a_picture.path>>",
                "model": "veo3-fast", "duration": 4}},
    {"id": "broken_cut", "type": "video_stitch",
     "inputs": {"videoPaths": ["<<clip_1.videoPath>>", "<<broken_clip.videoPath>>"], "output": "cut.mp4"}},
]
json.dump(wf, sys.stdout)
EOF
expect_exit 1 "$COMFYRUN" run gallery.json --offline -o out -q -p "character=a robot florist with a green apron"
journal=$(ls out/journals/gallery-*.jsonl)
mkdir -p pages
expect_exit 0 "$COMFYRUN" report "$journal" --html "$E2E_DIR/pages/gallery.html"
page=pages/gallery.html
# The prompt as the node used it, not its template.
grep -q '>a robot florist with a green apron</div>' $page || fail "the character's prompt is not shown as used"
if grep -q '&lt;&lt;params.character&gt;&gt;</div>' $page; then fail "the node table shows the raw template"; fi
# A thumbnail per image and per video (character, clip_1..3, stitched), embedded.
[ "$(grep -o '<img src="data:image/jpeg;base64,' $page | wc -l)" -eq 5 ] || fail "not 5 embedded thumbnails in $page"
# Videos: a poster frame linked to the file, relative to the page, with the duration.
link=$(grep -o '<a class="pic" href="[^"]*clip_1[^"]*\.mp4"><img' $page | head -1 | sed 's/.*href="\([^"]*\)".*/\1/')
[ -n "$link" ] || fail "clip_1's poster frame is not linked to its video"
case "$link" in /*|*:*) fail "the link to clip_1 is not relative: $link" ;; esac
[ -f "pages/$link" ] || fail "the link $link does not lead to the video from the page's folder"
grep -q '&#9654; 4.0s' $page || fail "no duration on the clips' poster frames"
grep -q '&#9654; 1[01]\.[0-9]s' $page || fail "no duration on the stitched video's poster frame"
# The failed node's error where its video would be (escaped), and the skipped stitch.
grep -q '<figure class="shot failed" data-node="broken_clip"><div class="pic">Internal: offline rendering failed' $page \
  || fail "broken_clip's error is not shown where its video would be"
grep -q 'data-node="broken_cut"><div class="pic">skipped: ' $page || fail "the skipped stitch is not in the gallery"
check_page "$E2E_DIR/$page" quiet
pass "run report: prompts as used, thumbnails and poster frames embedded, videos linked, a failed node's error in place"

# Without the media module: the page renders, lists the files, and says why it has no pictures.
COMFYRUN_MEDIA_MODULE=/nonexistent/comfyrun_media.so expect_exit 0 "$COMFYRUN" report "$journal" --html nomod.html
grep -q '<img' nomod.html && fail "pictures without the media module?"
grep -q 'No pictures: the media module did not load' nomod.html || fail "no note about the missing media module"
grep -q 'href="out/runs/[^"]*clip_1[^"]*\.mp4">video (no preview)</a>' nomod.html || fail "the videos are not listed without the module"
grep -q 'offline rendering failed' nomod.html || fail "the failed node's error is missing without the module"
pass "run report without the media module: no pictures, a note, files and errors still listed"

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
