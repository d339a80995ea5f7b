// trace: a run's journal as a Chrome trace (export/chrome_trace.h), for Perfetto or
// chrome://tracing.
#include <fmt/format.h>

#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "comfyrun/core/util.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/export/chrome_trace.h"
#include "comfyrun/run/header.h"

namespace comfyrun {

int TraceCommand(const TraceOptions& cli) {
  JournalReadOptions read;
  read.keep_events = true;  // the slices are built from each node's records
  JournalReplay replay;
  std::string err;
  JournalHeader header;
  if (!ReadCheckedJournal(cli.journal, read, &replay, &header, &err)) {
    fmt::print(stderr, "comfyrun trace: {}\n", err);
    return kExitInvalid;
  }
  for (const auto& w : replay.warnings) fmt::print(stderr, "warning: {}: {}\n", cli.journal, w);
  // Replace invalid UTF-8 rather than throw: messages in the journal quote provider replies.
  std::string text = BuildChromeTrace(replay).dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  if (cli.output.empty() || cli.output == "-") {
    fmt::print("{}", text);
    return kExitOk;
  }
  if (!WriteFileAtomic(cli.output, text, &err)) {
    fmt::print(stderr, "comfyrun trace: {}\n", err);
    return kExitFailed;
  }
  fmt::print(stderr, "trace written to {} (open it in https://ui.perfetto.dev or chrome://tracing)\n", cli.output);
  return kExitOk;
}

}  // namespace comfyrun
