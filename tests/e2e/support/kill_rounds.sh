# The crash-and-resume loop that kill_resume.sh and slurm_kill.sh share (sourced after
# lib.sh). The script defines two functions:
#   make_workflow ROUND         prints the round's workflow (it may use $RANDOM, seeded)
#   check_round ROUND JOURNAL   checks the round's side effects once its run finished
# and calls kill_rounds.

# kill_rounds KILLS [RUN OPTIONS...]: rounds of kill -9 and resume (run_with_kills) until
# KILLS kills were made in all. Each round N runs wf-N.json with journal j/round-N.jsonl;
# the run that finishes must exit 0, the journal must pass check_journal_invariants, then
# check_round runs. Sets total_kills and round.
kill_rounds() {
  local kills=$1
  shift
  total_kills=0
  round=0
  while [ $total_kills -lt "$kills" ]; do
    round=$((round + 1))
    make_workflow $round > wf-$round.json
    local journal=j/round-$round.jsonl
    run_with_kills wf-$round.json $journal $((kills - total_kills)) "$@"
    total_kills=$((total_kills + KILLS_MADE))
    [ "$RUN_EXIT" -eq 0 ] || { tail -5 $journal.err >&2; fail "round $round: run exited $RUN_EXIT"; }
    check_journal_invariants $journal
    check_round $round $journal
    echo "round $round: finished after $KILLS_MADE kills"
  done
}
