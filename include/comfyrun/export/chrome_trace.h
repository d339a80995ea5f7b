#pragma once
// A run as a Chrome trace (the Trace Event Format's JSON object form), built from its journal:
// `comfyrun trace JOURNAL > trace.json`, then open it in Perfetto (ui.perfetto.dev) or
// chrome://tracing. docs/observability.md shows what a user sees.
//
// Layout: one process (pid 1) named after the run. Thread 0 ("run") holds one slice for the
// whole run. Threads 1..N are lanes: every node attempt is placed in the lowest-numbered lane
// that is free for its whole interval, so attempts that overlapped in time never share a lane
// and the number of lanes is the run's peak parallelism (plus waits). In a lane, an attempt is
//   "retry wait"  (cat "wait")     from the previous attempt's failure until it was ready again
//   "queued"      (cat "wait")     ready -> started (no free -j slot or pool slot)
//   "<node>"      (cat "attempt")  started -> completed or failed; a failed attempt is named
//                                  "<node> (failed: <ErrorType>)" and has cat "attempt,failed"
// all complete events ("ph":"X", ts/dur in microseconds since the journal's first record).
// Attempt args: node, type, attempt, outcome (completed|failed|running|interrupted|lost),
// cost (USD), provider, model, error, message, retryIn, and where (the journal's "where":
// {"executor": "slurm", "jobId": "42", "host": "gpu07"}, or {"executor": "local"}). Each
// machine attempts ran on ("where" with a "host": a cluster node) gets a process of its own
// after pid 1, named "host <executor> <host>", whose lanes ("slot N", cat "host") hold the
// attempts that ran there. A remote submission is an instant event ("ph":"i") in the
// attempt's lane. Skipped nodes and nodes that failed without an
// attempt are process-wide instant events. A counter track "cost" holds the USD spent so far.
// "otherData" holds runId, workflowId, status and the start time.
#include <string>

#include "comfyrun/core/json.h"
#include "comfyrun/engine/journal.h"

namespace comfyrun {

/// Builds the trace from a replay read with JournalReadOptions::keep_events = true (the node
/// slices come from JournalNode::events; without them only the run slice is there).
/// An attempt with no recorded end is "running" while the run has not finished, else
/// "interrupted"; one followed by a new start without an end (the process died) is "lost"
/// and ends at its node's last record before the new start.
Json BuildChromeTrace(const JournalReplay& replay);

}  // namespace comfyrun
