// run, resume and status: the commands that execute workflows or read their journals.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "comfyrun/cli.h"
#include "comfyrun/commands.h"
#include "comfyrun/engine/executor.h"
#include "comfyrun/media/module.h"
#include "comfyrun/json_fast.h"
#include "comfyrun/metrics/run_metrics.h"
#include "comfyrun/models.h"
#include "comfyrun/phase_timer.h"
#include "comfyrun/plan_report.h"
#include "comfyrun/providers/preflight.h"
#include "comfyrun/validate.h"
#include "comfyrun/util.h"
#include "run_support.h"

namespace comfyrun {

// The helpers up to RunCommand are shared with `abtest` (run_support.h).

/// Checks that everything below --out can be written, before anything is spent.
bool PrepareOutputDirectory(const std::string& out_dir, std::string* err) {
  for (const char* sub : {"runs", "journals", "metrics"})
    if (!MakeDirs(out_dir + "/" + sub, err)) return false;
  // A file created and removed: nothing to make durable (WriteFileAtomic's fsync and rename
  // cost 5-20 ms on every run and resume).
  std::string probe = out_dir + "/runs/.write-test-" + RandomHex(6);
  int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    *err = fmt::format("output directory {} is not writable: cannot create {}: {}", out_dir, probe, strerror(errno));
    return false;
  }
  close(fd);
  unlink(probe.c_str());
  return true;
}

RunOptions ToRunOptions(const ExecutionOptions& e) {
  RunOptions o;
  o.out_dir = e.out_dir;
  o.jobs = e.jobs > 0 ? e.jobs : 16;
  if (!e.durability.empty()) ParseDurability(e.durability, &o.durability);
  o.fail_fast = e.fail_fast;
  o.cancel_remote = e.cancel_remote;
  o.max_cost = e.max_cost;
  o.status_mode = e.quiet ? StatusPrinter::Mode::kQuiet : StatusPrinter::Mode::kAuto;
  o.config = Config::FromEnvironment();
  o.config.offline = e.offline;
  for (const auto& url : e.comfyui) o.config.comfyui_servers.push_back(url);
  o.cache = e.no_cache ? CacheMode::kOff : e.cache ? CacheMode::kOn : CacheMode::kWorkflow;
  return o;
}

/// Completed nodes whose outputs came from the output cache, as metrics count them.
int CachedNodes(const JournalReplay& replay) {
  int n = 0;
  for (const auto& [id, node] : replay.nodes) n += node.cached && node.status == JournalNode::Status::kCompleted;
  return n;
}

/// Writes the metrics of a run from its journal's state; returns the metrics path ("" on
/// failure, with a warning). `workflow`, when given, is the header's workflow already built.
std::string WriteMetrics(const JournalReplay& replay, const Workflow* workflow, const std::string& out_dir,
                         const std::string& run_id, std::vector<const JournalNode*> found) {
  PhaseTimer timer("write metrics");
  std::string err;
  std::string path = MetricsPath(out_dir, run_id);
  if (!WriteFileAtomic(path, workflow ? RunMetricsText(replay, *workflow, std::move(found)) : RunMetricsText(replay),
                       &err)) {
    fmt::print(stderr, "warning: cannot write metrics {}: {}\n", path, err);
    return "";
  }
  return path;
}

int Finish(const RunSummary& summary, const ExecutionOptions& exec) {
  if (exec.json) {
    Json failed = Json::array();
    for (const auto& [node, error] : summary.failed) failed.push_back({{"node", node}, {"error", error}});
    Json out = {{"runId", summary.run_id},       {"status", summary.status},        {"totalCost", summary.total_cost},
                {"durationMs", summary.duration_ms}, {"journal", summary.journal_path}, {"metrics", summary.metrics_path},
                {"cachedNodes", summary.cached_nodes}, {"failed", failed}};
    fmt::print("{}\n", out.dump(2));
  }
  std::string cached = summary.cached_nodes > 0 ? fmt::format(", {} from the cache", summary.cached_nodes) : "";
  fmt::print(stderr, "run {} {} in {}, cost ${:.2f}{}\n  journal: {}\n  metrics: {}\n", summary.run_id, summary.status,
             FormatDuration(summary.duration_ms / 1000.0), summary.total_cost, cached, summary.journal_path,
             summary.metrics_path);
  if (summary.status == "interrupted")
    fmt::print(stderr, "  continue with: comfyrun resume {}\n", summary.journal_path);
  else if (summary.status == "failed")
    fmt::print(stderr, "  after fixing the cause: comfyrun resume {}\n", summary.journal_path);
  return summary.exit_code;
}

