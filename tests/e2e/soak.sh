#!/usr/bin/env bash
# Crash soak: a 50-node workflow mixing shell, http, generation (Gemini image, Veo and Sora on
# the fake provider servers) and comfyui nodes (two fake ComfyUI servers) is killed with
# SIGKILL at seeded random moments, KILLS times in all (20 here; `scripts/soak 200` is the
# documented long run), and resumed after every kill, round after round (a round is one run of
# the workflow to its end). Checks per round:
#   - the run finishes (exit 0) and the journal stays readable after every kill (status --json);
#   - no completed node runs again (one completion each, no start after it);
#   - a journaled submission is never submitted again (resume re-attaches to it), and the
#     fakes count, per node, no more submissions than the journal accounts for: the journaled
#     provider ids plus the attempts a kill cut short before their id was journaled;
#   - shell and http side effects happened at least once and at most once per attempt;
#   - every artifact is there and decodes (ffprobe/ffmpeg): images, 4 s videos, ComfyUI files
#     (each distinct content once: intact copies of what the fakes serve are byte-identical).
# Prints the submissions made by attempts whose id was lost to a kill (the documented window
# between the provider's acceptance and the journal record; see docs/guarantees.md).
source "$(dirname "$0")/support/lib.sh"
KILLS=${KILLS:-20}
RANDOM=${SEED:-20261123}
KILL_MIN_MS=${KILL_MIN_MS:-50}
KILL_MAX_MS=${KILL_MAX_MS:-600}
export COMFYRUN_POLL_INTERVAL=0.05
start_http_server
start_fake_providers
start_fake_comfyui 2; COMFY_A=$COMFYUI_FAKE
start_fake_comfyui 2; COMFY_B=$COMFYUI_FAKE

make_workflow() {  # $1 = round
  local r=$1 nodes=() i
  for i in $(seq 1 16); do
    local deps=""
    [ $i -gt 4 ] && deps=", \"dependsOn\": [\"s$(( (i - 1) / 2 ))\"]"
    nodes+=("{\"id\": \"s$i\", \"type\": \"shell\", \"inputs\": {\"argv\": [\"sh\", \"-c\", \"echo s$i >> $E2E_DIR/effects-$r.log; sleep 0.0$(( RANDOM % 9 + 1 ))\"]}$deps}")
  done
  for i in $(seq 1 8); do
    nodes+=("{\"id\": \"h$i\", \"type\": \"http\", \"inputs\": {\"url\": \"http://127.0.0.1:$HTTP_PORT/json?round=$r&node=h$i&delay=0.0$(( RANDOM % 9 + 1 ))&after=<<s$(( i * 2 )).exitCode>>\"}}")
  done
  for i in $(seq 1 8); do
    nodes+=("{\"id\": \"img$i\", \"type\": \"character_image\", \"inputs\": {\"characterPrompt\": \"soak r$r img$i.\", \"model\": \"nanobanana\"}}")
  done
  for i in $(seq 1 5); do
    nodes+=("{\"id\": \"veo$i\", \"type\": \"video_generation\", \"inputs\": {\"prompt\": \"soak r$r veo$i.\", \"model\": \"veo3-fast\", \"duration\": 4, \"characterImagePath\": \"<<img$i.characterImagePath>>\"}}")
    nodes+=("{\"id\": \"sora$i\", \"type\": \"sora2_video\", \"inputs\": {\"prompt\": \"soak r$r sora$i.\", \"model\": \"sora-2\", \"duration\": 4}}")
  done
  for i in $(seq 1 8); do
    nodes+=("{\"id\": \"comfy$i\", \"type\": \"comfyui\", \"inputs\": {\"workflow\": {
      \"1\": {\"class_type\": \"EmptyImage\", \"inputs\": {\"width\": 64, \"height\": 64, \"batch_size\": 1, \"color\": 0}},
      \"2\": {\"class_type\": \"SaveImage\", \"inputs\": {\"images\": [\"1\", 0], \"filename_prefix\": \"soak\"}}},
      \"set\": {\"1.color\": $(( r * 100 + i ))}}}")
  done
  local IFS=,
  echo "{\"workflowId\": \"soak-$r\", \"nodes\": [${nodes[*]}]}"
}

# Submissions the fake providers accepted for prompts containing $1 (counts read once per
# round into provider-stats.json).
provider_submissions() {
  jq -s --arg p "$1" '[.[].submissions | to_entries[] | select(.key | contains($p)) | .value] | add // 0' provider-stats.json
}

comfy_accepted() { echo $(( $(accepted "$COMFY_A" "POST /prompt") + $(accepted "$COMFY_B" "POST /prompt") )); }

# check_artifact FILE KIND: exists and decodes; videos last 4 s.
check_artifact() {
  local file=$1 kind=$2
  [ -s "$file" ] || fail "artifact $file is missing or empty"
  ffprobe -v error -show_entries stream=codec_type -of csv=p=0 "$file" > probe.out 2>&1 || fail "ffprobe cannot read $file: $(cat probe.out)"
  grep -qx video probe.out || fail "$file has no picture: $(cat probe.out)"
  if [ "$kind" = video ]; then
    local d
    d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$file")
    awk -v d="$d" 'BEGIN { exit !(d > 3.5 && d < 4.5) }' || fail "$file lasts $d s, expected 4"
    ffmpeg -nostdin -v error -i "$file" -f null - > decode.err 2>&1 || fail "$file does not decode: $(cat decode.err)"
    [ ! -s decode.err ] || fail "$file decodes with errors: $(cat decode.err)"
  fi
}

