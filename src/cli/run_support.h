#pragma once
// Helpers shared by the commands that execute workflows: run and resume (cmd_run.cc, where
// they are defined) and abtest (cmd_abtest.cc). Internal to the CLI; the run itself is
// run/session.h's.
#include <memory>
#include <string>

#include "comfyrun/cli/commands.h"
#include "comfyrun/core/json.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/executor.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/run/session.h"

namespace comfyrun {

// --- cmd_run.cc ----------------------------------------------------------------------------

RunOptions ToRunOptions(const ExecutionOptions& e);
/// --prom / --pushgateway: writes and pushes the metrics file's content for Prometheus
/// (cmd_export.cc). Failures are warnings on stderr; the run's exit code does not change.
void ExportRunMetrics(const std::string& metrics_path, const ExecutionOptions& exec);
/// Prints the run summary (and --json); returns the run's exit code.
int Finish(const RunSummary& summary, const ExecutionOptions& exec);
/// Ends the process without destroying the command's workflow and journal state, as ninja's
/// main does ("use exit() ... to avoid potentially expensive cleanup"): freeing a 100,000-node
/// run's structures took 0.3 s. Everything that must reach the disk is written and closed by
/// then; exit() still flushes stdio and runs static destructors. The session stays reachable
/// from a static, so a leak checker (scripts/sanitize asan) sees it as live, not lost.
[[noreturn]] void ExitSkippingTeardown(int code, std::unique_ptr<RunSession> session);

// --- cmd_abtest.cc -------------------------------------------------------------------------

/// After an A/B test's run returned (first run or resume): writes the A/B result, prints the
/// table, returns the exit code (0 some variant succeeded, 1 none, 130 interrupted).
int FinishAbTest(const Json& header, const RunSummary& summary, const ExecutionOptions& exec);

// --- cmd_batch.cc --------------------------------------------------------------------------

/// After a batch's run returned (batch or resume): writes <out>/batches/<runId>.json and
/// .csv, prints the summary and the rows line; returns 0 every row succeeded, 1 one failed,
/// 130 interrupted.
int FinishBatch(const Json& header, const Workflow& batch_workflow, const JournalReplay& state,
                const RunSummary& summary, const ExecutionOptions& exec);

}  // namespace comfyrun