/// Checks done before anything runs: model table, keys, budget.
bool Preflight(const Workflow& wf, const RunOptions& options, std::string* err) {
  if (!options.config.offline) {
    std::vector<std::string> missing = MissingProviderKeys(wf, options.config);
    if (!missing.empty()) {
      *err = fmt::format("missing API keys; nothing was run:\n  {}", fmt::join(missing, "\n  "));
      return false;
    }
  }
  std::string catalog_error;
  ActiveModelCatalog(&catalog_error);
  if (!catalog_error.empty()) {
    *err = catalog_error;
    return false;
  }
  // A generation whose image or video cannot be checked (no media module) would fail after it
  // was paid for, and its retry would pay again: without the module, nothing starts.
  for (const auto& node : wf.nodes)
    if (node.spec && media::NodeTypeNeedsModule(node.spec->name)) {
      std::string module_error;
      if (!media::LoadModule(&module_error)) {
        *err = fmt::format("node {} ({}) needs the media module; nothing was run: {}", node.id, node.spec->name,
                           module_error);
        return false;
      }
      break;
    }
  if (options.max_cost >= 0) {
    PlanReport plan = BuildPlanReport(wf, options.config.offline);
    if (plan.total_cost > options.max_cost + 1e-9) {
      *err = fmt::format("the estimated cost ${:.2f} is above --max-cost ${:.2f}; nothing was run "
                         "(see `comfyrun plan {}`)", plan.total_cost, options.max_cost, wf.file);
      return false;
    }
  }
  return true;
}

Json HeaderOptions(const RunOptions& o) {
  return {{"out", AbsolutePath(o.out_dir)}, {"jobs", o.jobs}, {"durability", DurabilityName(o.durability)},
          {"offline", o.config.offline}, {"failFast", o.fail_fast}, {"maxCost", o.max_cost},
          {"comfyui", o.config.comfyui_servers}, {"cache", CacheModeName(o.cache)}};
}

Json RunHeader(Workflow* wf, const std::string& run_id, const RunOptions& options) {
  // The hash is of the same text dump() gives, written by AppendJson, several times faster.
  std::string hashed;
  AppendJson(&hashed, wf->document);
  AppendJson(&hashed, wf->params);
  Json header = Json::object();
  header["type"] = "header";
  header["format"] = kJournalFormat;
  header["runId"] = run_id;
  header["workflowId"] = wf->workflow_id;
  header["file"] = AbsolutePath(wf->file);
  header["workflow"] = std::move(wf->document);  // not copied: 100,000 nodes' document
  header["params"] = wf->params;
  header["hash"] = Sha256Hex(hashed);
  header["options"] = HeaderOptions(options);
  header["comfyrun"] = COMFYRUN_VERSION;
  return header;
}

/// Ends the process without destroying the command's workflow and journal state, as ninja's
/// main does ("use exit() ... to avoid potentially expensive cleanup"): freeing a 100,000-node
/// run's structures took 0.3 s. Everything that must reach the disk is written and closed by
/// now; exit() still flushes stdio and runs static destructors.
[[noreturn]] void ExitSkippingTeardown(int code) {
  std::fflush(nullptr);
  std::exit(code);
}

