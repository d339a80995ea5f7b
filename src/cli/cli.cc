#include "comfyrun/cli.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "comfyrun/commands.h"
#include "comfyrun/report/report.h"
#include "comfyrun/schema/workflow_schema.h"
#include "comfyrun/export/completion.h"
#include "man_page.h"

// Implementation details: CLI11 is used only here (its exceptions never leave this file).
// Every subcommand parses into an options struct and calls one function from commands.h.

namespace comfyrun {

namespace {

/// How the completion scripts complete an option's value: from CLI11's type name, which
/// holds an IsMember check's set as ":{a,b,c}" and the type ("INT", "FLOAT", "TEXT", or a
/// name given with type_name: "DIR", "URL", "NAME").
CompletionValue ValueKind(const CLI::Option* opt, std::vector<std::string>* choices) {
  if (opt->get_expected_max() == 0) return CompletionValue::kNone;  // a flag
  std::string type = opt->get_type_name();
  size_t open = type.find(":{");
  if (open != std::string::npos && type.back() == '}') {
    std::string set = type.substr(open + 2, type.size() - open - 3);
    for (size_t start = 0; start <= set.size();) {
      size_t comma = set.find(',', start);
      if (comma == std::string::npos) comma = set.size();
      choices->push_back(set.substr(start, comma - start));
      start = comma + 1;
    }
    return CompletionValue::kChoice;
  }
  type = type.substr(0, type.find(':'));
  if (type == "DIR") return CompletionValue::kDirectory;
  if (type == "TEXT" || type == "FILE") return CompletionValue::kFile;
  return CompletionValue::kOther;
}

CliOptionSpec DescribeOption(const CLI::Option* opt) {
  CliOptionSpec o;
  for (const auto& n : opt->get_snames()) o.names.push_back("-" + n);
  for (const auto& n : opt->get_lnames()) o.names.push_back("--" + n);
  o.value = ValueKind(opt, &o.choices);
  o.repeatable = opt->get_expected_max() > 1 || opt->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll;
  o.description = opt->get_description();
  return o;
}

CliCommandSpec DescribeCommand(const CLI::App* cmd) {
  CliCommandSpec c;
  c.name = cmd->get_name();
  c.description = cmd->get_description();
  for (const CLI::Option* opt : cmd->get_options()) {
    if (opt->nonpositional()) {
      c.options.push_back(DescribeOption(opt));
    } else if (c.positional == CompletionValue::kNone) {
      c.positional = ValueKind(opt, &c.positional_choices);
    }
  }
  for (const CLI::App* sub : cmd->get_subcommands({})) c.subcommands.push_back(DescribeCommand(sub));
  return c;
}

/// The command line as the completion scripts see it, read from the app itself.
CliSpec DescribeApp(const CLI::App& app) {
  CliCommandSpec root = DescribeCommand(&app);
  CliSpec spec;
  spec.program = root.name;
  spec.options = std::move(root.options);
  spec.commands = std::move(root.subcommands);
  return spec;
}

}  // namespace

int RunCli(int argc, char** argv) {
  CLI::App app{
      "run AI content-generation workflows (Gemini image, Veo, Sora, ComfyUI, FFmpeg) as a DAG, in parallel, "
      "with a crash-safe journal so that resume never pays twice",
      "comfyrun"};
  // Help reads like a man page (man_page.h). Set before the subcommands, which copy it; the
  // texts are in the manual block before parsing.
  auto man = std::make_shared<ManFormatter>();
  app.formatter(man);
  app.set_version_flag("--version", std::string("comfyrun ") + COMFYRUN_VERSION);
  app.require_subcommand(1);

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
    cmd->add_flag("--cancel-remote", exec.cancel_remote,
                  "when the run stops (Ctrl-C, SIGTERM, --fail-fast), cancel submitted remote jobs where the "
                  "provider allows it (ComfyUI) instead of leaving them for resume to re-attach");
    cmd->add_flag("--offline", exec.offline, "render placeholder media locally: no network, no keys, cost 0");
    cmd->add_option("--max-cost", exec.max_cost, "USD: refuse to start above it; never start a paid node that could pass it");
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
        ->type_name("FILE");
    cmd->add_option("--pushgateway", exec.pushgateway,
                    "when the run ends, push its metrics to this Prometheus Pushgateway (http://host:9091; "
                    "default COMFYRUN_PUSHGATEWAY_URL); a failed push is a warning")
        ->type_name("URL");
    cmd->add_option("--push-job", exec.push_job, "the Pushgateway job name (default comfyrun)")->type_name("NAME");
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

  TraceOptions trace;
  auto* trace_cmd = app.add_subcommand("trace", "print a run's journal as a Chrome trace (open in Perfetto or chrome://tracing)");
  trace_cmd->add_option("journal", trace.journal, "the run's journal (.jsonl)")->required();
  trace_cmd->add_option("-o,--output", trace.output, "write the trace to FILE instead of stdout")->type_name("FILE");

  GcCommandOptions gc;
  auto* gc_cmd = app.add_subcommand(
      "gc", "remove old finished runs (runs/, journals/, metrics/) from the output directory; never a live run");
  gc_cmd->add_option("--older-than", gc.older_than, "age of the run's last journal record: 7d, 12h, 30m")
      ->required()
      ->type_name("AGE");
  gc_cmd->add_option("-o,--out", gc.out_dir, "output directory")->capture_default_str()->type_name("DIR");
  gc_cmd->add_flag("--dry-run", gc.dry_run, "only print what would be removed");
  gc_cmd->add_flag("--force", gc.force, "also remove unfinished runs (no run_finished record), never live ones");
  gc_cmd->add_flag("--json", gc.json, "print the report as JSON");

  CompletionOptions completion;
  auto* completion_cmd = app.add_subcommand("completion", "print the shell completion script (bash or zsh)");
  completion_cmd->add_option("shell", completion.shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));

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

