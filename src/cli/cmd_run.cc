// run and resume: the commands that execute a workflow, as clients of RunSession
// (run/session.h), which owns the run from its checks to its metrics.
#include <fmt/format.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "comfyrun/core/phase_timer.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"
#include "comfyrun/engine/status_printer.h"
#include "comfyrun/providers/provider.h"
#include "comfyrun/run/session.h"
#include "run_support.h"

namespace comfyrun {

RunOptions ToRunOptions(const ExecutionOptions& e) {
  RunOptions o;
  o.out_dir = e.out_dir;
  o.jobs = e.jobs > 0 ? e.jobs : 16;
  if (!e.durability.empty()) ParseDurability(e.durability, &o.durability);
  o.fail_fast = e.fail_fast;
  o.cancel_remote = e.cancel_remote;
  o.max_cost = e.max_cost;
  o.status_mode = e.quiet ? StatusPrinter::Mode::kQuiet : StatusPrinter::Mode::kAuto;
  o.config = Config::FromEnvironment(ProviderConfigVariables());
  o.config.offline = e.offline;
  o.config.resubmit_expired = e.resubmit_expired;
  for (const auto& url : e.comfyui) o.config.comfyui_servers.push_back(url);
  o.cache = e.no_cache ? CacheMode::kOff : e.cache ? CacheMode::kOn : CacheMode::kWorkflow;
  return o;
}

int Finish(const RunSummary& summary, const ExecutionOptions& exec) {
  if (exec.json) {
    Json failed = Json::array();
    for (const auto& [node, error] : summary.failed) failed.push_back({{"node", node}, {"error", error}});
    Json out = {{"runId", summary.run_id},
                {"status", summary.status},
                {"totalCost", summary.total_cost},
                {"durationMs", summary.duration_ms},
                {"journal", summary.journal_path},
                {"metrics", summary.metrics_path},
                {"cachedNodes", summary.cached_nodes},
                {"failed", failed}};
    WriteConsole(stdout, out.dump(2) + "\n");
  }
  std::string cached = summary.cached_nodes > 0 ? fmt::format(", {} from the cache", summary.cached_nodes) : "";
  std::string text = fmt::format("run {} {} in {}, cost ${:.2f}{}\n  journal: {}\n  metrics: {}\n", summary.run_id,
                                 summary.status, FormatDuration(summary.duration_ms / 1000.0), summary.total_cost,
                                 cached, summary.journal_path, summary.metrics_path);
  if (summary.status == "interrupted")
    text += fmt::format("  continue with: comfyrun resume {}\n", summary.journal_path);
  else if (summary.status == "failed")
    text += fmt::format("  after fixing the cause: comfyrun resume {}\n", summary.journal_path);
  WriteConsole(stderr, text);
  return summary.exit_code;
}

/// Ends the process without destroying the command's workflow and journal state, as ninja's
/// main does ("use exit() ... to avoid potentially expensive cleanup"): freeing a 100,000-node
/// run's structures took 0.3 s. Everything that must reach the disk is written and closed by
/// now; exit() still flushes stdio and runs static destructors.
[[noreturn]] void ExitSkippingTeardown(int code, std::unique_ptr<RunSession> session) {
  static RunSession* volatile kept_until_exit = nullptr;  // volatile: the store is not optimised away
  kept_until_exit = session.release();
  std::fflush(nullptr);
  std::exit(code);
}

namespace {

/// The first line of a regular file (at most 1 MB of it), for telling a journal from a
/// workflow; "" for anything else.
std::string FirstLine(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  std::ifstream in(path, std::ios::binary);
  std::string line;
  char c;
  while (line.size() < (1u << 20) && in.get(c) && c != '\n') line += c;
  return line;
}

bool LooksLikeJournal(const std::string& path) {
  Json head = Json::parse(FirstLine(path), nullptr, /*allow_exceptions=*/false);
  return head.is_object() && head.contains("type") && head["type"] == "header";
}

/// "a workflow", "an A/B test" or "" for a file that is neither (read only when small).
std::string DocumentKind(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20)) return "";
  std::string text, err;
  if (!ReadFile(path, &text, &err)) return "";
  Json doc = Json::parse(text, nullptr, false);
  if (!doc.is_object()) return "";
  if (doc.contains("variants")) return "an A/B test";
  if (doc.contains("nodes")) return "a workflow";
  return "";
}

}  // namespace

