// The commands that execute workflows on the command line: run, resume, abtest. What they
// do is in cmd_run.cc and cmd_abtest.cc, over run/session.h.
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "command_registry.h"

namespace comfyrun {
namespace {

/// --max-cost: a budget is a finite number of USD >= 0 ("nan", "inf" and -1 are refused;
/// no --max-cost is no limit).
CLI::Validator Budget() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        char* end = nullptr;
        double v = std::strtod(value.c_str(), &end);
        if (value.empty() || end != value.c_str() + value.size() || !std::isfinite(v) || v < 0)
          return "a budget is a finite number of USD >= 0 (leave --max-cost out for no limit), not " + value;
        return "";
      },
      "");
}

}  // namespace

// (Not in the anonymous namespace: `batch` (cmd_batch.cc) takes the same options.)
void AddExecutionOptions(CLI::App* cmd, ExecutionOptions& exec) {
  cmd->add_option("-o,--out", exec.out_dir, "output directory (runs/, journals/, metrics/)")
      ->capture_default_str()
      ->check(NonEmptyPath());
  cmd->add_option("-j,--jobs", exec.jobs, "nodes running at once (default 16)")->check(CLI::Range(1, 100000));
  cmd->add_option("--durability", exec.durability,
                  "full: fsync every proof record; batch (default): group commit, dependents wait for it; "
                  "none: no fsync (an OS crash may lose the tail)")
      ->check(CLI::IsMember({"full", "batch", "none"}));
  cmd->add_flag("--fail-fast", exec.fail_fast, "stop everything at the first failed node");
  cmd->add_flag("--cancel-remote", exec.cancel_remote,
                "when the run stops (Ctrl-C, SIGTERM, --fail-fast), cancel submitted remote jobs where the "
                "provider allows it (ComfyUI) instead of leaving them for resume to re-attach");
  cmd->add_flag("--resubmit-expired", exec.resubmit_expired,
                "a fal or replicate job whose result expired before it was downloaded is submitted (and paid "
                "for) again instead of failing with OutputExpired");
  cmd->add_option("--executor", exec.executor,
                  "where process nodes (shell) run: local (default) or slurm, as Slurm batch jobs (docs/slurm.md); "
                  "pools with \"executor\": \"slurm\" go there either way")
      ->check(CLI::IsMember({"local", "slurm"}));
  cmd->add_flag("--offline", exec.offline, "render placeholder media locally: no network, no keys, cost 0");
  cmd->add_option("--max-cost", exec.max_cost,
                  "USD: refuse to start above it; never start a paid node that could pass it")
      ->check(Budget());
  cmd->add_flag("-q,--quiet", exec.quiet, "print only failures and the summary");
  cmd->add_flag("--json", exec.json, "print the run summary as JSON on stdout");
  cmd->add_option("--comfyui", exec.comfyui, "a ComfyUI server URL (repeatable; adds to COMFYUI_URL)");
  auto* cache_on = cmd->add_flag("--cache", exec.cache,
                                 "reuse the outputs of earlier runs with the same inputs (every node the workflow does "
                                 "not exclude; see docs/cache.md)");
  cmd->add_flag("--no-cache", exec.no_cache, "no cache lookup or store in this run")->excludes(cache_on);
  cmd->add_option("--prom", exec.prom,
                  "when the run ends, write its metrics as Prometheus text to FILE (atomically; for "
                  "node_exporter's textfile collector)")
      ->type_name("FILE")
      ->check(NonEmptyPath());
  cmd->add_option("--pushgateway", exec.pushgateway,
                  "when the run ends, push its metrics to this Prometheus Pushgateway (http://host:9091; "
                  "default COMFYRUN_PUSHGATEWAY_URL); a failed push is a warning")
      ->type_name("URL");
  cmd->add_option("--push-job", exec.push_job, "the Pushgateway job name (default comfyrun)")->type_name("NAME");
}

/// --pushgateway (or its variable) is checked before anything runs: bad input is exit 2.
bool ExportOk(const char* command, ExecutionOptions* exec) {
  std::string err;
  if (ResolveMetricsExport(exec, &err)) return true;
  fmt::print(stderr, "comfyrun {}: --pushgateway: {}\n", command, err);
  return false;
}

void AddRunCommand(CommandRegistry& registry) {
  auto run = registry.Options<RunOptionsCli>();
  CLI::App* run_cmd = registry.Add("run", "run a workflow; exit 0 when every node succeeded",
                                   [run] { return ExportOk("run", &run->exec) ? RunCommand(*run) : kExitInvalid; });
  run_cmd->add_option("file", run->file, "workflow file")->required();
  run_cmd->add_option("-p,--param", run->params, "NAME=VALUE for <<params.NAME>> (repeatable)");
  run_cmd->add_option("--journal", run->journal, "journal path (default <out>/journals/<runId>.jsonl)")
      ->check(NonEmptyPath());
  AddExecutionOptions(run_cmd, run->exec);
  registry.Manual(
      run_cmd, {"Validates the workflow, then runs it. A node starts as soon as the nodes it depends on have "
                "completed, within -j and its pool; among ready nodes the one with the longest remaining critical "
                "path goes first. Failed attempts are retried per the node's retry policy; a failed node stops only "
                "its dependents unless --fail-fast.\n\n"
                "Files go to <out>/runs/<runId>/<node>/, the journal to <out>/journals/<runId>.jsonl and the "
                "metrics to <out>/metrics/<runId>.json. The journal records every step, so `comfyrun resume JOURNAL` "
                "continues an interrupted or failed run without running finished nodes again or paying twice for "
                "submitted generations. A status line on stderr shows progress; --json prints a summary on stdout.",
                {{"0", "every node succeeded"},
                 {"1", "the run finished but a node failed (its dependents were skipped)"},
                 CommandRegistry::ExitBadInput(),
                 CommandRegistry::ExitInterrupted()},
                {{"comfyrun run graphs/quickstart.json --offline", "the quickstart, free and without keys"},
                 {"comfyrun run wf.json -p character=\"a robot florist\" -j 4 --max-cost 5",
                  "with a param, 4 nodes at a time, at most $5"},
                 {"comfyrun run wf.json --json -q | jq -r .journal", "the journal's path, for resume or report"}},
                "comfyrun resume, comfyrun status, comfyrun report, comfyrun validate"});
}

