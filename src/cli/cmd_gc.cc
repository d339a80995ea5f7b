// gc: removes old runs from the output directory (maintenance/gc.h has the rules).
#include <fmt/format.h>

#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "comfyrun/core/json.h"
#include "comfyrun/core/util.h"
#include "comfyrun/maintenance/gc.h"

namespace comfyrun {

namespace {
const char* ActionName(GcRun::Action a, bool dry_run) {
  switch (a) {
    case GcRun::Action::kRemoved:
      return dry_run ? "would remove" : "removed";
    case GcRun::Action::kKeptLive:
      return "kept (live)";
    case GcRun::Action::kKeptUnfinished:
      return "kept (unfinished)";
    case GcRun::Action::kKeptRecent:
      return "kept (recent)";
    case GcRun::Action::kFailed:
      return "failed";
  }
  return "?";
}
}  // namespace

int GcCommand(const GcCommandOptions& cli) {
  std::string err;
  auto seconds = ParseDuration(cli.older_than, &err);
  if (!seconds) {
    fmt::print(stderr, "comfyrun gc: --older-than: {}\n", err);
    return kExitInvalid;
  }
  GcOptions options;
  options.out_dir = cli.out_dir;
  options.older_than_seconds = *seconds;
  options.dry_run = cli.dry_run;
  options.force = cli.force;
  GcReport report;
  if (!CollectGarbage(options, &report, &err)) {
    fmt::print(stderr, "comfyrun gc: {}\n", err);
    return kExitInvalid;
  }
  size_t live = 0, unfinished = 0, recent = 0;
  Json runs = Json::array();
  for (const GcRun& r : report.runs) {
    live += r.action == GcRun::Action::kKeptLive;
    unfinished += r.action == GcRun::Action::kKeptUnfinished;
    recent += r.action == GcRun::Action::kKeptRecent;
    if (cli.json) {
      Json j = {{"runId", r.run_id},
                {"journal", r.journal},
                {"action", ActionName(r.action, cli.dry_run)},
                {"lastActivity", r.last_activity_ms ? IsoTime(r.last_activity_ms) : ""},
                {"ageFrom", r.age_from_mtime ? "mtime" : "journal"},
                {"status", r.status},
                {"bytes", r.bytes}};
      if (!r.error.empty()) j["error"] = r.error;
      runs.push_back(j);
      continue;
    }
    // Recent runs are the common case and not news: only the others get a line.
    if (r.action == GcRun::Action::kKeptRecent) continue;
    std::string when = r.last_activity_ms ? IsoTime(r.last_activity_ms) : "?";
    std::string detail;
    switch (r.action) {
      case GcRun::Action::kRemoved:
        detail = fmt::format("{}, last active {}{}, {}", r.status.empty() ? "unfinished" : r.status, when,
                             r.age_from_mtime ? " (file time)" : "", FormatBytes(r.bytes));
        break;
      case GcRun::Action::kKeptLive:
        detail = "a comfyrun holds its journal lock";
        break;
      case GcRun::Action::kKeptUnfinished:
        detail = fmt::format(
            "last active {}, no run_finished record; `comfyrun resume` can continue it, "
            "--force removes it",
            when);
        break;
      case GcRun::Action::kFailed:
        detail = r.error;
        break;
      case GcRun::Action::kKeptRecent:
        break;
    }
    fmt::print("{:<18} {}  ({})\n", ActionName(r.action, cli.dry_run), r.run_id, detail);
  }
  if (cli.json) {
    Json out = {{"dryRun", cli.dry_run},
                {"olderThanSeconds", *seconds},
                {"removed", report.removed},
                {"bytesFreed", report.bytes_freed},
                {"failed", report.failed},
                {"kept", {{"live", live}, {"unfinished", unfinished}, {"recent", recent}}},
                {"runs", runs}};
    fmt::print("{}\n", out.dump(2, ' ', false, Json::error_handler_t::replace));
  } else {
    fmt::print("{} {} run{}, {} {} ({} bytes); kept {} live, {} unfinished, {} newer than {}{}\n",
               cli.dry_run ? "gc (dry run): would remove" : "gc: removed", report.removed,
               report.removed == 1 ? "" : "s", cli.dry_run ? "would free" : "freed", FormatBytes(report.bytes_freed),
               report.bytes_freed, live, unfinished, recent, cli.older_than,
               report.failed ? fmt::format("; {} failed", report.failed) : "");
  }
  return report.failed ? kExitFailed : kExitOk;
}

}  // namespace comfyrun