total_kills=0
round=0
orphans=0
declare -A orphans_by  # node kind -> unrecorded submissions
checked=0
start_time=$SECONDS
while [ $total_kills -lt "$KILLS" ]; do
  round=$((round + 1))
  make_workflow $round > wf-$round.json
  journal=j/round-$round.jsonl
  comfy_before=$(comfy_accepted)
  run_with_kills wf-$round.json $journal $((KILLS - total_kills)) -j 16 -q --comfyui "$COMFY_A" --comfyui "$COMFY_B"
  total_kills=$((total_kills + KILLS_MADE))
  [ "$RUN_EXIT" -eq 0 ] || { tail -5 $journal.err >&2; fail "round $round: the run exited $RUN_EXIT"; }
  "$COMFYRUN" status $journal --json > status.json || fail "round $round: status unreadable"
  jq -e '.counts.completed == 50' status.json >/dev/null || fail "round $round: not all 50 nodes completed: $(jq -c .counts status.json)"
  check_journal_invariants $journal
  attempt_counts $journal
  outputs=$(jq -R -n -c '[inputs | fromjson? | select(.type == "completed")] | map({(.node): .outputs}) | add' $journal)

  { curl -sf "$GEMINI_FAKE/_fake/stats"; curl -sf "$SORA_FAKE/_fake/stats"; } > provider-stats.json
  comfy_ids=0; comfy_cut=0; round_orphans=0
  while read -r node starts cut ids; do
    case $node in
      s[0-9]*)
        effects=$(grep -cx "$node" effects-$round.log || true)
        [ "$effects" -ge 1 ] && [ "$effects" -le "$starts" ] || fail "round $round: $node side effect $effects times for $starts starts" ;;
      h[0-9]*)
        effects=$(grep -c "round=$round&node=$node&" "$HTTP_LOG" || true)
        [ "$effects" -ge 1 ] && [ "$effects" -le "$starts" ] || fail "round $round: $node requested $effects times for $starts starts" ;;
      img*|veo*|sora*)
        subs=$(provider_submissions "soak r$round $node.")
        low=$(( ids > 1 ? ids : 1 ))
        [ "$subs" -ge "$low" ] && [ "$subs" -le $((low + cut)) ] \
          || fail "round $round: $node: the fake accepted $subs submissions; the journal accounts for $low (+ $cut cut short by a kill)"
        round_orphans=$((round_orphans + subs - low))
        orphans_by[${node%%[0-9]*}]=$(( ${orphans_by[${node%%[0-9]*}]:-0} + subs - low ))
        if [[ $node == img* ]]; then
          echo "image $(jq -r ".$node.characterImagePath" <<<"$outputs")" >> artifacts-$round
        else
          echo "video $(jq -r ".$node.videoPath" <<<"$outputs")" >> artifacts-$round
        fi ;;
      comfy*)
        comfy_ids=$((comfy_ids + ids)); comfy_cut=$((comfy_cut + cut))
        echo "image $(jq -r ".$node.imagePath" <<<"$outputs")" >> artifacts-$round ;;
    esac
  done < $journal.attempts
  comfy_subs=$(( $(comfy_accepted) - comfy_before ))
  [ "$comfy_subs" -ge "$comfy_ids" ] && [ "$comfy_subs" -le $((comfy_ids + comfy_cut)) ] \
    || fail "round $round: the ComfyUI fakes accepted $comfy_subs prompts; the journal accounts for $comfy_ids (+ $comfy_cut cut short by a kill)"
  round_orphans=$((round_orphans + comfy_subs - comfy_ids))
  # Every artifact exists; each distinct content (intact ones are byte-identical copies of
  # what the fakes serve, a damaged one differs) is decoded once.
  while read -r kind file; do
    [ -s "$file" ] || fail "round $round: artifact $file is missing or empty"
    echo "$kind $(sha256sum < "$file" | cut -c1-64) $file"
  done < artifacts-$round | sort -u -k1,2 > distinct-$round
  while read -r kind _ file; do check_artifact "$file" "$kind"; done < distinct-$round
  checked=$((checked + $(wc -l < artifacts-$round)))
  orphans_by[comfy]=$(( ${orphans_by[comfy]:-0} + comfy_subs - comfy_ids ))
  orphans=$((orphans + round_orphans))
  echo "round $round: finished after $KILLS_MADE kills; unrecorded submissions: $round_orphans"
done
by_kind=$(for k in img veo sora comfy; do printf '%s %s, ' $k "${orphans_by[$k]:-0}"; done)
pass "$total_kills kills in $round rounds ($((SECONDS - start_time)) s): every run finished, no completed node ran again, no journaled submission was repeated, $checked artifacts intact; submissions whose id a kill lost before it was journaled: $orphans (${by_kind%, })"