int RunCommand(const RunOptionsCli& cli) {
  std::vector<Diagnostic> diags;
  auto overrides = ParseParamArguments(cli.params, &diags);
  Workflow wf;
  std::optional<PhaseTimer> load_timer(std::in_place, "load + validate workflow");
  if (!LoadWorkflow(cli.file, overrides, &wf, &diags) || CountErrors(diags) > 0) {
    PrintDiagnostics(diags);
    fmt::print(stderr, "{}: invalid; nothing was run\n", cli.file);
    return kExitInvalid;
  }
  load_timer.reset();
  PrintDiagnostics(diags);
  RunOptions options = ToRunOptions(cli.exec);
  std::string err;
  if (!Preflight(wf, options, &err) || !PrepareOutputDirectory(options.out_dir, &err)) {
    fmt::print(stderr, "comfyrun run: {}\n", err);
    return kExitInvalid;
  }
  std::string run_id = NewRunId(wf.workflow_id);
  std::string journal_path = cli.journal.empty() ? DefaultJournalPath(options.out_dir, run_id) : cli.journal;
  if (!cli.journal.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(journal_path, ec) && std::filesystem::file_size(journal_path, ec) > 0) {
      fmt::print(stderr, "comfyrun run: journal {} already exists; resume it with `comfyrun resume {}`, or choose another path\n",
                 journal_path, journal_path);
      return kExitInvalid;
    }
    auto parent = std::filesystem::path(journal_path).parent_path();
    if (!parent.empty() && !MakeDirs(parent.string(), &err)) {
      fmt::print(stderr, "comfyrun run: {}\n", err);
      return kExitInvalid;
    }
  }
  auto journal = JournalWriter::Open(journal_path, options.durability, &err);
  if (!journal) {
    fmt::print(stderr, "comfyrun run: {}\n", err);
    return kExitInvalid;
  }
  JournalReplay state;  // what the journal says, kept up to date as records are appended
  journal->MirrorInto(&state);
  if (!journal->Append(RunHeader(&wf, run_id, options), /*proof=*/true, &err)) {
    fmt::print(stderr, "comfyrun run: cannot write the journal {}: {}\n", journal_path, err);
    return kExitInvalid;
  }
  Executor::InstallSignalHandlers();
  RunSummary summary;
  // Not destroyed: the process exits with it (ExitSkippingTeardown); its threads stop here.
  Executor executor(wf, options, run_id, journal.get());
  {
    PhaseTimer run_timer("executor run");
    summary = executor.Run();
    executor.StopBackgroundWork();
  }
  journal.reset();
  summary.metrics_path = WriteMetrics(state, &wf, options.out_dir, run_id);
  summary.cached_nodes = CachedNodes(state);
  ExportRunMetrics(summary.metrics_path, cli.exec);  // --prom, --pushgateway (cmd_export.cc)
  ExitSkippingTeardown(Finish(summary, cli.exec));
}

namespace {
/// The --param values the run started with, as overrides (the header keeps the final values).
std::vector<ParamOverride> HeaderParamOverrides(const Json& header) {
  std::vector<ParamOverride> overrides;
  if (header.contains("params") && header["params"].is_object())
    for (auto it = header["params"].begin(); it != header["params"].end(); ++it)
      overrides.push_back({it.key(), it.value().is_string() ? it.value().get<std::string>() : it.value().dump()});
  return overrides;
}

/// A workflow built and validated from a journal header's document.
struct BuiltWorkflow {
  Workflow wf;
  std::vector<Diagnostic> diags;
  bool ok = false;
};
BuiltWorkflow BuildFromHeader(Json doc, const std::string& file, const std::vector<ParamOverride>& overrides) {
  BuiltWorkflow b;
  b.ok = BuildWorkflow(std::move(doc), file, overrides, &b.wf, &b.diags) && ValidateWorkflow(&b.wf, &b.diags);
  return b;
}
/// The same from the header's workflow as read: its nodes are converted by the threads that
/// read them (BuildWorkflow), so no document of every node is built.
BuiltWorkflow ConvertAndBuild(HeaderWorkflow workflow, const std::string& file, const std::vector<ParamOverride>& overrides) {
  Json rest;
  std::unique_ptr<NodeList> nodes = workflow.TakeApart(&rest);
  if (!nodes) return BuildFromHeader(workflow.Take(), file, overrides);
  BuiltWorkflow b;
  b.ok = BuildWorkflow(std::move(rest), *nodes, file, overrides, &b.wf, &b.diags) && ValidateWorkflow(&b.wf, &b.diags);
  return b;
}
}  // namespace

