#pragma once
// Helpers shared by the commands that execute workflows: run and resume (cmd_run.cc, where
// they are defined) and abtest (cmd_abtest.cc). Internal to the CLI.
#include <string>

#include "comfyrun/commands.h"
#include "comfyrun/engine/executor.h"
#include "comfyrun/journal.h"
#include "comfyrun/json.h"
#include "comfyrun/workflow.h"

namespace comfyrun {

// --- cmd_run.cc ----------------------------------------------------------------------------

/// Creates runs/, journals/ and metrics/ below out_dir and checks that they can be written.
bool PrepareOutputDirectory(const std::string& out_dir, std::string* err);
RunOptions ToRunOptions(const ExecutionOptions& e);
/// Writes the metrics file from the journal's state (a replay, or the mirror a writer kept up
/// to date); returns the metrics path ("" on failure, with a warning). `workflow`: the header's
/// workflow already built (nodes and edges are then not parsed again), or null; `found`, with
/// it: each node's state in the replay already looked up (FindJournalNodes), if any.
std::string WriteMetrics(const JournalReplay& replay, const Workflow* workflow, const std::string& out_dir,
                         const std::string& run_id, std::vector<const JournalNode*> found = {});
/// --prom / --pushgateway: writes and pushes the metrics file's content for Prometheus
/// (cmd_export.cc). Failures are warnings on stderr; the run's exit code does not change.
void ExportRunMetrics(const std::string& metrics_path, const ExecutionOptions& exec);
/// Prints the run summary (and --json); returns the run's exit code.
int Finish(const RunSummary& summary, const ExecutionOptions& exec);
/// Checks done before anything runs: model table, keys, budget.
bool Preflight(const Workflow& wf, const RunOptions& options, std::string* err);
/// The journal's header record for a new run of `wf` (journal.h has the format). The
/// workflow document moves into it (wf->document is left null): the journal keeps it, and
/// the run needs only the built nodes.
Json RunHeader(Workflow* wf, const std::string& run_id, const RunOptions& options);

// --- cmd_abtest.cc -------------------------------------------------------------------------

/// For `resume` of a journal whose header has "abtest": the workflow to run again, which is
/// the header's without the unfinished nodes of runs that already failed (a finished run is
/// never redone, even a failed one, or a failing variant would get extra chances).
Json AbTestResumeDocument(const Json& header, const JournalReplay& replay);
/// After an A/B test's executor returned (first run or resume): writes the A/B result, prints
/// the table, returns the exit code (0 some variant succeeded, 1 none, 130 interrupted).
int FinishAbTest(const Json& header, const RunSummary& summary, const ExecutionOptions& exec);

}  // namespace comfyrun
