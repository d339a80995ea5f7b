#pragma once
// RunSession: one run from start to finish, for every command that executes a workflow
// (run, resume, abtest; a batch of rows would be one more client):
//   Start or Resume   check what runs (preflight, output directory, the journal's header),
//                     choose the run id and journal, write or decode the header (run/header.h)
//   Execute           executor, journal writer and its mirror, signal handlers, teardown of
//                     background work, journal close, metrics; returns the RunSummary
// The client prints (the summary, an A/B table) and exports what it wants afterwards.
//
// Nothing is spent before Start/Resume return a session: every check that can refuse a run
// (bad header, wrong hash, missing key, budget, unwritable --out, locked journal) comes first.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "comfyrun/core/diagnostic.h"
#include "comfyrun/core/json.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/executor.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/run/header.h"

namespace comfyrun {

/// What a new run needs beyond its RunOptions.
struct StartOptions {
  std::string journal;  ///< "" = <out>/journals/<runId>.jsonl; else a new (or empty) file
  std::string id_base;  ///< the run id's first part; "" = the workflow's id (A/B: the test id)
  Json abtest;          ///< the A/B manifest for the header ("abtest"), or null
  Json batch;           ///< a batch's rows for the header ("batch", batch/expand.h), or null
  Json header_params;   ///< the header's "params" when not the workflow's (a batch's), or null
  /// --executor: "slurm" sends every process node to Slurm (docs/slurm.md); kept in the
  /// header's options, so that resume does the same.
  std::string executor;
};

/// What `resume` was given again on its command line; everything absent is the header's.
struct ResumeOverrides {
  std::optional<std::string> out_dir;
  std::optional<int> jobs;
  std::optional<Durability> durability;
  std::optional<bool> offline, fail_fast;
  std::optional<double> max_cost;
  std::optional<CacheMode> cache;
  std::vector<std::string> comfyui;  ///< empty: the header's servers
  StatusPrinter::Mode status_mode = StatusPrinter::Mode::kAuto;
  bool force = false;             ///< go on even when the header's hash does not match
  bool cancel_remote = false;     ///< --cancel-remote: not kept in the header, given each time
  bool resubmit_expired = false;  ///< --resubmit-expired: not kept either
  std::string executor;           ///< --executor given again; "" = the header's
};

/// Checks done before anything runs: keys, model table, media module, budget (a budget < 0
/// is no limit). False with *err.
bool Preflight(const Workflow& wf, const RunOptions& options, std::string* err);

class RunSession {
 public:
  /// A new run of `wf` (loaded and validated by the caller). Null with *err when a check
  /// refuses it; nothing was run or written but --out's folders.
  static std::unique_ptr<RunSession> Start(Workflow wf, RunOptions options, const StartOptions& start,
                                           std::string* err);
  /// Continues the run of `journal`. Null with *err (and *diags for a workflow that is no
  /// longer valid) when it cannot; *err names the journal. A run that already succeeded gives
  /// a session with already_succeeded(), which must not be executed.
  static std::unique_ptr<RunSession> Resume(const std::string& journal, const ResumeOverrides& overrides,
                                            std::vector<Diagnostic>* diags, std::string* err);
  ~RunSession();

  /// Runs until every node has an outcome or a signal stops it, then stops every thread and
  /// program of the run, closes the journal and writes the metrics. Once.
  RunSummary Execute();

  bool already_succeeded() const { return already_succeeded_; }
  const std::string& run_id() const { return run_id_; }
  const std::string& journal_path() const { return journal_path_; }
  const RunOptions& options() const { return options_; }
  const Workflow& workflow() const { return wf_; }
  /// The header record: complete for a new run; for a resume, without "workflow" unless the
  /// run is an A/B test.
  const Json& header() const { return header_; }
  const JournalHeader& decoded_header() const { return decoded_; }
  /// What the journal says, kept up to date while the run appends (the writer's mirror).
  const JournalReplay& state() const { return state_; }

 private:
  RunSession() = default;
  bool OpenJournal(std::string* err);
  /// Where this run's attempts run: LocalBackends, wrapped in a SlurmRouting when Slurm pools,
  /// --executor slurm or Slurm jobs to re-attach to call for it.
  std::shared_ptr<BackendSet> MakeBackends() const;

  Workflow wf_;
  RunOptions options_;
  std::string run_id_, journal_path_;
  Json header_;
  JournalHeader decoded_;
  JournalReplay state_;
  std::unique_ptr<JournalWriter> journal_;
  std::unique_ptr<Executor> executor_;
  bool resumed_ = false;
  bool already_succeeded_ = false;
  std::string executor_mode_;  // "slurm": every process node on Slurm (--executor)
};

}  // namespace comfyrun