int RunCommand(const RunOptionsCli& cli) {
  std::vector<Diagnostic> diags;
  auto overrides = ParseParamArguments(cli.params, &diags);
  Workflow wf;
  std::optional<PhaseTimer> load_timer(std::in_place, "load + validate workflow");
  if (!LoadWorkflow(cli.file, overrides, &wf, &diags) || CountErrors(diags) > 0) {
    if (LooksLikeJournal(cli.file)) {
      fmt::print(stderr,
                 "comfyrun run: {} is a run's journal, not a workflow; continue that run with "
                 "`comfyrun resume {}`\n",
                 cli.file, cli.file);
      return kExitInvalid;
    }
    PrintDiagnostics(diags);
    fmt::print(stderr, "{}: invalid; nothing was run\n", cli.file);
    return kExitInvalid;
  }
  load_timer.reset();
  PrintDiagnostics(diags);
  StartOptions start;
  start.journal = cli.journal;
  start.executor = cli.exec.executor;
  std::string err;
  // Not destroyed: the process exits with it (ExitSkippingTeardown). As ninja's main does
  // ("use exit() ... to avoid potentially expensive cleanup"): freeing a 100,000-node run's
  // structures took 0.3 s, and everything that must reach the disk is written by then.
  std::unique_ptr<RunSession> session = RunSession::Start(std::move(wf), ToRunOptions(cli.exec), start, &err);
  if (!session) {
    fmt::print(stderr, "comfyrun run: {}\n", err);
    return kExitInvalid;
  }
  RunSummary summary = session->Execute();
  ExportRunMetrics(summary.metrics_path, cli.exec);  // --prom, --pushgateway (cmd_export.cc)
  int code = Finish(summary, cli.exec);
  ExitSkippingTeardown(code, std::move(session));  // never destroyed: the teardown is skipped on purpose
}

int ResumeCommand(const ResumeOptions& cli) {
  const ExecutionOptions& e = cli.exec;
  ResumeOverrides o;
  if (cli.out_given) o.out_dir = e.out_dir;
  if (e.jobs > 0) o.jobs = e.jobs;
  Durability durability;
  if (!e.durability.empty() && ParseDurability(e.durability, &durability)) o.durability = durability;
  if (cli.offline_given) o.offline = e.offline;
  if (cli.fail_fast_given) o.fail_fast = e.fail_fast;
  if (e.max_cost >= 0) o.max_cost = e.max_cost;
  if (e.cache) o.cache = CacheMode::kOn;
  if (e.no_cache) o.cache = CacheMode::kOff;
  o.comfyui = e.comfyui;
  o.status_mode = e.quiet ? StatusPrinter::Mode::kQuiet : StatusPrinter::Mode::kAuto;
  o.force = cli.force;
  o.cancel_remote = e.cancel_remote;
  o.resubmit_expired = e.resubmit_expired;
  o.executor = e.executor;
  std::vector<Diagnostic> diags;
  std::string err;
  std::unique_ptr<RunSession> session = RunSession::Resume(cli.journal, o, &diags, &err);
  if (!session) {
    PrintDiagnostics(diags);
    std::string kind = diags.empty() && !LooksLikeJournal(cli.journal) ? DocumentKind(cli.journal) : "";
    if (kind == "a workflow")
      fmt::print(stderr, "comfyrun resume: {} is a workflow, not a run's journal; run it with `comfyrun run {}`\n",
                 cli.journal, cli.journal);
    else if (kind == "an A/B test")
      fmt::print(stderr, "comfyrun resume: {} is an A/B test, not a run's journal; run it with `comfyrun abtest {}`\n",
                 cli.journal, cli.journal);
    else
      fmt::print(stderr, "comfyrun resume: {}\n", err);
    return kExitInvalid;
  }
  if (session->already_succeeded()) {
    fmt::print(stderr, "run {} already finished successfully; nothing to do\n", session->run_id());
    return kExitOk;
  }
  RunSummary summary = session->Execute();
  ExecutionOptions exec = cli.exec;
  exec.out_dir = session->options().out_dir;  // the journal's unless --out was given
  ExportRunMetrics(summary.metrics_path, exec);
  int code = session->decoded_header().is_abtest ? FinishAbTest(session->header(), summary, exec)  // cmd_abtest.cc
             : session->decoded_header().is_batch
                 ? FinishBatch(session->header(), session->workflow(), session->state(), summary, exec)  // cmd_batch.cc
                 : Finish(summary, exec);
  ExitSkippingTeardown(code, std::move(session));  // never destroyed: the teardown is skipped on purpose
}

}  // namespace comfyrun
