#pragma once
// Run metrics (DESIGN.md §6), computed from the journal alone, so that a run, a resumed run
// and `status` of a live run all report the same numbers.
//
// Shape (schemaVersion first, so readers can check it before anything else):
//   {"schemaVersion":1, "runId", "workflowId", "status", "startedAt", "finishedAt",
//    "durationMs", "totalCost", "criticalPath":[ids], "criticalPathMs", "peakParallelism",
//    "counts":{"completed":n,"failed":n,"skipped":n,"running":n,"pending":n},
//    "cachedNodes": n (completed nodes whose outputs came from the cache, at cost 0),
//    "errors":{"RateLimited":n,...}, "runs": n,
//    "nodes":[{"id","type","provider","model","status","attempts","start","end","durationMs",
//              "queueWaitMs","cost","cached","outputs",
//              "where":[{"attempt","executor","jobId","host"}] (per attempt that says; optional),
//              "error":{"type","message"}}]}
#include <string>

#include "comfyrun/core/json.h"
#include "comfyrun/engine/journal.h"

namespace comfyrun {

struct Workflow;

/// Builds the metrics of a run from its journal. Nodes are listed in workflow order (from
/// the header's workflow); nodes the journal never mentions are "pending".
Json BuildRunMetrics(const JournalReplay& replay);

/// The same metrics as the text of the metrics file: the summary indented, then one line per
/// node. Built node by node, so a 100k-node run never holds a document of every node.
std::string RunMetricsText(const JournalReplay& replay);
/// The same, with the nodes and edges taken from `workflow`, the header's workflow already
/// built (run, resume): nothing is parsed again. It must be the workflow the header holds.
/// `found`: the nodes' states already looked up (FindJournalNodes), if any.
std::string RunMetricsText(const JournalReplay& replay, const Workflow& workflow,
                           std::vector<const JournalNode*> found = {});

/// "completed", "failed", "skipped", "running", "pending"
const char* JournalStatusName(JournalNode::Status status);

}  // namespace comfyrun
