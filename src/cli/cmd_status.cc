// status: a live or finished run's progress, from its journal.
#include <fmt/format.h>

#include "comfyrun/batch/results.h"
#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "comfyrun/engine/status_printer.h"
#include "comfyrun/metrics/run_metrics.h"
#include "comfyrun/run/header.h"

namespace comfyrun {

int StatusCommand(const StatusOptions& cli) {
  JournalReplay replay;
  JournalHeader header;
  std::string err;
  if (!ReadCheckedJournal(cli.journal, {}, &replay, &header, &err)) {
    fmt::print(stderr, "comfyrun status: {}\n", err);
    return kExitInvalid;
  }
  Json metrics;
  // A batch's nodes are the rows' copies of the workflow's (batch/expand.h).
  if (!header.is_batch || !BatchRunMetrics(replay, &metrics)) metrics = BuildRunMetrics(replay);
  int holder = JournalLockHolder(cli.journal);
  metrics["live"] = holder != 0;
  if (holder) metrics["pid"] = holder;
  if (header.is_batch) metrics["batch"] = BatchRowCounts(replay);
  if (cli.json) {
    WriteConsole(stdout, metrics.dump(2) + "\n");
    return kExitOk;
  }
  const Json& counts = metrics["counts"];
  size_t total = metrics["nodes"].size();
  int running = counts["running"].get<int>();
  std::string state;
  if (holder) {
    state = fmt::format("running (pid {})", holder);
  } else if (replay.finished) {
    state = replay.final_status;
  } else if (running > 0) {
    // No process holds the journal, yet nodes were running: the run was killed mid-way.
    state = fmt::format("interrupted ({} {} running; `comfyrun resume` continues {})", running,
                        running == 1 ? "node was" : "nodes were", running == 1 ? "it" : "them");
  } else {
    state = "stopped (not finished; `comfyrun resume` continues it)";
  }
  std::string text = fmt::format("run {}: {}\n", header.run_id, state);
  // A dead run has nothing running: its nodes that were show as interrupted.
  text += fmt::format("  progress: {}/{} completed, {} failed, {} skipped, {} {}, {} pending\n",
                      counts["completed"].get<int>(), total, counts["failed"].get<int>(), counts["skipped"].get<int>(),
                      running, !holder && running > 0 ? "interrupted" : "running", counts["pending"].get<int>());
  text += fmt::format("  cost so far: ${:.2f}\n", replay.total_cost);
  if (header.is_batch) text += "  " + BatchStatusLine(replay) + "\n";
  for (const auto& n : metrics["nodes"]) {
    std::string s = n["status"].get<std::string>();
    if (s == "running" && holder)
      text += fmt::format("  running: {} (attempt {}, since {})\n", n["id"].get<std::string>(),
                          n["attempts"].get<int>(), n["start"].get<std::string>());
    if (s == "running" && !holder)
      text += fmt::format("  interrupted: {} (attempt {})\n", n["id"].get<std::string>(), n["attempts"].get<int>());
    if (s == "failed")
      text += fmt::format("  failed: {}: {}\n", n["id"].get<std::string>(),
                          n.contains("error")
                              ? n["error"]["type"].get<std::string>() + ": " + n["error"]["message"].get<std::string>()
                              : "");
  }
  WriteConsole(stdout, text);
  return kExitOk;
}

}  // namespace comfyrun
