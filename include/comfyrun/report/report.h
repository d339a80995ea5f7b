#pragma once
// `comfyrun report`: one self-contained HTML page (inline CSS, JS and SVG; nothing fetched)
// for a run or for an A/B test, to read in a browser, attach to a ticket or archive.
//
//  - Run report, from a journal (journal.h, read with ReadJournal) and the metrics derived
//    from it (metrics/run_metrics.h): a run summary; a timeline of every node attempt
//    (a Gantt chart, one lane per node, or packed lanes for large runs) showing queue waits,
//    failed attempts, retry waits, interrupted attempts, cached and skipped nodes, and the
//    critical path; the number of attempts running over time; a table of time and cost per
//    node, with each node's prompt as it was used (templates resolved); a gallery of the
//    run's pictures: a thumbnail of each image and a poster frame of each video (linked to
//    the file), and a failed node's error where its output would be.
//  - A/B report, from an A/B result JSON (abtest/results.h, docs/abtest.md): the
//    decision and warnings; per metric (success rate, duration, cost, quality, composite) a
//    chart of each variant's mean with its 95% interval and the individual runs; the
//    probability of being best; the comparisons with the baseline; the analysis settings.
//
// All text from the files is escaped (report/html.h). The pages work without JavaScript;
// the script only adds sorting, highlighting and tooltips.
#include <functional>
#include <string>

#include "comfyrun/core/json.h"
#include "comfyrun/engine/journal.h"

namespace comfyrun {

/// A picture for the gallery: a JPEG and what it shows.
struct ReportThumbnail {
  std::string jpeg;           ///< bytes, embedded in the page as a data URI
  int width = 0, height = 0;  ///< of the JPEG
  bool video = false;
  double duration_seconds = -1;  ///< videos; -1 when unknown
};
/// Makes the thumbnail of a media file, at most `max_width` pixels wide; false with *err.
using ReportThumbnailer =
    std::function<bool(const std::string& path, int max_width, ReportThumbnail* out, std::string* err)>;

struct RunReportOptions {
  /// The folder the page is written to: links to the run's videos are relative to it, so the
  /// page and the run folder can move together. "" = the working directory.
  std::string page_dir;
  /// Null when the media module is missing: the gallery then lists the files without
  /// pictures, with `no_thumbnails` as the reason.
  ReportThumbnailer thumbnail;
  std::string no_thumbnails;
};

/// The run report of a replayed journal. `source` names the journal in the page footer.
/// Queue waits per attempt come from the node_started records, so read the journal with
/// JournalReadOptions::keep_events = true (without events, only the completed attempt's wait,
/// JournalNode::queue_wait_ms, is shown).
std::string RunReportHtml(const JournalReplay& replay, const std::string& source, const RunReportOptions& options = {});

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