int ResumeCommand(const ResumeOptions& cli) {
  JournalReplay replay;
  std::string err;
  // The workflow as it was when the run started (the header holds all of it) is converted
  // and built on another thread while this one folds the records: for 100,000 nodes each
  // takes about as long as the other. The header then has no "workflow": from here on the
  // Workflow stands for it (the metrics take their nodes from it). An A/B test's workflow
  // depends on the replay (AbTestResumeDocument), so it is built afterwards.
  std::future<BuiltWorkflow> building;
  JournalReadOptions read_options;
  read_options.on_header = [&](const Json& header, HeaderWorkflow& workflow) {
    if (header.contains("abtest")) return;
    building = std::async(std::launch::async, ConvertAndBuild, std::move(workflow), header.value("file", cli.journal),
                          HeaderParamOverrides(header));
  };
  std::optional<PhaseTimer> replay_timer(std::in_place, "replay journal (+ build workflow alongside)");
  if (!ReadJournal(cli.journal, read_options, &replay, &err)) {
    fmt::print(stderr, "comfyrun resume: {}: {}\n", cli.journal, err);
    return kExitInvalid;  // (a build under way is waited for by the future's destructor)
  }
  replay_timer.reset();
  for (const auto& w : replay.warnings) fmt::print(stderr, "warning: {}: {}\n", cli.journal, w);
  const Json& header = replay.header;
  std::string run_id = header.value("runId", "");
  // The run id names folders and files under --out (runs/<id>/, metrics/<id>.json): an id
  // that could lead out of it (a damaged or hand-made journal) is refused.
  bool safe_id = !run_id.empty() && run_id != "." && run_id != ".." &&
                 run_id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                     std::string::npos;
  if (!safe_id) {
    fmt::print(stderr, "comfyrun resume: {}: the header's runId {} is not a plain name; nothing was run\n", cli.journal,
               Quote(run_id));
    return kExitInvalid;
  }
  if (replay.finished && replay.final_status == "succeeded") {
    fmt::print(stderr, "run {} already finished successfully; nothing to do\n", run_id);
    return kExitOk;
  }
  std::optional<PhaseTimer> load_timer(std::in_place, "load + validate workflow (what is left)");
  BuiltWorkflow built = building.valid() ? building.get()
                                         : BuildFromHeader(header.contains("abtest") ? AbTestResumeDocument(header, replay)
                                                                                     : header.value("workflow", Json()),
                                                           header.value("file", cli.journal), HeaderParamOverrides(header));
  Workflow& wf = built.wf;
  if (!built.ok) {
    PrintDiagnostics(built.diags);
    fmt::print(stderr, "comfyrun resume: the journal's workflow is not valid for this comfyrun; nothing was run\n");
    return kExitInvalid;
  }
  load_timer.reset();
  // Options: as the run started, unless given again now.
  ExecutionOptions exec = cli.exec;
  const Json saved = header.value("options", Json::object());
  if (!cli.out_given && saved.contains("out")) exec.out_dir = saved["out"].get<std::string>();
  if (exec.jobs == 0) exec.jobs = saved.value("jobs", 16);
  if (exec.durability.empty()) exec.durability = saved.value("durability", "batch");
  if (!cli.offline_given) exec.offline = saved.value("offline", false);
  if (!cli.fail_fast_given) exec.fail_fast = saved.value("failFast", false);
  if (exec.max_cost < 0) exec.max_cost = saved.value("maxCost", -1.0);
  if (!exec.cache && !exec.no_cache) {
    exec.cache = saved.value("cache", "") == "on";
    exec.no_cache = saved.value("cache", "") == "off";
  }
  if (exec.comfyui.empty() && saved.contains("comfyui"))
    for (const auto& url : saved["comfyui"]) exec.comfyui.push_back(url.get<std::string>());
  RunOptions options = ToRunOptions(exec);
  // The up-front budget check is for a whole run; on resume the executor's per-node check,
  // which counts what was already spent, is the one that applies.
  RunOptions preflight_options = options;
  preflight_options.max_cost = -1;
  if (!Preflight(wf, preflight_options, &err) || !PrepareOutputDirectory(options.out_dir, &err)) {
    fmt::print(stderr, "comfyrun resume: {}\n", err);
    return kExitInvalid;
  }
  auto journal = JournalWriter::Open(cli.journal, options.durability, &err);
  if (!journal) {
    fmt::print(stderr, "comfyrun resume: {}\n", err);
    return kExitInvalid;
  }
  journal->MirrorInto(&replay);  // from here on, replay follows what this run appends
  Executor::InstallSignalHandlers();
  RunSummary summary;
  std::optional<PhaseTimer> seed_timer(std::in_place, "executor setup + seed");
  // Each node's state in the journal is looked up while the executor is set up (100,000
  // hash lookups: ~25 ms); the seed and the metrics both use them.
  std::vector<std::string_view> ids = NodeIdViews(wf);
  std::vector<const JournalNode*> found;
  auto finding = std::async(std::launch::async, [&] { FindJournalNodes(replay, ids, &found); });
  // Not destroyed: the process exits with it (ExitSkippingTeardown); its threads stop here.
  Executor executor(wf, options, run_id, journal.get());
  finding.get();
  executor.SeedFromReplay(replay, &found);
  seed_timer.reset();
  {
    PhaseTimer run_timer("executor run");
    summary = executor.Run();
    executor.StopBackgroundWork();
  }
  journal.reset();
  // An A/B test's resume runs a trimmed copy of the header's workflow (AbTestResumeDocument):
  // its metrics list every node of the header, so they are built from the header.
  summary.metrics_path = header.contains("abtest") ? WriteMetrics(replay, nullptr, options.out_dir, run_id)
                                                  : WriteMetrics(replay, &wf, options.out_dir, run_id, std::move(found));
  summary.cached_nodes = CachedNodes(replay);
  ExportRunMetrics(summary.metrics_path, exec);
  if (header.contains("abtest")) ExitSkippingTeardown(FinishAbTest(header, summary, exec));  // cmd_abtest.cc
  ExitSkippingTeardown(Finish(summary, exec));
}

