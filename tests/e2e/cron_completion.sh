#!/usr/bin/env bash
# scripts/cron-run: the lock (a second invocation exits 75 while the first runs), the log, the
# exit codes, metrics into a textfile-collector folder. `comfyrun completion`: the committed
# scripts in completions/ match the binary; the bash script completes subcommands, options
# and option values when driven through COMP_WORDS; the zsh script loads under compinit.
source "$(dirname "$0")/support/lib.sh"
CRON_RUN="$COMFYRUN_SOURCE_DIR/scripts/cron-run"
export COMFYRUN

# --- cron-run ------------------------------------------------------------------------------
# The node waits (at most 20 s) for a file the test creates, so the first run holds the lock
# for as long as the test needs.
cat > nightly.json <<JSON
{"workflowId": "nightly", "nodes": [
  {"id": "wait", "type": "shell", "inputs": {"argv": ["sh", "-c", "echo started > $E2E_DIR/started; i=0; while [ ! -f $E2E_DIR/go ] && [ \$i -lt 400 ]; do sleep 0.05; i=\$((i+1)); done; test -f $E2E_DIR/go"]}}
]}
JSON
"$CRON_RUN" --lock "$E2E_DIR/nightly.lock" --log "$E2E_DIR/cron.log" --textfile-dir "$E2E_DIR/textfile" nightly.json -o out -q \
  >first.out 2>first.err &
first=$!
BG_PIDS+=($first)
for _ in $(seq 400); do [ -f started ] && break; sleep 0.05; done
[ -f started ] || fail "the first cron-run did not start its workflow: $(cat first.err cron.log)"

expect_exit 75 "$CRON_RUN" --lock "$E2E_DIR/nightly.lock" --log "$E2E_DIR/cron.log" nightly.json -o out -q
[ ! -s last.out ] && [ ! -s last.err ] || fail "a skipped run printed something (cron would mail it): $(cat last.out last.err)"
grep -q "skipped nightly: a previous run (pid $first) still holds $E2E_DIR/nightly.lock" cron.log || fail "skip not logged: $(cat cron.log)"
[ "$(grep -c 'start nightly' cron.log)" -eq 1 ] || fail "the second invocation started a run"
pass "a second cron-run exits 75 while the first holds the lock"

touch go
set +e; wait $first; code=$?; set -e
[ $code -eq 0 ] || fail "first cron-run exited $code: $(cat first.err; cat cron.log)"
[ ! -s first.out ] && [ ! -s first.err ] || fail "a successful cron-run printed something: $(cat first.out first.err)"
grep -q "end nightly: exit 0, succeeded" cron.log || fail "end not logged: $(cat cron.log)"
grep -q "run nightly-.* succeeded" cron.log || fail "comfyrun's output is not in the log: $(cat cron.log)"
[ "$(ls textfile)" = "comfyrun_nightly.prom" ] || fail "textfile dir: $(ls textfile)"
grep -q '^comfyrun_run_success{workflow="nightly",.*} 1$' textfile/comfyrun_nightly.prom || fail "metrics: $(cat textfile/comfyrun_nightly.prom)"
if command -v promtool >/dev/null; then promtool check metrics < textfile/comfyrun_nightly.prom || fail "promtool"; fi
pass "the first run succeeds, logs, and writes its metrics for the textfile collector"

# The lock is free again after a run, even one that was killed (flock dies with its holder).
expect_exit 0 "$CRON_RUN" --lock "$E2E_DIR/nightly.lock" --log "$E2E_DIR/cron.log" nightly.json -o out -q
cat > failing.json <<JSON
{"workflowId": "failing", "nodes": [{"id": "bad", "type": "shell", "inputs": {"argv": ["false"]}, "retry": 1}]}
JSON
expect_exit 1 "$CRON_RUN" --log "$E2E_DIR/cron.log" --lock "$E2E_DIR/failing.lock" failing.json -o out
grep -q "cron-run: failing finished with failed nodes (exit 1); log: $E2E_DIR/cron.log" last.err || fail "failure line: $(cat last.err)"
echo '{"workflowId": "x", "nodes": [{"id": "a", "type": "nope"}]}' > invalid.json
expect_exit 2 "$CRON_RUN" --log "$E2E_DIR/cron.log" --lock "$E2E_DIR/invalid.lock" invalid.json -o out
grep -q "end invalid: exit 2, invalid input" cron.log || fail "invalid run not logged: $(tail -3 cron.log)"
expect_exit 2 "$CRON_RUN"
expect_exit 2 "$CRON_RUN" --bogus nightly.json
COMFYRUN=/nonexistent/comfyrun expect_exit 2 "$CRON_RUN" --log "$E2E_DIR/cron.log" nightly.json
grep -q "comfyrun not found" last.err || fail "missing binary: $(cat last.err)"
pass "exit codes: 0, 1 (with one line on stderr), 2"

# SIGTERM to cron-run reaches comfyrun, which stops cleanly: exit 130 and a resumable journal.
rm -f started go
"$CRON_RUN" --lock "$E2E_DIR/nightly.lock" --log "$E2E_DIR/term.log" nightly.json -o termout -q >/dev/null 2>&1 &
pid=$!
for _ in $(seq 400); do [ -f started ] && break; sleep 0.05; done
[ -f started ] || fail "the run to interrupt did not start"
kill -TERM $pid
set +e; wait $pid; code=$?; set -e
[ $code -eq 130 ] || fail "SIGTERM: exit $code: $(cat term.log)"
grep -q "end nightly: exit 130, interrupted" term.log || fail "interrupt not logged: $(cat term.log)"
expect_exit 0 "$COMFYRUN" status "$(ls termout/journals/*.jsonl)"
pass "SIGTERM: comfyrun stops cleanly, exit 130"

