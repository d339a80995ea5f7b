#pragma once
// Pieces of the run report (report.h) kept apart from run_report.cc, which draws the summary,
// the timeline and the node table: what each node's prompt was once its templates were
// resolved (node_prompts.cc), and the gallery of the run's pictures (gallery.cc).
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "comfyrun/core/json.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/report/report.h"

namespace comfyrun {

/// What a node's prompt (its "prompt", "characterPrompt" or "command" input) said.
struct NodePrompt {
  std::string text;      ///< as the node used it, or as written when it could not be resolved
  std::string written;   ///< as written in the workflow, templates and all
  bool resolved = true;  ///< false: a template names a node that did not complete
};

/// Node id -> its prompt, from the header's workflow, with templates resolved the way the
/// executor resolved them: `params` from the header (defaults merged with --param), `run`
/// (id, dir) from the header's run id and --out, and other nodes' outputs from their
/// completed records. Built once per report (a lookup per node would be quadratic).
std::unordered_map<std::string, NodePrompt> NodePrompts(const JournalReplay& replay);

/// The gallery panel ("" when the run has no picture to show and no failed picture-making
/// node): per node, in workflow order, the thumbnails of the images and videos its outputs
/// name; a failed node's error, and a skipped node's reason, where its picture would be.
/// `metrics` is BuildRunMetrics(replay).
/// For a batch, the rows table (batch_rows.cc) comes first.
std::string GallerySection(const JournalReplay& replay, const Json& metrics, const RunReportOptions& options);

namespace report_parts {

/// One attempt as drawn: the span plus the queue wait before it.
struct Attempt {
  AttemptSpan span;
  int64_t wait_ms = 0;  ///< ready -> start
  int64_t end = 0;      ///< span.end, or where an open attempt stopped
};

/// One node as the report sees it: its metrics entry and its attempts.
struct NodeView {
  std::string id, type, status;
  const Json* metrics = nullptr;  ///< its entry in BuildRunMetrics' "nodes"
  const JournalNode* journal = nullptr;
  std::vector<Attempt> attempts;
  NodePrompt prompt;  ///< from the header's workflow, resolved, for the table
  std::string skipped_because;
  int64_t first = 0, last = 0;  ///< first ready .. last end (0 when it never ran)
  int row = 0;                  ///< data-row: shared by bars, label and table row
  bool critical = false;
};

/// A status as a coloured badge ("succeeded", "failed"...).
std::string Badge(const std::string& status);

/// Where an attempt ran, for people: "slurm job 42 on gpu07", "local"; "" when the journal
/// does not say (NodeResult::where, the records' "where").
std::string WhereText(const Json& where);

/// The table of time and cost per node (node_table.cc), `t0` the timeline's time zero.
std::string NodeTable(const std::vector<NodeView>& views, int64_t t0);

}  // namespace report_parts

/// A batch's rows: number, key, status, cost, time, error, a thumbnail of each image and a
/// link to each video the row made; "" for a journal that is not a batch's.
std::string BatchRowsSection(const JournalReplay& replay, const RunReportOptions& options);

}  // namespace comfyrun
