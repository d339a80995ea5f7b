#pragma once
// `comfyrun report`: one self-contained HTML page (inline CSS, JS and SVG; nothing fetched)
// for a run or for an A/B test, to read in a browser, attach to a ticket or archive.
//
//  - Run report, from a journal (journal.h, read with ReadJournal) and the metrics derived
//    from it (metrics/run_metrics.h): a run summary; a timeline of every node attempt
//    (a Gantt chart, one lane per node, or packed lanes for large runs) showing queue waits,
//    failed attempts, retry waits, interrupted attempts, cached and skipped nodes, and the
//    critical path; the number of attempts running over time; a table of time and cost per
//    node.
//  - A/B report, from an A/B result JSON (abtest/results.h, ../shared/ABTEST.md §5): the
//    decision and warnings; per metric (success rate, duration, cost, quality, composite) a
//    chart of each variant's mean with its 95% interval and the individual runs; the
//    probability of being best; the comparisons with the baseline; the analysis settings.
//
// All text from the files is escaped (report/html.h). The pages work without JavaScript;
// the script only adds sorting, highlighting and tooltips.
#include <string>

#include "comfyrun/journal.h"
#include "comfyrun/json.h"

namespace comfyrun {

/// The run report of a replayed journal. `source` names the journal in the page footer.
/// Queue waits per attempt come from the node_started records, so read the journal with
/// JournalReadOptions::keep_events = true (without events, only the completed attempt's wait,
/// JournalNode::queue_wait_ms, is shown).
std::string RunReportHtml(const JournalReplay& replay, const std::string& source);

/// The A/B report of a result document. False with *err when `result` is not an A/B result
/// (no "testId" or no "variants" list).
bool AbTestReportHtml(const Json& result, const std::string& source, std::string* html, std::string* err);

/// `comfyrun report FILE --html OUT` (registered in cli.cc).
struct ReportOptions {
  std::string input;  ///< a journal (.jsonl) or an A/B result (.json)
  std::string html;   ///< where to write the page; "-" = stdout
};
/// Reads the input (journal or A/B result, told apart by content), writes the page
/// atomically. 0 on success; 2 when the input is unreadable, of an unknown kind, or the page
/// cannot be written.
int ReportCommand(const ReportOptions& options);

}  // namespace comfyrun
