#include "comfyrun/cli.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "comfyrun/commands.h"

// Implementation details: CLI11 is used only here (its exceptions never leave this file).
// Every subcommand parses into an options struct and calls one function from commands.h.

namespace comfyrun {

int RunCli(int argc, char** argv) {
  CLI::App app{
      "comfyrun: run AI content-generation workflows (Gemini image, Veo, Sora, ComfyUI, FFmpeg)\n"
      "as a DAG, in parallel, with a crash-safe journal so that resume never pays twice.",
      "comfyrun"};
  app.set_version_flag("--version", std::string("comfyrun ") + COMFYRUN_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 success; 1 a node failed; 2 invalid input (nothing run or spent); 130 interrupted.\n"
      "Run `comfyrun COMMAND --help` for a command's options. Docs: README.md.");

  ValidateOptions validate;
  auto* validate_cmd = app.add_subcommand("validate", "check workflows without running anything; exit 0 valid, 2 invalid");
  validate_cmd->add_option("files", validate.files, "workflow files")->required();
  validate_cmd->add_option("-p,--param", validate.params, "NAME=VALUE for <<params.NAME>> (repeatable)");
  validate_cmd->add_flag("--json", validate.json, "print the diagnostics as JSON on stdout");

  PlanOptions plan;
  auto* plan_cmd = app.add_subcommand("plan", "show stages (what runs in parallel), critical path and estimated cost");
  plan_cmd->add_option("file", plan.file, "workflow file")->required();
  plan_cmd->add_option("-p,--param", plan.params, "NAME=VALUE (repeatable)");
  plan_cmd->add_flag("--json", plan.json, "print the plan as JSON");
  plan_cmd->add_flag("--dot", plan.dot, "print the graph in Graphviz DOT (render: comfyrun plan F --dot | dot -Tsvg)");
  plan_cmd->add_flag("--offline", plan.offline, "estimate as --offline would run it (cost 0)");

  NodesOptions nodes;
  auto* nodes_cmd = app.add_subcommand("nodes", "list node types with their inputs and outputs");
  nodes_cmd->add_option("type", nodes.type, "show one type in full");
  nodes_cmd->add_flag("--json", nodes.json, "print as JSON");

  auto add_exec = [](CLI::App* cmd, ExecutionOptions& exec) {
    cmd->add_option("-o,--out", exec.out_dir, "output directory (runs/, journals/, metrics/)")->capture_default_str();
    cmd->add_option("-j,--jobs", exec.jobs, "nodes running at once (default 16)")->check(CLI::Range(1, 100000));
    cmd->add_option("--durability", exec.durability,
                    "full: fsync every proof record; batch (default): group commit, dependents wait for it; "
                    "none: no fsync (an OS crash may lose the tail)")
        ->check(CLI::IsMember({"full", "batch", "none"}));
    cmd->add_flag("--fail-fast", exec.fail_fast, "stop everything at the first failed node");
    cmd->add_flag("--offline", exec.offline, "render placeholder media locally: no network, no keys, cost 0");
    cmd->add_option("--max-cost", exec.max_cost, "USD: refuse to start above it; never start a paid node that could pass it");
    cmd->add_flag("-q,--quiet", exec.quiet, "print only failures and the summary");
    cmd->add_flag("--json", exec.json, "print the run summary as JSON on stdout");
    cmd->add_option("--comfyui", exec.comfyui, "a ComfyUI server URL (repeatable; adds to COMFYUI_URL)");
    auto* cache_on = cmd->add_flag("--cache", exec.cache,
                                   "reuse the outputs of earlier runs with the same inputs (every node the workflow does "
                                   "not exclude; see docs/cache.md)");
    cmd->add_flag("--no-cache", exec.no_cache, "no cache lookup or store in this run")->excludes(cache_on);
  };

  RunOptionsCli run;
  auto* run_cmd = app.add_subcommand("run", "run a workflow; exit 0 when every node succeeded");
  run_cmd->add_option("file", run.file, "workflow file")->required();
  run_cmd->add_option("-p,--param", run.params, "NAME=VALUE for <<params.NAME>> (repeatable)");
  run_cmd->add_option("--journal", run.journal, "journal path (default <out>/journals/<runId>.jsonl)");
  add_exec(run_cmd, run.exec);

  ResumeOptions resume;
  auto* resume_cmd = app.add_subcommand("resume", "continue an interrupted or failed run from its journal");
  resume_cmd->add_option("journal", resume.journal, "the run's journal (.jsonl)")->required();
  add_exec(resume_cmd, resume.exec);

  AbTestOptions abtest;
  auto* abtest_cmd = app.add_subcommand(
      "abtest", "run the variants of an A/B test, compare them, pick a winner; exit 1 when no variant succeeded");
  abtest_cmd->add_option("file", abtest.file, "A/B test definition (see README.md, A/B tests)");
  abtest_cmd->add_option("--repeats", abtest.repeats, "runs per variant (overrides the file)")
      ->check(CLI::Range(1, 1000));
  abtest_cmd->add_option("--resume", abtest.resume, "continue an interrupted A/B test from its journal");
  add_exec(abtest_cmd, abtest.exec);

  StatusOptions status;
  auto* status_cmd = app.add_subcommand("status", "progress, cost and running nodes of a live or finished run");
  status_cmd->add_option("journal", status.journal, "the run's journal (.jsonl)")->required();
  status_cmd->add_flag("--json", status.json, "print the run's metrics as JSON");

  CacheCommandOptions cache;
  auto* cache_cmd = app.add_subcommand("cache", "list or prune the output cache (<out>/cache; docs/cache.md)");
  cache_cmd->require_subcommand(1);
  auto* cache_ls_cmd = cache_cmd->add_subcommand("ls", "list cache entries, most recently used first");
  cache_ls_cmd->add_option("-o,--out", cache.out_dir, "output directory")->capture_default_str()->type_name("DIR");
  cache_ls_cmd->add_flag("--json", cache.json, "print the entries as JSON");
  auto* cache_prune_cmd = cache_cmd->add_subcommand("prune", "remove cache entries not used for a while");
  cache_prune_cmd->add_option("--older-than", cache.older_than, "time since last use: 30d, 12h, 0 (everything)")
      ->required()
      ->type_name("AGE");
  cache_prune_cmd->add_option("-o,--out", cache.out_dir, "output directory")->capture_default_str()->type_name("DIR");
  cache_prune_cmd->add_flag("--dry-run", cache.dry_run, "only print what would be removed");
  cache_prune_cmd->add_flag("--json", cache.json, "print the report as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitInvalid;
  }
  if (*run_cmd) return RunCommand(run);
  if (*resume_cmd) {
    resume.offline_given = resume_cmd->count("--offline") > 0;
    resume.fail_fast_given = resume_cmd->count("--fail-fast") > 0;
    resume.out_given = resume_cmd->count("--out") > 0;
    return ResumeCommand(resume);
  }
  if (*abtest_cmd) {
    abtest.offline_given = abtest_cmd->count("--offline") > 0;
    abtest.fail_fast_given = abtest_cmd->count("--fail-fast") > 0;
    abtest.out_given = abtest_cmd->count("--out") > 0;
    return AbTestCommand(abtest);
  }
  if (*status_cmd) return StatusCommand(status);
  if (*validate_cmd) return ValidateCommand(validate);
  if (*plan_cmd) return PlanCommand(plan);
  if (*nodes_cmd) return NodesCommand(nodes);
  if (*cache_ls_cmd) return CacheLsCommand(cache);
  if (*cache_prune_cmd) return CachePruneCommand(cache);
  return kExitInvalid;
}

}  // namespace comfyrun