  SchemaOptions schema;
  auto* schema_cmd = app.add_subcommand("schema", "print the JSON Schema of the workflow format (for editors and CI)");
  schema_cmd->add_option("-o,--output", schema.output, "write the schema to FILE instead of stdout")->type_name("FILE");

  ReportOptions report;
  auto* report_cmd =
      app.add_subcommand("report", "write a self-contained HTML report of a run (journal) or an A/B test (result)");
  report_cmd->add_option("file", report.input, "a run's journal (.jsonl) or an A/B result (ab-tests/*.json)")
      ->required()
      ->type_name("FILE");
  report_cmd->add_option("--html", report.html, "write the page to FILE (\"-\" = stdout)")->required()->type_name("FILE");

  // The manual: what `comfyrun [COMMAND] --help` prints beyond each option's own line.
  const std::pair<std::string, std::string> kExitBadInput = {
      "2", "bad command line or invalid input: nothing was run or spent"};
  const std::pair<std::string, std::string> kExitInterrupted = {
      "130", "interrupted by SIGINT or SIGTERM: the journal is consistent and `comfyrun resume` continues"};
  man->Set(&app,
           {"comfyrun runs AI content-generation workflows from the command line. A workflow is a JSON file of "
            "nodes (generate a character image with a Gemini image model, turn it into clips with Veo or Sora, "
            "run ComfyUI graphs, stitch the clips, check the result) whose inputs refer to other nodes' outputs "
            "with <<node.output>>. comfyrun runs independent branches in parallel and records every step in a "
            "journal, so that an interrupted run continues where it stopped without paying twice.\n\n"
            "Everything a run writes goes under --out (default ./generated): runs/<runId>/ (files), "
            "journals/<runId>.jsonl, metrics/<runId>.json and ab-tests/. Logs and progress go to stderr; machine "
            "output (--json) to stdout. Keys come from GEMINI_API_KEY and OPENAI_API_KEY (or a .env file).",
            {{"0", "success"},
             {"1", "the run finished but a node failed (or no A/B variant succeeded)"},
             kExitBadInput,
             kExitInterrupted},
            {{"comfyrun run graphs/quickstart.json --offline", "run the quickstart for free: placeholder media, no keys"},
             {"comfyrun COMMAND --help", "a command's manual"}},
            "README.md; docs/ (schema, report, cache, observability, cron, guarantees)"});
  man->Set(validate_cmd,
           {"Loads each workflow and checks it without running anything or spending money: JSON syntax, keys, "
            "node types, inputs (types, allowed values, ranges, required), template references to nodes, params "
            "and outputs, cycles, durations, retry policies and model names. Every problem is reported at once, "
            "each with its file, node, JSON path and a hint; warnings (unknown top-level keys) do not fail.",
            {{"0", "every file is valid"}, {"2", "a file is invalid or unreadable, or a bad command line"}},
            {{"comfyrun validate graphs/*.json", "check every example workflow"},
             {"comfyrun validate wf.json -p character=\"a robot florist\" --json | jq '.diagnostics[]'",
              "check with a param value; diagnostics as JSON"}},
            "comfyrun plan, comfyrun schema"});
  man->Set(plan_cmd,
           {"Shows how a valid workflow would run, without running it: the stages (nodes that can run at the same "
            "time), the critical path (the chain of nodes that bounds the run's duration, from each type's "
            "expected time) and the estimated cost from the price table (COMFYRUN_MODELS overrides it).",
            {{"0", "the plan was printed"}, kExitBadInput},
            {{"comfyrun plan graphs/multi-video-series.json", "stages, critical path and cost as text"},
             {"comfyrun plan graphs/quickstart.json --dot | dot -Tsvg > plan.svg", "draw the graph with Graphviz"}},
            "comfyrun validate, comfyrun run"});
  man->Set(nodes_cmd,
           {"Lists the built-in node types. Given a TYPE (or an alias), shows its inputs with their type, default "
            "and allowed values, and its outputs. `comfyrun schema` prints the same declarations as a JSON Schema.",
            {{"0", "listed"}, {"2", "unknown node type"}},
            {{"comfyrun nodes video_stitch", "the inputs and outputs of video_stitch"},
             {"comfyrun nodes --json | jq -r '.[].type'", "the type names"}},
            "comfyrun schema"});
  man->Set(run_cmd,
           {"Validates the workflow, then runs it. A node starts as soon as the nodes it depends on have "
            "completed, within -j and its pool; among ready nodes the one with the longest remaining critical "
            "path goes first. Failed attempts are retried per the node's retry policy; a failed node stops only "
            "its dependents unless --fail-fast.\n\n"
            "Files go to <out>/runs/<runId>/<node>/, the journal to <out>/journals/<runId>.jsonl and the "
            "metrics to <out>/metrics/<runId>.json. The journal records every step, so `comfyrun resume JOURNAL` "
            "continues an interrupted or failed run without running finished nodes again or paying twice for "
            "submitted generations. A status line on stderr shows progress; --json prints a summary on stdout.",
            {{"0", "every node succeeded"},
             {"1", "the run finished but a node failed (its dependents were skipped)"},
             kExitBadInput,
             kExitInterrupted},
            {{"comfyrun run graphs/quickstart.json --offline", "the quickstart, free and without keys"},
             {"comfyrun run wf.json -p character=\"a robot florist\" -j 4 --max-cost 5",
              "with a param, 4 nodes at a time, at most $5"},
             {"comfyrun run wf.json --json -q | jq -r .journal", "the journal's path, for resume or report"}},
            "comfyrun resume, comfyrun status, comfyrun report, comfyrun validate"});
  man->Set(resume_cmd,
           {"Continues a run from its journal. Completed nodes whose files still exist are not run again; "
            "submitted remote jobs are re-attached by their provider id, not submitted again; nodes that were "
            "running without a recorded submission run again; failed and skipped nodes get a fresh set of "
            "attempts. The journal holds the workflow and its params, so nothing else is needed; the run's "
            "options are reused unless given again. A lock beside the journal refuses a second process. "
            "Resuming a finished run says so and exits 0; an A/B test's journal continues the test.",
            {{"0", "every node succeeded (now or before)"},
             {"1", "the run finished but a node failed"},
             {"2", "unreadable or locked journal, or bad command line: nothing was run or spent"},
             kExitInterrupted},
            {{"comfyrun resume generated/journals/quickstart-20261122T041100Z-3f2a.jsonl", "continue that run"},
             {"comfyrun resume JOURNAL --max-cost 10 -j 2", "continue with a larger budget, 2 nodes at a time"}},
            "comfyrun run, comfyrun status"});
  man->Set(abtest_cmd,
           {"Runs every variant of a workflow several times, interleaved in one scheduler with one journal and "
            "one budget, and compares them: success rate, duration, cost, a quality score, a composite score and "
            "each variant's probability of being best. Variants are inline workflows (the older format) or a "
            "workflow file plus params. Every variant is validated before anything runs.\n\n"
            "The result goes to <out>/ab-tests/<testId>-<time>.json and a table to stderr; --json also prints the "
            "result on stdout. `comfyrun report RESULT --html FILE` draws it.",
            {{"0", "at least one variant succeeded"},
             {"1", "no variant succeeded"},
             kExitBadInput,
             {"130", "interrupted: `comfyrun abtest --resume JOURNAL` continues the test"}},
            {{"comfyrun abtest ab-tests/quickstart-prompts.json --offline", "two prompts, 3 runs each, free"},
             {"comfyrun abtest ab-tests/aria-prompt-comparison.json --repeats 5 --max-cost 2",
              "5 runs per variant, at most $2 in all"},
             {"comfyrun abtest --resume generated/journals/quickstart-prompts-20261122T041100Z-3f2a.jsonl",
              "continue an interrupted test"}},
            "comfyrun report, README.md (A/B tests)"});
  man->Set(status_cmd,
           {"Reads a run's journal, also while the run is live, and prints its progress: nodes completed, "
            "failed, skipped, running and pending, the cost so far, and whether a process is running it. "
            "--json prints the run's metrics (the document of metrics/<runId>.json) with \"live\".",
            {{"0", "printed"}, {"2", "the journal cannot be read"}},
            {{"comfyrun status generated/journals/quickstart-20261122T041100Z-3f2a.jsonl", "progress of that run"},
             {"watch -n 5 comfyrun status JOURNAL", "follow a live run"}},
            "comfyrun report, comfyrun trace"});
  man->Set(trace_cmd,
           {"Converts a run's journal into a Chrome trace (JSON): one track per node with its attempts, queue "
            "waits and submissions. Open it in https://ui.perfetto.dev or chrome://tracing.",
            {{"0", "written"}, {"1", "FILE cannot be written"}, {"2", "the journal cannot be read"}},
            {{"comfyrun trace JOURNAL -o run.trace.json", "write the trace to a file"}},
            "comfyrun report, docs/observability.md"});
  man->Set(gc_cmd,
           {"Removes old runs from the output directory: a run's journal, lock, runs/<runId>/ folder and metrics "
            "file, when its last journal record is older than --older-than. A live run (its journal is locked) "
            "is never removed; an unfinished run (which resume could continue) only with --force. A/B results "
            "and the cache are not touched.",
            {{"0", "done"}, {"1", "a run could not be removed"}, {"2", "bad --older-than or output directory"}},
            {{"comfyrun gc --older-than 7d --dry-run", "what would go"},
             {"comfyrun gc --older-than 30d -o /data/comfyrun", "remove runs idle for 30 days"}},
            "docs/cron.md, comfyrun cache prune"});
  man->Set(completion_cmd,
           {"Prints a completion script for bash or zsh, generated from this binary's own command line.",
            {{"0", "printed"}, {"2", "unknown shell"}},
            {{"source <(comfyrun completion bash)", "completion in the current bash"},
             {"comfyrun completion zsh > ~/.zfunc/_comfyrun", "install for zsh (with ~/.zfunc in fpath)"}},
            ""});
  man->Set(cache_cmd,
           {"The output cache (<out>/cache) keeps the outputs of nodes run with --cache, so that a later run with "
            "the same inputs reuses them instead of paying again. `cache ls` lists the entries; `cache prune` "
            "removes those not used for a while.",
            {{"0", "done"}, kExitBadInput},
            {{"comfyrun cache ls", "list the entries"},
             {"comfyrun cache prune --older-than 30d", "remove entries not used for 30 days"}},
            "docs/cache.md"});
  man->Set(cache_ls_cmd,
           {"Lists the cache entries, most recently used first: key, node type, model, files, size, what the "
            "result cost and when it was last used. Unusable entries are listed with the reason.",
            {{"0", "listed"}, kExitBadInput},
            {{"comfyrun cache ls -o /data/comfyrun --json | jq length", "how many entries"}},
            "comfyrun cache prune, docs/cache.md"});
  man->Set(cache_prune_cmd,
           {"Removes cache entries not used for --older-than; 0 removes everything.",
            {{"0", "done"}, {"1", "an entry could not be removed"}, kExitBadInput},
            {{"comfyrun cache prune --older-than 30d --dry-run", "what would go"}},
            "comfyrun cache ls, docs/cache.md"});
  man->Set(schema_cmd,
           {"Prints the JSON Schema (draft-07) of the workflow format, generated from the node registry: each "
            "node type with its inputs (type, allowed values, range, required or default), the node keys (id, "
            "type, inputs, dependsOn, retry, timeout, pool, cache) and the workflow keys. Editors use it for "
            "completion and checks while typing (docs/schema.md shows VS Code's set-up); CI can check files with "
            "any JSON Schema validator. Templates are accepted wherever a value is expected. `comfyrun validate` "
            "checks more: references, cycles, model names.",
            {{"0", "printed"}, {"1", "stdout could not be written"}, {"2", "FILE cannot be written"}},
            {{"comfyrun schema -o .vscode/comfyrun-workflow.schema.json", "for VS Code (see docs/schema.md)"},
             {"comfyrun schema | jq '.definitions | keys'", "its parts: node, inputs.TYPE, duration, retry, ..."}},
            "comfyrun validate, comfyrun nodes, docs/schema.md"});
  man->Set(report_cmd,
           {"Writes one self-contained HTML page (inline styles, script and SVG; nothing is fetched) that opens "
            "in any browser, offline. The kind of FILE is told from its content.\n\n"
            "- A journal: the run summary (status, duration, cost, attempts, peak parallelism, critical path), "
            "a timeline of every node attempt with queue waits, retries and interrupted attempts, the attempts "
            "running over time, and a table of time and cost per node.\n"
            "- An A/B result: the decision and warnings, each metric per variant with its 95% interval and the "
            "single runs, the probability of being best, and the comparisons with the baseline.\n\n"
            "Text from the files (node ids, prompts, messages) is escaped.",
            {{"0", "written"}, {"1", "stdout could not be written"},
             {"2", "FILE is unreadable or neither a journal nor an A/B result, or the page cannot be written"}},
            {{"comfyrun report generated/journals/quickstart-20261122T041100Z-3f2a.jsonl --html run.html",
              "the report of a run"},
             {"comfyrun report generated/ab-tests/quickstart-prompts-20261122T041500Z.json --html ab.html",
              "the report of an A/B test"}},
            "comfyrun status, comfyrun trace, docs/report.md"});

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitInvalid;
  }
  // --pushgateway (or its variable) is checked before anything runs: bad input is exit 2.
  auto export_ok = [](ExecutionOptions* exec) {
    std::string err;
    if (ResolveMetricsExport(exec, &err)) return true;
    fmt::print(stderr, "comfyrun: --pushgateway: {}\n", err);
    return false;
  };
  if ((*run_cmd && !export_ok(&run.exec)) || (*resume_cmd && !export_ok(&resume.exec)) ||
      (*abtest_cmd && !export_ok(&abtest.exec)))
    return kExitInvalid;
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
  if (*trace_cmd) return TraceCommand(trace);
  if (*gc_cmd) return GcCommand(gc);
  if (*completion_cmd) return CompletionCommand(completion, DescribeApp(app));
  if (*schema_cmd) return SchemaCommand(schema);
  if (*report_cmd) return ReportCommand(report);
  return kExitInvalid;
}

}  // namespace comfyrun