void AddResumeCommand(CommandRegistry& registry) {
  auto resume = registry.Options<ResumeOptions>();
  CLI::App* resume_cmd = registry.Add("resume", "continue an interrupted or failed run from its journal", nullptr);
  resume_cmd->add_option("journal", resume->journal, "the run's journal (.jsonl)")->required();
  resume_cmd->add_flag("--force", resume->force,
                       "resume even when the journal's workflow no longer matches the hash in its header");
  AddExecutionOptions(resume_cmd, resume->exec);
  registry.OnChosen(resume_cmd, [resume, resume_cmd] {
    resume->offline_given = resume_cmd->count("--offline") > 0;
    resume->fail_fast_given = resume_cmd->count("--fail-fast") > 0;
    resume->out_given = resume_cmd->count("--out") > 0;
    return ExportOk("resume", &resume->exec) ? ResumeCommand(*resume) : kExitInvalid;
  });
  registry.Manual(resume_cmd,
                  {"Continues a run from its journal. Completed nodes whose files still exist are not run again; "
                   "submitted remote jobs are re-attached by their provider id, not submitted again; nodes that were "
                   "running without a recorded submission run again; failed and skipped nodes get a fresh set of "
                   "attempts. The journal holds the workflow and its params, so nothing else is needed; the run's "
                   "options are reused unless given again. A lock beside the journal refuses a second process. "
                   "A damaged header, or one whose workflow no longer matches its hash, is refused before anything "
                   "runs; --force runs a workflow that no longer matches. "
                   "Resuming a finished run says so and exits 0; an A/B test's journal continues the test.",
                   {{"0", "every node succeeded (now or before)"},
                    {"1", "the run finished but a node failed"},
                    {"2", "unreadable or locked journal, or bad command line: nothing was run or spent"},
                    CommandRegistry::ExitInterrupted()},
                   {{"comfyrun resume generated/journals/quickstart-20261122T041100Z-3f2a.jsonl", "continue that run"},
                    {"comfyrun resume JOURNAL --max-cost 10 -j 2", "continue with a larger budget, 2 nodes at a time"}},
                   "comfyrun run, comfyrun status"});
}

void AddAbTestCommand(CommandRegistry& registry) {
  auto abtest = registry.Options<AbTestOptions>();
  CLI::App* abtest_cmd = registry.Add(
      "abtest", "run the variants of an A/B test, compare them, pick a winner; exit 1 when no variant succeeded",
      nullptr);
  abtest_cmd->add_option("file", abtest->file, "A/B test definition (see README.md, A/B tests)");
  abtest_cmd->add_option("--repeats", abtest->repeats, "runs per variant (overrides the file)")
      ->check(CLI::Range(1, 1000));
  abtest_cmd->add_option("--resume", abtest->resume, "continue an interrupted A/B test from its journal")
      ->check(NonEmptyPath());
  AddExecutionOptions(abtest_cmd, abtest->exec);
  registry.OnChosen(abtest_cmd, [abtest, abtest_cmd] {
    abtest->offline_given = abtest_cmd->count("--offline") > 0;
    abtest->fail_fast_given = abtest_cmd->count("--fail-fast") > 0;
    abtest->out_given = abtest_cmd->count("--out") > 0;
    return ExportOk("abtest", &abtest->exec) ? AbTestCommand(*abtest) : kExitInvalid;
  });
  registry.Manual(
      abtest_cmd,
      {"Runs every variant of a workflow several times, interleaved in one scheduler with one journal and "
       "one budget, and compares them: success rate, duration, cost, a quality score, a composite score and "
       "each variant's probability of being best. Variants are inline workflows (the older format) or a "
       "workflow file plus params. Every variant is validated before anything runs.\n\n"
       "The result goes to <out>/ab-tests/<testId>-<time>.json and a table to stderr; --json also prints the "
       "result on stdout. `comfyrun report RESULT --html FILE` draws it.",
       {{"0", "at least one variant succeeded"},
        {"1", "no variant succeeded"},
        CommandRegistry::ExitBadInput(),
        {"130", "interrupted: `comfyrun abtest --resume JOURNAL` continues the test"}},
       {{"comfyrun abtest ab-tests/quickstart-prompts.json --offline", "two prompts, 3 runs each, free"},
        {"comfyrun abtest ab-tests/aria-prompt-comparison.json --repeats 5 --max-cost 2",
         "5 runs per variant, at most $2 in all"},
        {"comfyrun abtest --resume generated/journals/quickstart-prompts-20261122T041100Z-3f2a.jsonl",
         "continue an interrupted test"}},
       "comfyrun report, README.md (A/B tests)"});
}

}  // namespace comfyrun
