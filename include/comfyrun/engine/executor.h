#pragma once
// Executor: runs a validated workflow (DESIGN.md §4-§5). Its main loop is the one owner of
// run state: it asks the Scheduler what to start and starts node attempts on the backend
// that RunOptions::backends picks for each node (engine/backend.h; locally: programs under a
// ProcessRunner, inline kinds at once, async kinds on the HttpLoop, other blocking kinds on a
// WorkerPool). It waits in BackendSet::Wait, which also wakes for the completion queue's
// eventfd, to which backends' threads and the sync thread post. Nothing about the graph is
// locked. It names no provider, node type or backend.
//
// Threads: the executor thread runs Run() and owns all run state but the completion queue.
// Backends' threads (workers, the HTTP loop) touch only that queue (mutex-guarded), the
// NodeContext of the attempt they run (whose cancel flag is atomic), and the journal
// (thread-safe) through NodeContext::record_submission. Each attempt has a number; results
// of an abandoned attempt (timed out, or the run is stopping) arrive with an old number and
// are dropped.
//
// Journal discipline (ninja's FinishCommand): an outcome is journaled before the graph moves
// on; with --durability batch the records of every outcome that arrived together share one
// fsync, and dependents start only after it.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "comfyrun/cache/run_cache.h"
#include "comfyrun/core/config.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/backend.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/engine/node_kind.h"
#include "comfyrun/engine/status_printer.h"

namespace comfyrun {

struct RunOptions {
  std::string out_dir = "generated";  ///< everything goes below it
  /// Absolute folder of this run's node folders (<out>/runs/<runId>): where it is, is the run
  /// session's to say (run/layout.h), not the executor's. Required.
  std::string run_dir;
  int jobs = 16;  ///< nodes running at once
  Durability durability = Durability::kBatch;
  bool fail_fast = false;      ///< first failure stops everything
  bool cancel_remote = false;  ///< a stop cancels remote jobs instead of detaching them
  double max_cost = -1;        ///< USD; < 0 = no limit
  StatusPrinter::Mode status_mode = StatusPrinter::Mode::kAuto;
  CacheMode cache = CacheMode::kWorkflow;  ///< --cache / --no-cache (cache/run_cache.h)
  Config config;                           ///< keys, endpoints, offline, ComfyUI servers
  /// Where attempts run (engine/backend.h): the run session's choice (backends/). Required;
  /// shut down when the executor stops its background work.
  std::shared_ptr<BackendSet> backends;
};

struct RunSummary {
  std::string run_id;
  std::string status;       ///< "succeeded", "failed", "interrupted"
  double total_cost = 0;    ///< USD over every run of this journal
  int64_t duration_ms = 0;  ///< this invocation
  std::string journal_path;
  std::string metrics_path;
  std::vector<std::pair<std::string, std::string>> failed;  ///< node id, "Error: message"
  int exit_code = 0;
  int cached_nodes = 0;  ///< completed from the output cache (set by the CLI)
};

using NodeKindLookup = std::function<NodeKind*(const std::string& type)>;

class Executor {
 public:
  /// `workflow` must be valid and outlive the executor. `journal` is open and locked; for a
  /// new run the caller has written the header.
  Executor(const Workflow& workflow, RunOptions options, std::string run_id, JournalWriter* journal,
           NodeKindLookup kinds = FindNodeKind);
  ~Executor();

  /// Resume: takes what the journal says. Completed nodes whose files still exist are not run
  /// again; unfinished submissions are re-attached; failed and skipped nodes start afresh.
  /// `found`, when given, is each workflow node's state in the replay (FindJournalNodes).
  /// The replay must outlive the run: completed nodes' outputs are read from it, not copied.
  void SeedFromReplay(const JournalReplay& replay, const std::vector<const JournalNode*>* found = nullptr);

  /// Runs until every node has succeeded, failed or been skipped, or until interrupted.
  RunSummary Run();
  /// Stops every thread and program the run still has (an interrupted run's abandoned
  /// attempts): after it, nothing appends to the journal. The destructor calls it; a command
  /// that exits without destroying the executor (100,000 nodes' state: 30 ms to free) calls
  /// it before closing the journal.
  void StopBackgroundWork();

  /// SIGINT/SIGTERM: the first asks the run to stop cleanly (exit 130); a second exits at once.
  static void InstallSignalHandlers();
  /// For tests: behave as if a signal had arrived.
  static void RequestInterrupt();
  static void ResetInterrupt();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace comfyrun