int StatusCommand(const StatusOptions& cli) {
  JournalReplay replay;
  std::string err;
  if (!ReadJournal(cli.journal, &replay, &err)) {
    fmt::print(stderr, "comfyrun status: {}: {}\n", cli.journal, err);
    return kExitInvalid;
  }
  Json metrics = BuildRunMetrics(replay);
  int holder = JournalLockHolder(cli.journal);
  metrics["live"] = holder != 0;
  if (holder) metrics["pid"] = holder;
  if (cli.json) {
    fmt::print("{}\n", metrics.dump(2));
    return kExitOk;
  }
  const Json& counts = metrics["counts"];
  size_t total = metrics["nodes"].size();
  std::string state = holder ? fmt::format("running (pid {})", holder)
                     : replay.finished ? std::string(replay.final_status)
                                       : "stopped (not finished; `comfyrun resume` continues it)";
  fmt::print("run {}: {}\n", metrics["runId"].get<std::string>(), state);
  fmt::print("  progress: {}/{} completed, {} failed, {} skipped, {} running, {} pending\n",
             counts["completed"].get<int>(), total, counts["failed"].get<int>(), counts["skipped"].get<int>(),
             counts["running"].get<int>(), counts["pending"].get<int>());
  fmt::print("  cost so far: ${:.2f}\n", replay.total_cost);
  for (const auto& n : metrics["nodes"]) {
    std::string s = n["status"].get<std::string>();
    if (s == "running" && holder) fmt::print("  running: {} (attempt {}, since {})\n", n["id"].get<std::string>(),
                                             n["attempts"].get<int>(), n["start"].get<std::string>());
    if (s == "failed")
      fmt::print("  failed: {}: {}\n", n["id"].get<std::string>(),
                 n.contains("error") ? n["error"]["type"].get<std::string>() + ": " + n["error"]["message"].get<std::string>() : "");
  }
  return kExitOk;
}

}  // namespace comfyrun
