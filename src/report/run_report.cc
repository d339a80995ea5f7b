// The run report (report.h): summary cards, a Gantt timeline of node attempts, a chart of
// attempts running over time, and a table of time and cost per node.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "comfyrun/batch/results.h"
#include "comfyrun/core/util.h"
#include "comfyrun/metrics/run_metrics.h"
#include "comfyrun/report/html.h"
#include "comfyrun/report/report.h"
#include "run_report_parts.h"

// Implementation details: the SVG is drawn here, not by the script, so the page reads the
// same without JavaScript and tests can check it as text. Times are unix milliseconds until
// they are mapped to x; every label and tooltip passes through EscapeHtml.

namespace comfyrun {
namespace {

using report_parts::Attempt;
using report_parts::Badge;
using report_parts::NodeTable;
using report_parts::NodeView;

/// Above this many nodes, the timeline packs nodes into shared lanes instead of one row each.
constexpr size_t kMaxNodeRows = 80;
constexpr double kWidth = 1100;
constexpr double kRowHeight = 24;
constexpr double kBarHeight = 14;
constexpr double kAxisHeight = 24;

std::vector<NodeView> BuildViews(const JournalReplay& replay, const Json& metrics) {
  std::set<std::string> critical;
  for (const auto& id : metrics.value("criticalPath", Json::array()))
    if (id.is_string()) critical.insert(id.get<std::string>());
  std::unordered_map<std::string, NodePrompt> prompts = NodePrompts(replay);
  std::vector<NodeView> views;
  for (const auto& m : metrics["nodes"]) {
    NodeView v;
    v.id = StringAt(m, "id");
    v.type = StringAt(m, "type");
    v.status = StringAt(m, "status");
    v.metrics = &m;
    if (auto p = prompts.find(v.id); p != prompts.end()) v.prompt = p->second;
    v.critical = critical.count(v.id) > 0;
    auto it = replay.nodes.find(v.id);
    if (it != replay.nodes.end()) {
      const JournalNode& n = it->second;
      v.journal = &n;
      // The k-th node_started record opened the k-th span; it holds that attempt's wait.
      std::vector<int64_t> waits;
      for (const auto& e : n.events) {
        std::string type = StringAt(e, "type");
        if (type == "node_started") waits.push_back(static_cast<int64_t>(NumberAt(e, "queueWaitMs").value_or(0)));
        if (type == "node_skipped") v.skipped_because = StringAt(e, "because");
      }
      for (size_t k = 0; k < n.spans.size(); ++k) {
        Attempt a;
        a.span = n.spans[k];
        a.wait_ms = k < waits.size() ? std::max<int64_t>(0, waits[k]) : 0;
        // Without events, the completed attempt's wait is all the journal fold keeps.
        if (waits.empty() && a.span.outcome == AttemptSpan::Outcome::kCompleted) a.wait_ms = n.queue_wait_ms;
        a.end = a.span.end;
        if (a.span.outcome == AttemptSpan::Outcome::kOpen)
          a.end = k + 1 < n.spans.size() ? n.spans[k + 1].start : replay.last_event_at;
        a.end = std::max(a.end, a.span.start);
        v.attempts.push_back(a);
      }
      // Inline kinds (value) write no node_started: their completed record alone gives the
      // attempt (startedAt, durationMs, queueWaitMs).
      if (n.spans.empty() && n.status == JournalNode::Status::kCompleted && n.finished_at > 0) {
        Attempt a;
        a.span.attempt = std::max(1, n.attempts);
        a.span.start = n.started_at > 0 ? std::min(n.started_at, n.finished_at) : n.finished_at - n.duration_ms;
        a.span.end = n.finished_at;
        a.span.outcome = AttemptSpan::Outcome::kCompleted;
        a.span.cost = n.cost;
        a.wait_ms = std::max<int64_t>(0, n.queue_wait_ms);
        a.end = n.finished_at;
        v.attempts.push_back(a);
      }
      for (const auto& a : v.attempts) {
        int64_t ready = a.span.start - a.wait_ms;
        if (v.first == 0 || ready < v.first) v.first = ready;
        v.last = std::max(v.last, a.end);
      }
      if (v.attempts.empty() && n.finished_at > 0) v.first = v.last = n.finished_at;
    }
    views.push_back(std::move(v));
  }
  // Rows in order of first activity; nodes that never ran last, in workflow order.
  std::stable_sort(views.begin(), views.end(), [](const NodeView& a, const NodeView& b) {
    if ((a.first == 0) != (b.first == 0)) return a.first != 0;
    return a.first < b.first;
  });
  for (size_t i = 0; i < views.size(); ++i) views[i].row = static_cast<int>(i);
  return views;
}

const char* OutcomeClass(AttemptSpan::Outcome o) {
  switch (o) {
    case AttemptSpan::Outcome::kCompleted:
      return "completed";
    case AttemptSpan::Outcome::kFailed:
      return "failed";
    case AttemptSpan::Outcome::kOpen:
      return "open";
  }
  return "open";
}

const char* OutcomeText(AttemptSpan::Outcome o) {
  switch (o) {
    case AttemptSpan::Outcome::kCompleted:
      return "completed";
    case AttemptSpan::Outcome::kFailed:
      return "failed";
    case AttemptSpan::Outcome::kOpen:
      return "interrupted";
  }
  return "interrupted";
}

/// Maps times to x over the plot area.
struct TimeScale {
  int64_t t0 = 0, t1 = 1;
  double x0 = 0, x1 = 1;
  double X(int64_t t) const {
    double span = static_cast<double>(std::max<int64_t>(1, t1 - t0));
    return x0 + (static_cast<double>(t - t0) / span) * (x1 - x0);
  }
};

/// "2026-11-22T07:51:44.744Z" -> "2026-11-22 07:51:44 UTC".
std::string ShortTime(const std::string& iso) {
  if (iso.size() < 19 || iso[10] != 'T') return iso;
  return iso.substr(0, 10) + " " + iso.substr(11, 8) + " UTC";
}

std::string TickLabel(double ms) { return ms == 0 ? "0" : FormatMs(ms); }

/// Vertical grid lines and time labels over [t0, t1] (at the top of the chart).
std::string TimeAxis(const TimeScale& scale, double top, double bottom, bool labels) {
  std::string out = "<g class=\"axis\">";
  double span = static_cast<double>(scale.t1 - scale.t0);
  double step = NiceStep(span, 8);
  for (double t = 0; t <= span + 1e-9; t += step) {
    double x = scale.X(scale.t0 + static_cast<int64_t>(t));
    out += fmt::format("<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/>", SvgNumber(x), SvgNumber(top),
                       SvgNumber(bottom));
    if (labels)
      out += fmt::format("<text class=\"muted\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>", SvgNumber(x),
                         SvgNumber(top - 8), EscapeHtml(TickLabel(t)));
  }
  return out + "</g>";
}

/// Greedy interval packing: each node goes to the first lane that is free at its start. At
/// most kMaxLanes lanes: past that, a node shares the lane that frees first (its bar may
/// overlap another), so thousands of instant nodes cannot make the chart endless.
constexpr size_t kMaxLanes = 100;
std::vector<int> PackLanes(const std::vector<NodeView>& views, int* lane_count) {
  std::vector<int> lane(views.size(), 0);
  std::vector<int64_t> free_at;
  for (size_t i = 0; i < views.size(); ++i) {
    if (views[i].first == 0) {
      lane[i] = -1;
      continue;
    }
    // From the first attempt's start: waits are not drawn in shared lanes, or every node
    // ready at the same time would need a lane of its own.
    int64_t start = views[i].attempts.empty() ? views[i].first : views[i].attempts.front().span.start;
    size_t l = 0;
    while (l < free_at.size() && free_at[l] > start) ++l;
    if (l == free_at.size()) {
      if (free_at.size() < kMaxLanes)
        free_at.push_back(0);
      else
        l = static_cast<size_t>(std::min_element(free_at.begin(), free_at.end()) - free_at.begin());
    }
    free_at[l] = std::max(free_at[l], views[i].last);
    lane[i] = static_cast<int>(l);
  }
  *lane_count = static_cast<int>(free_at.size());
  return lane;
}

std::string AttemptTip(const NodeView& v, const Attempt& a) {
  std::string tip = fmt::format("{} ({})\nattempt {}: {}, {}", v.id, v.type, a.span.attempt,
                                OutcomeText(a.span.outcome), FormatMs(static_cast<double>(a.end - a.span.start)));
  if (!a.span.error.empty()) tip += " (" + a.span.error + ")";
  if (a.wait_ms > 0) tip += "\nwaited " + FormatMs(static_cast<double>(a.wait_ms)) + " for a slot";
  if (a.span.cost > 0) tip += "\ncost " + FormatUsd(a.span.cost);
  if (std::string where = report_parts::WhereText(a.span.where); !where.empty()) tip += "\nwhere: " + where;
  if (v.critical) tip += "\non the critical path";
  return tip;
}

/// The Gantt chart: one row per node (or packed lanes), attempts as bars.
std::string Timeline(const std::vector<NodeView>& views, const TimeScale& base, std::string* legend_extra) {
  bool packed = views.size() > kMaxNodeRows;
  int lane_count = 0;
  std::vector<int> lane = packed ? PackLanes(views, &lane_count) : std::vector<int>();
  size_t rows = packed ? static_cast<size_t>(std::max(lane_count, 1)) : views.size();
  double label_width = packed ? 70 : 200;
  TimeScale scale = base;
  scale.x0 = label_width + 12;
  scale.x1 = kWidth - 50;  // room for the last bar's time label
  double height = kAxisHeight + static_cast<double>(rows) * kRowHeight + 6;
  std::string out = fmt::format(
      "<svg class=\"gantt\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"timeline of node attempts\">"
      "<defs><pattern id=\"hatch\" width=\"5\" height=\"5\" patternUnits=\"userSpaceOnUse\" "
      "patternTransform=\"rotate(45)\"><rect width=\"5\" height=\"5\" fill=\"transparent\"/>"
      "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#aab6cc\" stroke-width=\"2\"/></pattern></defs>",
      SvgNumber(kWidth), SvgNumber(height));
  for (size_t r = 0; r < rows; ++r)
    if (r % 2 == 1)
      out += fmt::format("<rect class=\"stripe\" x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                         SvgNumber(kAxisHeight + static_cast<double>(r) * kRowHeight), SvgNumber(kWidth),
                         SvgNumber(kRowHeight));
  out += TimeAxis(scale, kAxisHeight, height, true);

  auto row_y = [&](size_t r) { return kAxisHeight + static_cast<double>(r) * kRowHeight; };
  if (packed)
    for (int l = 0; l < lane_count; ++l)
      out += fmt::format("<text class=\"muted\" x=\"4\" y=\"{}\">lane {}</text>",
                         SvgNumber(row_y(static_cast<size_t>(l)) + kRowHeight / 2 + 4), l + 1);
  bool any_wait = false, any_backoff = false, any_cached = false, any_skipped = false;
  for (size_t i = 0; i < views.size(); ++i) {
    const NodeView& v = views[i];
    if (packed && lane[i] < 0) continue;
    size_t r = packed ? static_cast<size_t>(lane[i]) : i;
    double y = row_y(r);
    double bar_y = y + (kRowHeight - kBarHeight) / 2;
    double mid = y + kRowHeight / 2;
    std::string g = fmt::format("<g data-row=\"{}\">", v.row);
    if (!packed) {
      std::string label = v.id.size() > 28 ? Abbreviate(v.id, 26) : v.id;
      g += fmt::format("<text class=\"label{}\" x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}{}</text>",
                       v.critical ? " crit" : "", SvgNumber(label_width + 4), SvgNumber(mid + 4),
                       EscapeHtml(v.id + " (" + v.type + ")" + (v.critical ? ", on the critical path" : "")),
                       v.critical ? "\u25C6 " : "", EscapeHtml(label));
    }
    int64_t previous_failure = 0;
    std::string previous_error;
    for (const Attempt& a : v.attempts) {
      int64_t ready = a.span.start - a.wait_ms;
      if (previous_failure > 0 && ready > previous_failure) {
        any_backoff = true;
        g +=
            fmt::format("<line class=\"backoff\" x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\"><title>{3}</title></line>",
                        SvgNumber(scale.X(previous_failure)), SvgNumber(scale.X(ready)), SvgNumber(mid),
                        EscapeHtml(fmt::format("{}: retry wait {} after {}", v.id,
                                               FormatMs(static_cast<double>(ready - previous_failure)),
                                               previous_error.empty() ? "a failure" : previous_error)));
      }
      if (a.wait_ms > 0 && !packed) {
        any_wait = true;
        g += fmt::format(
            "<rect class=\"bar wait\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}</title></rect>",
            SvgNumber(scale.X(ready)), SvgNumber(bar_y + 2),
            SvgNumber(std::max(1.0, scale.X(a.span.start) - scale.X(ready))), SvgNumber(kBarHeight - 4),
            EscapeHtml(fmt::format("{}: waited {} for a slot before attempt {}", v.id,
                                   FormatMs(static_cast<double>(a.wait_ms)), a.span.attempt)));
      }
      double x = scale.X(a.span.start);
      g += fmt::format("<rect class=\"bar {}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{}</title></rect>",
                       OutcomeClass(a.span.outcome), SvgNumber(x), SvgNumber(bar_y),
                       SvgNumber(std::max(2.0, scale.X(a.end) - x)), SvgNumber(kBarHeight),
                       EscapeHtml(AttemptTip(v, a)));
      previous_failure = a.span.outcome == AttemptSpan::Outcome::kFailed ? a.end : 0;
      previous_error = a.span.error;
    }
    if (v.journal && v.journal->cached && !v.attempts.empty() &&
        v.attempts.back().span.outcome == AttemptSpan::Outcome::kCompleted) {
      any_cached = true;
      g += fmt::format("<circle class=\"mark cached\" cx=\"{}\" cy=\"{}\" r=\"5\"><title>{}</title></circle>",
                       SvgNumber(scale.X(v.attempts.back().end)), SvgNumber(mid),
                       EscapeHtml(v.id + ": outputs reused from the cache (an earlier run with the same inputs)"));
    }
    // The last attempt's time beside its bar (inside it when there is no room after it).
    if (!packed && !v.attempts.empty()) {
      const Attempt& a = v.attempts.back();
      double xs = scale.X(a.span.start), xe = std::max(xs + 2, scale.X(a.end));
      std::string d = FormatMs(static_cast<double>(a.end - a.span.start));
      double text_w = 6.2 * static_cast<double>(d.size());
      if (xe + 5 + text_w < kWidth - 2)
        g += fmt::format("<text class=\"dur\" x=\"{}\" y=\"{}\">{}</text>", SvgNumber(xe + 5), SvgNumber(mid + 3.5),
                         EscapeHtml(d));
      else if (xe - xs > text_w + 10)
        g += fmt::format("<text class=\"dur in\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", SvgNumber(xe - 5),
                         SvgNumber(mid + 3.5), EscapeHtml(d));
      else if (xs - text_w - 5 > scale.x0)
        g += fmt::format("<text class=\"dur\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", SvgNumber(xs - 5),
                         SvgNumber(mid + 3.5), EscapeHtml(d));
    }
    if (v.attempts.empty() && v.journal && v.journal->finished_at > 0) {
      double x = scale.X(v.journal->finished_at);
      if (v.status == "skipped") {
        any_skipped = true;
        g += fmt::format(
            "<path class=\"mark skipped\" d=\"M{0} {1}l5 5l-5 5l-5 -5z\"><title>{2}</title></path>", SvgNumber(x),
            SvgNumber(mid - 5),
            EscapeHtml(v.id + ": skipped" + (v.skipped_because.empty() ? "" : " (" + v.skipped_because + ")")));
      }
    } else if (v.attempts.empty() && !packed) {
      g += fmt::format("<text class=\"muted\" x=\"{}\" y=\"{}\">{}</text>", SvgNumber(scale.x0 + 4), SvgNumber(mid + 4),
                       EscapeHtml(v.status == "skipped" ? "skipped" : "not started"));
    }
    out += g + "</g>";
  }
  out += "</svg>";
  if (any_wait) *legend_extra += "<span><i class=\"l-wait\"></i>waiting for a slot</span>";
  if (any_backoff) *legend_extra += "<span><i class=\"l-backoff\"></i>retry wait</span>";
  if (any_cached) *legend_extra += "<span><i class=\"l-cached\"></i>cached</span>";
  if (any_skipped) *legend_extra += "<span>&#9670; skipped</span>";
  return out;
}

/// Attempts running over time: a step chart on the timeline's time scale.
std::string Concurrency(const std::vector<NodeView>& views, const TimeScale& base) {
  std::vector<std::pair<int64_t, int>> edges;
  for (const auto& v : views)
    for (const auto& a : v.attempts) {
      edges.push_back({a.span.start, +1});
      edges.push_back({a.end, -1});
    }
  if (edges.empty()) return "";
  std::sort(edges.begin(), edges.end());
  int current = 0, peak = 0;
  std::vector<std::pair<int64_t, int>> steps;  // level from this time on
  for (const auto& [t, d] : edges) {
    current += d;
    peak = std::max(peak, current);
    if (!steps.empty() && steps.back().first == t)
      steps.back().second = current;
    else
      steps.push_back({t, current});
  }
  TimeScale scale = base;
  scale.x0 = 212;
  scale.x1 = kWidth - 50;  // room for the last bar's time label
  const double top = 10, plot = 60, height = top + plot + 8;
  auto Y = [&](int level) { return top + plot - plot * level / std::max(peak, 1); };
  std::string path = fmt::format("M{} {}", SvgNumber(scale.X(scale.t0)), SvgNumber(Y(0)));
  int level = 0;
  for (const auto& [t, l] : steps) {
    path += fmt::format("H{}V{}", SvgNumber(scale.X(t)), SvgNumber(Y(l)));
    level = l;
  }
  path += fmt::format("H{}V{}Z", SvgNumber(scale.X(scale.t1)), SvgNumber(Y(0)));
  (void)level;
  std::string out = fmt::format(
      "<svg class=\"concurrency\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"attempts running over time\">",
      SvgNumber(kWidth), SvgNumber(height));
  out += TimeAxis(scale, top, top + plot, false);
  out +=
      fmt::format("<path class=\"area\" d=\"{}\"><title>attempts running at once (peak {})</title></path>", path, peak);
  out += fmt::format("<text x=\"204\" y=\"{}\" text-anchor=\"end\">{}</text>", SvgNumber(Y(peak) + 4), peak);
  out += fmt::format("<text x=\"204\" y=\"{}\" text-anchor=\"end\">0</text>", SvgNumber(Y(0) + 4));
  out += fmt::format("<text class=\"muted\" x=\"4\" y=\"{}\">running attempts</text>", SvgNumber(top + plot / 2 + 4));
  return out + "</svg>";
}

std::string Card(const std::string& key, const std::string& value_html, const std::string& detail_html) {
  return fmt::format(
      "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"d\">{}</div></div>",
      EscapeHtml(key), value_html, detail_html);
}

}  // namespace

std::string RunReportHtml(const JournalReplay& replay, const std::string& source, const RunReportOptions& options) {
  Json metrics;
  if (!BatchRunMetrics(replay, &metrics)) metrics = BuildRunMetrics(replay);  // a batch's nodes (batch/results.h)
  std::vector<NodeView> views = BuildViews(replay, metrics);
  const Json& header = replay.header;
  std::string workflow_id = StringAt(header, "workflowId");
  std::string run_id = StringAt(header, "runId");
  std::string description;
  if (header.contains("workflow")) description = StringAt(header["workflow"], "description");
  std::string status = StringAt(metrics, "status");

  TimeScale scale;
  scale.t0 = replay.first_started_at;
  scale.t1 = replay.last_event_at;
  for (const auto& v : views) {
    if (v.first > 0 && (scale.t0 == 0 || v.first < scale.t0)) scale.t0 = v.first;
    scale.t1 = std::max(scale.t1, v.last);
  }
  if (scale.t1 <= scale.t0) scale.t1 = scale.t0 + 1;

  std::string body;
  body += fmt::format(
      "<header class=\"top\"><div class=\"brand\">comfyrun run report</div><h1>{}</h1>{}"
      "<p class=\"sub\">{}{}</p></header>\n",
      EscapeHtml(workflow_id.empty() ? "run" : workflow_id), Badge(status),
      description.empty() ? "" : EscapeHtml(description) + "<br>",
      run_id.empty() ? "" : "run <span class=\"code\">" + EscapeHtml(run_id) + "</span>");

  // Summary cards.
  const Json& counts = metrics["counts"];
  int completed = counts.value("completed", 0), failed = counts.value("failed", 0),
      skipped = counts.value("skipped", 0), pending = counts.value("pending", 0) + counts.value("running", 0);
  int spans = 0, failed_attempts = 0;
  double failed_cost = 0;
  for (const auto& v : views)
    for (const auto& a : v.attempts) {
      ++spans;
      if (a.span.outcome == AttemptSpan::Outcome::kFailed) {
        ++failed_attempts;
        failed_cost += a.span.cost;
      }
    }
  std::string node_detail = fmt::format("{} completed", completed);
  if (failed) node_detail += fmt::format(" &middot; {} failed", failed);
  if (skipped) node_detail += fmt::format(" &middot; {} skipped", skipped);
  if (pending) node_detail += fmt::format(" &middot; {} not finished", pending);
  int runs = metrics.value("runs", 0);
  std::string started = StringAt(metrics, "startedAt");
  body += "<section class=\"cards\">";
  body += Card("Duration", EscapeHtml(FormatMs(NumberAt(metrics, "durationMs").value_or(0))),
               started.empty() ? "" : "started " + EscapeHtml(ShortTime(started)));
  body += Card("Total cost", EscapeHtml(FormatUsd(NumberAt(metrics, "totalCost").value_or(0))),
               failed_cost > 0 ? EscapeHtml(FormatUsd(failed_cost)) + " on failed attempts" : "all attempts counted");
  body += Card("Nodes", std::to_string(views.size()), node_detail);
  body += Card("Attempts", std::to_string(spans),
               failed_attempts ? fmt::format("{} failed, retried or given up", failed_attempts) : "no failed attempt");
  body += Card("Parallelism", std::to_string(metrics.value("peakParallelism", 0)), "peak attempts at once");
  body += Card("Critical path", EscapeHtml(FormatMs(NumberAt(metrics, "criticalPathMs").value_or(0))),
               fmt::format("{} nodes", metrics["criticalPath"].size()));
  body += Card("Runs", std::to_string(runs),
               runs > 1 ? fmt::format("resumed {} time{}", runs - 1, runs == 2 ? "" : "s") : "no resume");
  body += "</section>\n";

  // Warnings from reading the journal.
  std::vector<std::string> warnings = replay.warnings;
  if (replay.torn_tail)
    warnings.push_back("the last line of the journal was incomplete (a crash mid-write) and was ignored");
  if (!replay.finished) warnings.push_back("the journal has no run_finished record: the run is live, or was killed");
  if (!warnings.empty()) {
    body += "<section class=\"panel\"><h2>Notes</h2><ul class=\"warnings\">";
    for (const auto& w : warnings) body += "<li>" + EscapeHtml(w) + "</li>";
    body += "</ul></section>\n";
  }

  // What the run made, first: the pictures are what a user of a generation pipeline looks for.
  body += GallerySection(replay, metrics, options);

  // Timeline.
  body += "<section class=\"panel\"><h2>Timeline</h2>";
  std::string legend_extra;
  bool any_attempt = spans > 0;
  for (const auto& v : views) any_attempt = any_attempt || v.first > 0;
  if (!any_attempt) {
    body += "<p class=\"note\">No node has started yet.</p>";
  } else {
    body += fmt::format(
        "<p class=\"note\">Each bar is one attempt of a node, from {} (time 0) to {}. "
        "Hover a bar for details.{}</p>",
        EscapeHtml(IsoTime(scale.t0)), EscapeHtml(IsoTime(scale.t1)),
        views.size() > kMaxNodeRows
            ? " Nodes share lanes: a lane holds nodes whose attempts did not overlap; queue waits are "
              "in the table."
            : "");
    std::string gantt = Timeline(views, scale, &legend_extra);
    body +=
        "<div class=\"legend\"><span><i class=\"l-completed\"></i>completed</span>"
        "<span><i class=\"l-failed\"></i>failed attempt</span><span><i class=\"l-open\"></i>interrupted</span>" +
        legend_extra + "<span><i class=\"l-crit\"></i>critical path</span></div>";
    body += gantt;
    body += Concurrency(views, scale);
  }
  if (metrics["criticalPath"].size() > 0) {
    std::vector<std::string> path;
    for (const auto& id : metrics["criticalPath"]) path.push_back(EscapeHtml(id.get<std::string>()));
    body +=
        fmt::format("<p class=\"note\">Critical path ({}): <span class=\"code\">{}</span></p>",
                    EscapeHtml(FormatMs(NumberAt(metrics, "criticalPathMs").value_or(0))), fmt::join(path, " &rarr; "));
  }
  body += "</section>\n";

  // Errors by type.
  if (metrics["errors"].is_object() && !metrics["errors"].empty()) {
    body += "<section class=\"panel\"><h2>Failed attempts by error type</h2><p class=\"note\">";
    std::vector<std::string> parts;
    for (auto it = metrics["errors"].begin(); it != metrics["errors"].end(); ++it)
      parts.push_back(
          fmt::format("<span class=\"code\">{}</span> &times; {}", EscapeHtml(it.key()), it.value().dump()));
    body += fmt::format("{}", fmt::join(parts, " &nbsp; ")) + "</p></section>\n";
  }

  // Per node.
  body +=
      "<section class=\"panel\"><h2>Nodes</h2><p class=\"note\">Time is the sum of the node's attempts; queue "
      "wait is time spent ready but waiting for a slot (-j or its pool). Click a column to sort.</p>";
  body += NodeTable(views, scale.t0);
  body += "</section>\n";

  body += fmt::format(
      "<footer>Generated by comfyrun {} from the journal <span class=\"path\">{}</span> "
      "({} records).</footer>\n",
      COMFYRUN_VERSION, EscapeHtml(source), replay.records);
  return HtmlPage(fmt::format("{} - comfyrun run report", workflow_id.empty() ? "run" : workflow_id), body);
}

}  // namespace comfyrun
