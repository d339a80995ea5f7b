// The run report's table of time and cost per node (run_report_parts.h), apart from
// run_report.cc, which draws the summary and the charts.
#include <fmt/format.h>

#include <utility>
#include <vector>

#include "comfyrun/core/util.h"
#include "comfyrun/report/html.h"
#include "run_report_parts.h"

namespace comfyrun {
namespace report_parts {
namespace {

/// The prompt under a node's id: the text the node used; the template it was written with in
/// the tooltip; as written, marked, when a node it names did not complete.
std::string PromptHtml(const NodePrompt& p) {
  if (p.text.empty()) return "";
  std::string title =
      p.text == p.written ? "" : " title=\"" + EscapeHtml("written as: " + Abbreviate(p.written, 300)) + "\"";
  return fmt::format(
      "<div class=\"prompt\"{}>{}{}</div>", title, EscapeHtml(Abbreviate(p.text, 140)),
      p.resolved ? "" : " <span class=\"muted\">(not resolved: a node it names did not complete)</span>");
}

/// The Where cell: each attempt's placement ("slurm job 42 on gpu07"), numbered when the node
/// had more than one attempt that says; "-" when none says (value nodes, cache hits).
std::string WhereCell(const NodeView& v) {
  std::vector<std::pair<int, std::string>> said;
  for (const auto& a : v.attempts)
    if (std::string w = WhereText(a.span.where); !w.empty()) said.emplace_back(a.span.attempt, std::move(w));
  if (said.empty()) return "-";
  if (said.size() == 1) return EscapeHtml(said.front().second);
  std::string out;
  for (const auto& [attempt, text] : said)
    out += fmt::format("{}<span class=\"muted\">#{}</span> {}", out.empty() ? "" : "<br>", attempt, EscapeHtml(text));
  return out;
}

}  // namespace

std::string WhereText(const Json& where) {
  if (!where.is_object() || where.empty()) return "";
  std::string executor = StringAt(where, "executor");
  std::string job = StringAt(where, "jobId");
  std::string host = StringAt(where, "host");
  std::string text = executor.empty() ? "?" : executor;
  if (!job.empty()) text += " job " + job;
  if (!host.empty()) text += " on " + host;
  return text;
}

std::string NodeTable(const std::vector<NodeView>& views, int64_t t0) {
  std::string rows;
  int total_attempts = 0;
  int64_t total_wait = 0, total_busy = 0;
  double total_cost = 0;
  for (const NodeView& v : views) {
    int64_t wait = 0, busy = 0;
    for (const auto& a : v.attempts) {
      wait += a.wait_ms;
      busy += a.end - a.span.start;
    }
    // Inline kinds count no started attempt in the metrics, yet ran once.
    int attempts =
        std::max(static_cast<int>(NumberAt(*v.metrics, "attempts").value_or(0)), static_cast<int>(v.attempts.size()));
    double cost = NumberAt(*v.metrics, "cost").value_or(0);
    total_attempts += attempts;
    total_wait += wait;
    total_busy += busy;
    total_cost += cost;
    std::string model = StringAt(*v.metrics, "model");
    std::string provider = StringAt(*v.metrics, "provider");
    std::string model_text = provider.empty() ? model : model.empty() ? provider : provider + " \u00B7 " + model;
    std::string note;
    const Json& m = *v.metrics;
    if (m.contains("error") && m["error"].is_object())
      note = StringAt(m["error"], "type") + ": " + Abbreviate(StringAt(m["error"], "message"), 400);
    else if (!v.skipped_because.empty())
      note = "skipped: " + Abbreviate(v.skipped_because, 300);
    else if (m.value("cached", false))
      note = "cached";
    int retries = 0;
    for (const auto& a : v.attempts) retries += a.span.outcome == AttemptSpan::Outcome::kFailed;
    std::string start = v.first > 0 ? FormatMs(static_cast<double>(v.first - t0)) : "-";
    rows += fmt::format(
        "<tr data-row=\"{}\"><td class=\"id\">{}{}{}</td><td>{}</td><td>{}</td>"
        "<td class=\"num\" data-v=\"{}\">{}{}</td><td>{}</td><td class=\"where\">{}</td>"
        "<td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" data-v=\"{}\">{}</td>"
        "<td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" data-v=\"{}\">{}</td><td "
        "class=\"err\">{}</td></tr>\n",
        v.row, v.critical ? "<span class=\"crit-dot\" title=\"on the critical path\">&#9670; </span>" : "",
        EscapeHtml(v.id), PromptHtml(v.prompt), EscapeHtml(v.type), Badge(v.status), attempts, attempts,
        retries > 0 ? fmt::format(" <span class=\"muted\">({} failed)</span>", retries) : "", EscapeHtml(model_text),
        WhereCell(v), v.first > 0 ? v.first - t0 : -1, EscapeHtml(start), wait,
        wait > 0 ? EscapeHtml(FormatMs(static_cast<double>(wait))) : "-", busy,
        busy > 0 ? EscapeHtml(FormatMs(static_cast<double>(busy))) : "-", fmt::format("{:.6f}", cost),
        EscapeHtml(FormatUsd(cost)), EscapeHtml(note));
  }
  return fmt::format(
      "<div class=\"tablewrap\"><table class=\"sortable nodes\"><thead><tr><th>Node</th><th>Type</th><th>Status</th>"
      "<th class=\"num\">Attempts</th><th>Provider &middot; model</th><th>Where</th><th class=\"num\">Start</th>"
      "<th class=\"num\">Queue wait</th><th class=\"num\">Time</th><th class=\"num\">Cost</th><th>Error / "
      "note</th></tr></thead>"
      "<tbody>\n{}</tbody><tfoot><tr><td>{} nodes</td><td></td><td></td><td "
      "class=\"num\">{}</td><td></td><td></td><td></td>"
      "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td></td></tr></tfoot></table></div>",
      rows, views.size(), total_attempts, EscapeHtml(FormatMs(static_cast<double>(total_wait))),
      EscapeHtml(FormatMs(static_cast<double>(total_busy))), EscapeHtml(FormatUsd(total_cost)));
}

std::string Badge(const std::string& status) {
  std::string cls;
  for (char c : status) cls += isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  return fmt::format("<span class=\"badge s-{}\">{}</span>", cls, EscapeHtml(status));
}

}  // namespace report_parts
}  // namespace comfyrun