# --- completion ----------------------------------------------------------------------------
expect_exit 0 "$COMFYRUN" completion bash
cp last.out comfyrun.bash
cmp -s comfyrun.bash "$COMFYRUN_SOURCE_DIR/completions/comfyrun.bash" \
  || fail "completions/comfyrun.bash is stale: regenerate it with \`comfyrun completion bash > completions/comfyrun.bash\`"
expect_exit 0 "$COMFYRUN" completion zsh
cp last.out _comfyrun
cmp -s _comfyrun "$COMFYRUN_SOURCE_DIR/completions/_comfyrun" \
  || fail "completions/_comfyrun is stale: regenerate it with \`comfyrun completion zsh > completions/_comfyrun\`"
expect_exit 2 "$COMFYRUN" completion fish
pass "completion scripts match the binary"

# complete WORDS...: what the bash script offers for the last word (COMPREPLY, one per line).
mkdir -p graphs && touch graphs/a.json
complete_words() {
  bash --norc --noprofile -c 'source ./comfyrun.bash; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _comfyrun; printf "%s\n" "${COMPREPLY[@]}"' bash "$@"
}
[ "$(complete_words comfyrun ru)" = "run" ] || fail "comfyrun ru -> $(complete_words comfyrun ru)"
[ "$(complete_words comfyrun tr)" = "trace" ] || fail "comfyrun tr"
grep -qx gc <<<"$(complete_words comfyrun "")" || fail "gc is not among the commands"
[ "$(complete_words comfyrun run --dur)" = "--durability" ] || fail "run --dur -> $(complete_words comfyrun run --dur)"
[ "$(complete_words comfyrun run graph.json --pushg)" = "--pushgateway" ] || fail "run --pushg"
grep -qx -- --prom <<<"$(complete_words comfyrun resume --pr)" || fail "resume --pr"
[ "$(complete_words comfyrun run --durability "" | sort | tr '\n' ' ')" = "batch full none " ] || fail "--durability values: $(complete_words comfyrun run --durability '')"
[ "$(complete_words comfyrun run gra)" = "graphs" ] || fail "file completion: $(complete_words comfyrun run gra)"
[ "$(complete_words comfyrun completion z)" = "zsh" ] || fail "completion z"
[ -z "$(complete_words comfyrun run -j "")" ] || fail "-j offers values"
grep -qx -- --dry-run <<<"$(complete_words comfyrun gc --dry)" || fail "gc --dry"
pass "bash completion: commands, options, option values, files"

command -v zsh >/dev/null || fail "zsh missing: apt-get install zsh (SETUP_TESTS=1 scripts/setup)"
zsh -n _comfyrun || fail "zsh syntax"
out=$(zsh -f -c 'autoload -Uz compinit; compinit -u -d "$1/zcompdump"; source "$1/_comfyrun"; print -r -- "${_comps[comfyrun]}"' zsh "$E2E_DIR")
[ "$out" = "_comfyrun" ] || fail "zsh: the script does not register itself: $out"
# Drive a real interactive zsh on a pseudo-terminal (zpty): type a line, press TAB, then turn
# the completed line into `echo RESULT:<line>` and read what it prints.
cat > zsh-probe.zsh <<'ZSH'
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z "PS1='> '; autoload -Uz compinit; compinit -u -d $1/zcompdump2; source $1/_comfyrun"
probe() {
  zpty -w -n z "$1"$'\t'
  sleep 0.3
  zpty -w -n z $'\x01echo RESULT:\n'
  local out= line i
  for i in {1..100}; do
    if zpty -r -t z line 2>/dev/null; then out+=$line; else sleep 0.05; fi
    [[ $out == *$'\n'RESULT:*$'\n'* ]] && break
  done
  print -r -- "${${out##*$'\n'RESULT:}%%$'\r'*}"
}
probe 'comfyrun ru'
probe 'comfyrun run --dur'
probe 'comfyrun run --durability f'
probe 'comfyrun cache pr'
zpty -d z
ZSH
timeout 60 zsh -f zsh-probe.zsh "$E2E_DIR" > zsh-probe.out || fail "zsh probe failed: $(cat -v zsh-probe.out)"
printf '%s\n' "comfyrun run" "comfyrun run --durability" "comfyrun run --durability full" "comfyrun cache prune" > zsh-probe.want
cmp -s zsh-probe.out zsh-probe.want || fail "zsh completion: $(cat -v zsh-probe.out)"
pass "zsh completion: commands, options, option values, nested commands (interactive zsh)"

# --- systemd units ---------------------------------------------------------------------------
# systemd-analyze verify (where systemd is installed) with the paths pointed at this checkout.
if command -v systemd-analyze >/dev/null; then
  mkdir units
  for f in "$COMFYRUN_SOURCE_DIR"/contrib/systemd/comfyrun@.*; do
    sed "s#/opt/comfyrun#$COMFYRUN_SOURCE_DIR#g; s#/usr/local/bin/comfyrun#$COMFYRUN#g" "$f" > "units/$(basename "$f" | sed 's/@\./@nightly./')"
  done
  timeout 60 systemd-analyze verify --man=no units/comfyrun@nightly.service units/comfyrun@nightly.timer > units.out 2>&1 \
    || fail "systemd-analyze verify: $(cat units.out)"
  [ ! -s units.out ] || fail "systemd-analyze verify warnings: $(cat units.out)"
  pass "contrib/systemd units pass systemd-analyze verify"
fi
