// The A/B report (report.h): decision, per-metric interval charts, P(best), comparisons with
// the baseline and the analysis settings, from an A/B result JSON (abtest/results.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "comfyrun/core/util.h"
#include "comfyrun/report/html.h"
#include "comfyrun/report/report.h"

// Implementation details: the result file is read defensively (every field may be missing
// or null: older or hand-edited files, variants without data), because a report should show
// what is there rather than refuse. Charts are "forest plots": per variant a dot at the mean,
// a whisker for its 95% interval and the individual runs as small dots.

namespace comfyrun {
namespace {

enum class Unit { kRate, kMs, kUsd, kScore, kComposite };

std::string FormatValue(Unit unit, double v) {
  switch (unit) {
    case Unit::kRate:
      return fmt::format("{:.0f}%", v * 100);
    case Unit::kMs:
      return FormatMs(v);
    case Unit::kUsd:
      return FormatUsd(v);
    case Unit::kScore:
      return fmt::format("{:.2f}", v);
    case Unit::kComposite:
      return fmt::format("{:.3f}", v);
  }
  return fmt::format("{}", v);
}

/// An axis label: as many decimals as the step needs, and a plain "0".
std::string TickLabel(Unit unit, double v, double step) {
  if (std::fabs(v) < step * 1e-9) v = 0;
  int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  switch (unit) {
    case Unit::kRate:
      return fmt::format("{:.{}f}%", v * 100, std::max(0, decimals - 2));
    case Unit::kMs:
      return v == 0 ? "0" : FormatMs(v);
    case Unit::kUsd:
      return v == 0 ? "$0" : fmt::format("${:.{}f}", v, std::max(2, decimals));
    case Unit::kScore:
    case Unit::kComposite:
      return fmt::format("{:.{}f}", v, decimals);
  }
  return FormatValue(unit, v);
}

/// A signed difference in the metric's unit: "+1.2s", "-$0.02", "+5%".
std::string FormatDiff(Unit unit, double v) {
  std::string text = FormatValue(unit, std::fabs(v));
  // No sign on a difference that rounds to zero ("-0.00").
  if (text.find_first_of("123456789") == std::string::npos) return text;
  return (v > 0 ? "+" : v < 0 ? "-" : "") + text;
}

std::optional<std::pair<double, double>> IntervalAt(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_array() || j[key].size() != 2) return std::nullopt;
  const Json& ci = j[key];
  if (!ci[0].is_number() || !ci[1].is_number()) return std::nullopt;
  double lo = ci[0].get<double>(), hi = ci[1].get<double>();
  if (!std::isfinite(lo) || !std::isfinite(hi)) return std::nullopt;
  return std::make_pair(std::min(lo, hi), std::max(lo, hi));
}

/// One variant's numbers for one metric chart.
struct Point {
  std::optional<double> mean;      ///< the point drawn with `ci` (composite: posterior median)
  std::optional<double> observed;  ///< composite only: the runs' mean, drawn apart from `ci`
  std::optional<std::pair<double, double>> ci;
  std::vector<std::pair<double, bool>> runs;  ///< value, succeeded
  int n = 0;
};

struct MetricDef {
  const char* title;
  const char* note;
  Unit unit;
  bool lower_is_better;
  double fixed_lo, fixed_hi;  ///< fixed domain when lo < hi
};

Point PointOf(const Json& variant, const std::string& metric) {
  Point p;
  // Quality counts only successful runs (ABTEST.md §5.2); duration and cost count all.
  auto runs_of = [&](const char* key, bool successful_only = false) {
    for (const auto& r : variant.value("runDetails", Json::array())) {
      bool success = r.is_object() && r.value("success", false);
      if (successful_only && !success) continue;
      if (auto v = NumberAt(r, key)) p.runs.push_back({*v, success});
    }
  };
  if (metric == "successRate") {
    const Json& s = variant.value("successRate", Json::object());
    const Json& post = s.value("posterior", Json::object());
    p.mean = NumberAt(post, "mean");
    p.ci = IntervalAt(post, "ci");
    p.n = static_cast<int>(NumberAt(s, "n").value_or(0));
    return p;
  }
  if (metric == "composite") {
    // The posterior median goes with the posterior interval; the observed composite ("mean",
    // "observed") is drawn as its own mark, since it may lie outside that interval. A result
    // written before "median" existed shows the interval and the observed mark only.
    const Json& c = variant.value("composite", Json::object());
    p.mean = NumberAt(c, "median");
    p.observed = NumberAt(c, "observed");
    if (!p.observed) p.observed = NumberAt(c, "mean");
    p.ci = IntervalAt(c, "ci");
    if (!p.ci && !p.mean) p.mean = p.observed;  // no posterior: the observed value is all there is
    if (p.mean && p.observed && *p.mean == *p.observed && !p.ci) p.observed.reset();
    p.n = static_cast<int>(NumberAt(variant, "runs").value_or(0));
    return p;
  }
  const Json& metrics = variant.value("metrics", Json::object());
  const Json& m = metrics.value(metric, Json::object());
  p.mean = NumberAt(m, "mean");
  p.ci = IntervalAt(m, "ci");
  p.n = static_cast<int>(NumberAt(m, "n").value_or(0));
  if (metric == "durationMs") runs_of("durationMs");
  if (metric == "costUsd") runs_of("costUsd");
  if (metric == "quality") runs_of("qualityScore", true);
  return p;
}

std::string VariantLabel(const std::string& id, const std::string& baseline, const std::string& winner) {
  std::string label = Abbreviate(id, 22);
  if (id == winner) label += " \u2605";
  return label + (id == baseline ? " (base)" : "");
}

/// A forest plot of one metric over the variants.
std::string MetricChart(const MetricDef& def, const std::string& metric, const Json& variants,
                        const std::string& baseline, const std::string& winner) {
  std::vector<Point> points;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  auto widen = [&](double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  };
  bool any = false;
  for (const auto& v : variants) {
    points.push_back(PointOf(v, metric));
    const Point& p = points.back();
    if (p.mean) {
      widen(*p.mean);
      any = true;
    }
    if (p.observed) {
      widen(*p.observed);
      any = true;
    }
    if (p.ci) {
      widen(p.ci->first);
      widen(p.ci->second);
    }
    for (const auto& r : p.runs) widen(r.first);
  }
  std::string head = fmt::format("<div class=\"chart\"><h3>{}</h3><p class=\"note\">{}{}</p>", def.title, def.note,
                                 def.lower_is_better ? " Lower is better." : " Higher is better.");
  if (!any) return head + "<p class=\"note\">No data for this metric.</p></div>";
  if (def.fixed_lo < def.fixed_hi) {
    lo = std::min(lo, def.fixed_lo);
    hi = std::max(hi, def.fixed_hi);
  } else {
    lo = std::min(lo, 0.0);  // durations and costs: an axis from 0 does not exaggerate
    if (hi <= lo) hi = lo + 1;
    hi += (hi - lo) * 0.05;
  }
  const double width = 560, label_w = 128, value_w = 150, top = 22, row_h = 28;
  const double x0 = label_w + 8, x1 = width - value_w - 8;
  auto X = [&](double v) { return x0 + (v - lo) / (hi - lo) * (x1 - x0); };
  double height = top + row_h * static_cast<double>(points.size()) + 6;
  std::string out = fmt::format("<svg viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">", SvgNumber(width),
                                SvgNumber(height), EscapeHtml(def.title));
  out += "<g class=\"axis\">";
  double step = NiceStep(hi - lo, 5);
  for (double t = std::ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    out += fmt::format(
        "<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/><text class=\"muted\" x=\"{0}\" y=\"{3}\" "
        "text-anchor=\"middle\">{4}</text>",
        SvgNumber(X(t)), SvgNumber(top - 4), SvgNumber(height - 2), SvgNumber(top - 9),
        EscapeHtml(TickLabel(def.unit, t, step)));
  }
  out += "</g>";
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    std::string id = StringAt(variants[i], "variantId");
    double y = top + row_h * static_cast<double>(i) + row_h / 2;
    if (i % 2 == 1)
      out += fmt::format("<rect class=\"stripe\" x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                         SvgNumber(y - row_h / 2), SvgNumber(width), SvgNumber(row_h));
    out += fmt::format("<g class=\"variant{}\">", id == winner ? " winner" : "");
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>", SvgNumber(label_w),
                       SvgNumber(y + 4), EscapeHtml(id), EscapeHtml(VariantLabel(id, baseline, winner)));
    // Runs: deterministic vertical jitter so equal values stay visible.
    for (size_t k = 0; k < p.runs.size(); ++k) {
      double jitter = (static_cast<double>(k % 5) - 2) * 2.2;
      out += fmt::format("<circle class=\"run{}\" cx=\"{}\" cy=\"{}\" r=\"2.6\"><title>{}</title></circle>",
                         p.runs[k].second ? "" : " failed", SvgNumber(X(p.runs[k].first)), SvgNumber(y + jitter),
                         EscapeHtml(fmt::format("{} run {}: {}{}", id, k + 1, FormatValue(def.unit, p.runs[k].first),
                                                p.runs[k].second ? "" : " (failed)")));
    }
    std::string text;
    if (p.ci) {
      out += fmt::format("<line class=\"ci\" x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\"/>", SvgNumber(X(p.ci->first)),
                         SvgNumber(X(p.ci->second)), SvgNumber(y));
    }
    if (p.observed) {
      double x = X(*p.observed);
      out += fmt::format("<path class=\"observed\" d=\"M{} {}l4.5 4.5l-4.5 4.5l-4.5 -4.5z\"><title>{}</title></path>",
                         SvgNumber(x), SvgNumber(y - 4.5),
                         EscapeHtml(fmt::format("{}: observed {} (mean composite of the runs)", id,
                                                FormatValue(def.unit, *p.observed))));
    }
    const bool composite = metric == "composite";
    if (p.mean) {
      std::string tip = fmt::format("{}: {} {}", id,
                                    metric == "successRate" ? "posterior mean"
                                    : composite && p.ci     ? "posterior median"
                                                            : "mean",
                                    FormatValue(def.unit, *p.mean));
      if (p.ci)
        tip += fmt::format(", 95% interval {} to {}", FormatValue(def.unit, p.ci->first),
                           FormatValue(def.unit, p.ci->second));
      else
        tip += " (no interval: fewer than 2 values)";
      tip += fmt::format(", n={}", p.n);
      out += fmt::format("<circle class=\"mean\" cx=\"{}\" cy=\"{}\" r=\"5\"><title>{}</title></circle>",
                         SvgNumber(X(*p.mean)), SvgNumber(y), EscapeHtml(tip));
      text = FormatValue(def.unit, *p.mean);
      if (p.ci) text += " [" + FormatValue(def.unit, p.ci->first) + ", " + FormatValue(def.unit, p.ci->second) + "]";
      // The observed value is the diamond (its tooltip and the table give the number): the
      // text column has room for one point and its interval only.
    } else if (p.observed) {
      text = "observed " + FormatValue(def.unit, *p.observed);
      if (p.ci) text += " [" + FormatValue(def.unit, p.ci->first) + ", " + FormatValue(def.unit, p.ci->second) + "]";
    } else {
      text = "no data";
    }
    out += fmt::format("<text class=\"muted\" x=\"{}\" y=\"{}\">{}</text></g>", SvgNumber(x1 + 10), SvgNumber(y + 4),
                       EscapeHtml(text));
  }
  return head + out + "</svg></div>";
}

/// Bars of each variant's probability of being best, with the winner threshold.
std::string ProbabilityChart(const Json& variants, double threshold, const std::string& baseline,
                             const std::string& winner) {
  const double width = 560, label_w = 128, value_w = 150, top = 22, row_h = 28;
  const double x0 = label_w + 8, x1 = width - value_w - 8;
  auto X = [&](double v) { return x0 + v * (x1 - x0); };
  double height = top + row_h * static_cast<double>(variants.size()) + 6;
  std::string out =
      "<div class=\"chart\"><h3>Probability of being best</h3><p class=\"note\">On the composite score, "
      "from the posterior of each variant. The dashed line is the threshold for declaring a winner.</p>";
  out += fmt::format("<svg viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"probability of being best\">",
                     SvgNumber(width), SvgNumber(height));
  out += "<g class=\"axis\">";
  for (double t = 0; t <= 1.0001; t += 0.25)
    out += fmt::format(
        "<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"/><text class=\"muted\" x=\"{0}\" y=\"{3}\" "
        "text-anchor=\"middle\">{4:.0f}%</text>",
        SvgNumber(X(t)), SvgNumber(top - 4), SvgNumber(height - 2), SvgNumber(top - 9), t * 100);
  out += "</g>";
  for (size_t i = 0; i < variants.size(); ++i) {
    std::string id = StringAt(variants[i], "variantId");
    double y = top + row_h * static_cast<double>(i);
    if (i % 2 == 1)
      out += fmt::format("<rect class=\"stripe\" x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\"/>", SvgNumber(y),
                         SvgNumber(width), SvgNumber(row_h));
    out += fmt::format("<g class=\"variant{}\">", id == winner ? " winner" : "");
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>", SvgNumber(label_w),
                       SvgNumber(y + row_h / 2 + 4), EscapeHtml(id), EscapeHtml(VariantLabel(id, baseline, winner)));
    std::optional<double> p = NumberAt(variants[i], "probabilityOfBest");
    std::string text = "not computed";
    if (p) {
      out += fmt::format(
          "<rect class=\"pbar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"12\" rx=\"2\"><title>{}</title></rect>",
          SvgNumber(x0), SvgNumber(y + row_h / 2 - 6), SvgNumber(std::max(1.5, X(*p) - x0)),
          EscapeHtml(fmt::format("{}: P(best) {:.3f}", id, *p)));
      text = fmt::format("{:.1f}%", *p * 100);
      if (auto loss = NumberAt(variants[i], "expectedLoss")) text += fmt::format(" (loss {:.3f})", *loss);
    }
    out += fmt::format("<text class=\"muted\" x=\"{}\" y=\"{}\">{}</text></g>", SvgNumber(x1 + 10),
                       SvgNumber(y + row_h / 2 + 4), EscapeHtml(text));
  }
  if (threshold > 0 && threshold <= 1)
    out += fmt::format(
        "<line class=\"zero\" x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\"><title>winner threshold "
        "{3:.0f}%</title></line>",
        SvgNumber(X(threshold)), SvgNumber(top - 4), SvgNumber(height - 2), threshold * 100);
  return out + "</svg></div>";
}

/// A small glyph: the difference's interval against zero, on its own symmetric scale.
std::string DiffGlyph(std::optional<double> diff, std::optional<std::pair<double, double>> ci, bool lower_is_better) {
  // Without an interval there is nothing to place against zero.
  if (!diff || !ci) return "";
  double m = std::max({std::fabs(*diff), std::fabs(ci->first), std::fabs(ci->second)});
  if (m <= 0) m = 1;
  const double w = 120, h = 14, mid = w / 2;
  auto X = [&](double v) { return mid + v / m * (mid - 4); };
  bool better = lower_is_better ? *diff < 0 : *diff > 0;
  bool clear = ci->first > 0 || ci->second < 0;
  std::string color = !clear ? "var(--muted)" : better ? "var(--ok)" : "var(--fail)";
  std::string out =
      fmt::format("<svg class=\"glyph\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" aria-hidden=\"true\">",
                  SvgNumber(w), SvgNumber(h), SvgNumber(w), SvgNumber(h));
  out += fmt::format("<line class=\"zero\" x1=\"{0}\" x2=\"{0}\" y1=\"0\" y2=\"{1}\"/>", SvgNumber(mid), SvgNumber(h));
  out += fmt::format(
      "<line x1=\"{}\" x2=\"{}\" y1=\"7\" y2=\"7\" stroke=\"{}\" stroke-width=\"2.5\" stroke-linecap=\"round\"/>",
      SvgNumber(X(ci->first)), SvgNumber(X(ci->second)), color);
  out += fmt::format("<circle cx=\"{}\" cy=\"7\" r=\"3.5\" fill=\"{}\"/>", SvgNumber(X(*diff)), color);
  return out + "</svg>";
}

std::string P(std::optional<double> p) {
  if (!p) return "-";
  return *p < 0.001 ? "&lt;0.001" : fmt::format("{:.3f}", *p);
}

std::string ComparisonRows(const Json& c, const std::string& metric, const char* name, Unit unit, bool lower) {
  if (!c.contains(metric) || !c[metric].is_object()) return "";
  const Json& m = c[metric];
  std::string id = StringAt(c, "variantId");
  std::optional<double> diff = NumberAt(m, "diff");
  auto ci = IntervalAt(m, "ci");
  std::optional<double> p = NumberAt(m, metric == "successRate" ? "fisherP" : "p");
  std::optional<double> padj = NumberAt(m, metric == "successRate" ? "fisherPAdjusted" : "pAdjusted");
  std::optional<double> better = NumberAt(m, "probBetter");
  if (!better) better = NumberAt(m, "probBetterApprox");
  std::string error = StringAt(m, "error");
  std::string ci_text = ci              ? FormatDiff(unit, ci->first) + " to " + FormatDiff(unit, ci->second)
                        : error.empty() ? "-"
                                        : error;
  return fmt::format(
      "<tr><td class=\"id\">{}</td><td>{}</td><td class=\"num\" data-v=\"{}\">{}</td><td>{}</td><td "
      "class=\"num\">{}</td>"
      "<td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" "
      "data-v=\"{}\">{}</td></tr>\n",
      EscapeHtml(id), name, diff ? fmt::format("{}", *diff) : "", diff ? EscapeHtml(FormatDiff(unit, *diff)) : "-",
      DiffGlyph(diff, ci, lower), EscapeHtml(ci_text), p ? fmt::format("{}", *p) : "", P(p),
      padj ? fmt::format("{}", *padj) : "", P(padj), better ? fmt::format("{}", *better) : "",
      better ? fmt::format("{:.0f}%", *better * 100) : "-");
}

std::string Badge(const std::string& status) {
  std::string cls;
  for (char c : status) cls += isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  return fmt::format("<span class=\"badge s-{}\">{}</span>", cls, EscapeHtml(status));
}

std::string Card(const std::string& key, const std::string& value_html, const std::string& detail_html) {
  return fmt::format(
      "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"d\">{}</div></div>",
      EscapeHtml(key), value_html, detail_html);
}

std::string Opt(std::optional<double> v, Unit unit) { return v ? EscapeHtml(FormatValue(unit, *v)) : "-"; }

}  // namespace

bool AbTestReportHtml(const Json& result, const std::string& source, std::string* html, std::string* err) {
  if (!result.is_object() || !result.contains("testId") || !result.contains("variants") ||
      !result["variants"].is_array()) {
    *err = "not an A/B result: it needs \"testId\" and a \"variants\" list";
    return false;
  }
  Json variants = Json::array();
  for (const auto& v : result["variants"])
    if (v.is_object()) variants.push_back(v);
  std::string test_id = StringAt(result, "testId");
  std::string description = StringAt(result, "description");
  const Json analysis = result.value("analysis", Json::object());
  const Json decision = result.value("decision", Json::object());
  std::string baseline = StringAt(analysis, "baselineVariantId");
  std::string winner = StringAt(result, "winner");
  std::string status = StringAt(decision, "status");
  double threshold = NumberAt(decision, "threshold").value_or(NumberAt(analysis, "winnerThreshold").value_or(0.95));

  std::string body = fmt::format(
      "<header class=\"top\"><div class=\"brand\">comfyrun A/B test report</div><h1>{}</h1>{}<p "
      "class=\"sub\">{}</p></header>\n",
      EscapeHtml(test_id), status.empty() ? "" : Badge(status), EscapeHtml(description));

  // Summary cards.
  int runs = 0;
  for (const auto& v : variants) runs += static_cast<int>(NumberAt(v, "runs").value_or(0));
  const Json run = result.value("run", Json::object());
  std::optional<double> confidence = NumberAt(result, "confidence");
  body += "<section class=\"cards\">";
  body +=
      Card(status == "winner" ? "Winner" : "Leader", winner.empty() ? "none" : EscapeHtml(winner),
           confidence ? fmt::format("P(best) {:.1f}% (threshold {:.0f}%)", *confidence * 100, threshold * 100) : "");
  body += Card("Variants", std::to_string(variants.size()), baseline.empty() ? "" : "baseline " + EscapeHtml(baseline));
  body += Card("Runs", std::to_string(runs),
               NumberAt(run, "runsUnfinished").value_or(0) > 0
                   ? fmt::format("{} unfinished, left out", NumberAt(run, "runsUnfinished").value_or(0))
                   : "all finished");
  if (auto cost = NumberAt(run, "totalCost"))
    body += Card("Total cost", EscapeHtml(FormatUsd(*cost)), "all runs, all attempts");
  if (auto ms = NumberAt(run, "durationMs")) body += Card("Wall time", EscapeHtml(FormatMs(*ms)), "runs interleaved");
  body += "</section>\n";

  // Decision.
  body += "<section class=\"panel\"><h2>Decision</h2>";
  if (!status.empty()) {
    std::string leader = StringAt(decision, "leader");
    std::optional<double> pob = NumberAt(decision, "probabilityOfBest");
    if (status == "winner")
      body +=
          fmt::format("<p><b>{}</b> wins: its probability of being best is {:.1f}%, above the {:.0f}% threshold.</p>",
                      EscapeHtml(leader), pob.value_or(0) * 100, threshold * 100);
    else if (!leader.empty())
      body +=
          fmt::format("<p>No winner yet ({}). The leader is <b>{}</b>{}.</p>", EscapeHtml(status), EscapeHtml(leader),
                      pob ? fmt::format(" with a {:.1f}% probability of being best (threshold {:.0f}%)", *pob * 100,
                                        threshold * 100)
                          : "");
    else
      body += fmt::format("<p>No winner ({}).</p>", EscapeHtml(status));
  }
  if (decision.contains("reasons") && decision["reasons"].is_array() && !decision["reasons"].empty()) {
    body += "<ul class=\"reasons\">";
    for (const auto& r : decision["reasons"])
      if (r.is_string()) body += "<li>" + EscapeHtml(r.get<std::string>()) + "</li>";
    body += "</ul>";
  }
  if (result.contains("warnings") && result["warnings"].is_array() && !result["warnings"].empty()) {
    body += "<ul class=\"warnings\">";
    for (const auto& w : result["warnings"]) {
      std::string line = "<span class=\"code\">" + EscapeHtml(StringAt(w, "code")) + "</span>";
      if (w.contains("variantIds") && w["variantIds"].is_array()) {
        std::vector<std::string> ids;
        for (const auto& id : w["variantIds"])
          if (id.is_string()) ids.push_back(EscapeHtml(id.get<std::string>()));
        if (!ids.empty()) line += fmt::format(" {}", fmt::join(ids, ", "));
      }
      if (!StringAt(w, "metric").empty()) line += " (" + EscapeHtml(StringAt(w, "metric")) + ")";
      if (!StringAt(w, "message").empty()) line += ": " + EscapeHtml(StringAt(w, "message"));
      body += "<li>" + line + "</li>";
    }
    body += "</ul>";
  }
  body += "</section>\n";

  // Charts.
  static const MetricDef kSuccess{
      "Success rate", "Posterior mean with its 95% credible interval (Beta(1,1) prior).", Unit::kRate, false, 0, 1};
  static const MetricDef kDuration{
      "Duration per run", "Mean with its 95% t interval; dots are single runs (red: failed).", Unit::kMs, true, 0, 0};
  static const MetricDef kCost{
      "Cost per run", "Mean with its 95% t interval; every attempt counts.", Unit::kUsd, true, 0, 0};
  static const MetricDef kQuality{
      "Quality (0-10)", "Mean score of scored successful runs with its 95% t interval.", Unit::kScore, false, 0, 10};
  static const MetricDef kComposite{"Composite score",
                                    "Success, quality, cost and duration in one number (0-1): the "
                                    "posterior median with its 95% interval, and the observed mean of the runs "
                                    "(&#9671;), which can lie outside the interval because the prior pulls a 0% or "
                                    "100% success rate toward 50%.",
                                    Unit::kComposite,
                                    false,
                                    0,
                                    1};
  body += "<section class=\"panel\"><h2>Variants</h2><p class=\"note\">";
  body += "\u2605 marks the ";
  body += status == "winner" ? "winner" : "leader";
  body += "; intervals that overlap a lot mean the data cannot tell the variants apart yet.</p>";
  body +=
      "<div class=\"legend\"><span><i class=\"l-ci\"></i>95% interval</span><span>&#9679; mean (composite: "
      "posterior median)</span><span>&#9671; observed composite</span>"
      "<span><i class=\"l-run\"></i>one run</span></div><div class=\"grid2\">";
  body += MetricChart(kSuccess, "successRate", variants, baseline, winner);
  body += MetricChart(kComposite, "composite", variants, baseline, winner);
  body += MetricChart(kDuration, "durationMs", variants, baseline, winner);
  body += MetricChart(kCost, "costUsd", variants, baseline, winner);
  body += MetricChart(kQuality, "quality", variants, baseline, winner);
  body += ProbabilityChart(variants, threshold, baseline, winner);
  body += "</div></section>\n";

  // Variant table.
  std::string rows;
  for (const auto& v : variants) {
    std::string id = StringAt(v, "variantId");
    const Json& sr = v.value("successRate", Json::object());
    const Json& metrics = v.value("metrics", Json::object());
    auto mean_of = [&](const char* key) { return NumberAt(metrics.value(key, Json::object()), "mean"); };
    std::optional<double> pob = NumberAt(v, "probabilityOfBest");
    const Json& comp = v.value("composite", Json::object());
    std::optional<double> median = NumberAt(comp, "median");
    std::optional<double> observed = NumberAt(comp, "observed");
    if (!observed) observed = NumberAt(comp, "mean");
    auto comp_ci = IntervalAt(comp, "ci");
    // The interval under the median keeps the column narrow enough for the table to fit.
    std::string comp_text = median && comp_ci
                                ? EscapeHtml(FormatValue(Unit::kComposite, *median)) + "<br><span class=\"muted\">" +
                                      EscapeHtml(fmt::format("[{}, {}]", FormatValue(Unit::kComposite, comp_ci->first),
                                                             FormatValue(Unit::kComposite, comp_ci->second))) +
                                      "</span>"
                                : "-";
    std::string quality_source = StringAt(v, "qualitySource");
    rows += fmt::format(
        "<tr><td class=\"id\">{}{}</td><td class=\"id wf\">{}</td><td class=\"num\">{}</td><td>{}</td>"
        "<td class=\"num\" data-v=\"{}\">{}/{}</td><td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" "
        "data-v=\"{}\">{}</td>"
        "<td class=\"num\" data-v=\"{}\">{}{}</td><td class=\"num\" data-v=\"{}\">{}</td><td class=\"num\" "
        "data-v=\"{}\">{}</td>"
        "<td class=\"num\" data-v=\"{}\">{}</td></tr>\n",
        EscapeHtml(id), id == baseline ? " <span class=\"muted\">(baseline)</span>" : "",
        EscapeHtml(StringAt(v, "workflowId")), static_cast<int>(NumberAt(v, "runs").value_or(0)),
        Badge(StringAt(v, "status")), NumberAt(sr, "rate").value_or(-1),
        static_cast<int>(NumberAt(sr, "successes").value_or(0)), static_cast<int>(NumberAt(sr, "n").value_or(0)),
        mean_of("durationMs").value_or(-1), Opt(mean_of("durationMs"), Unit::kMs), mean_of("costUsd").value_or(-1),
        Opt(mean_of("costUsd"), Unit::kUsd), mean_of("quality").value_or(-1), Opt(mean_of("quality"), Unit::kScore),
        quality_source.empty() ? "" : "<div class=\"muted\">" + EscapeHtml(Abbreviate(quality_source, 120)) + "</div>",
        median.value_or(-1), comp_text, observed.value_or(-1), Opt(observed, Unit::kComposite), pob.value_or(-1),
        pob ? fmt::format("{:.1f}%", *pob * 100) : "-");
  }
  body +=
      "<section class=\"panel\"><h2>Per variant</h2><div class=\"tablewrap\"><table class=\"sortable "
      "compact\"><thead><tr>"
      "<th>Variant</th><th>Workflow</th><th class=\"num\">Runs</th><th>Status</th><th class=\"num\">Succeeded</th>"
      "<th class=\"num\">Duration</th><th class=\"num\">Cost / run</th><th class=\"num\">Quality</th>"
      "<th class=\"num\" title=\"posterior median, its 95% interval below\">Composite</th>"
      "<th class=\"num\" title=\"mean composite of the runs\">Observed</th><th "
      "class=\"num\">P(best)</th></tr></thead><tbody>\n" +
      rows + "</tbody></table></div></section>\n";

  // Comparisons with the baseline.
  std::string comparisons;
  if (result.contains("comparisons") && result["comparisons"].is_array())
    for (const auto& c : result["comparisons"]) {
      if (!c.is_object()) continue;
      comparisons += ComparisonRows(c, "successRate", "success rate", Unit::kRate, false);
      comparisons += ComparisonRows(c, "durationMs", "duration", Unit::kMs, true);
      comparisons += ComparisonRows(c, "costUsd", "cost", Unit::kUsd, true);
      comparisons += ComparisonRows(c, "quality", "quality", Unit::kScore, false);
      comparisons += ComparisonRows(c, "composite", "composite", Unit::kComposite, false);
    }
  if (!comparisons.empty()) {
    const Json& mc = analysis.value("multipleComparison", Json::object());
    body += fmt::format(
        "<section class=\"panel\"><h2>Compared with the baseline{}</h2><p class=\"note\">Difference = variant minus "
        "baseline, with its 95% interval (Welch; success rate: exact Beta-Binomial P(better) and Fisher's p). Green: "
        "the interval excludes 0 in the good direction; red: in the bad one; grey: not clear. Adjusted p: {}.</p>"
        "<div class=\"tablewrap\"><table class=\"sortable\"><thead><tr><th>Variant</th><th>Metric</th>"
        "<th class=\"num\">Difference</th><th>vs 0</th><th class=\"num\">95% interval</th><th class=\"num\">p</th>"
        "<th class=\"num\">p adjusted</th><th "
        "class=\"num\">P(better)</th></tr></thead><tbody>\n{}</tbody></table></div></section>\n",
        baseline.empty() ? "" : " " + EscapeHtml(baseline),
        EscapeHtml(StringAt(mc, "method").empty() ? "holm" : StringAt(mc, "method")), comparisons);
  }

  // Analysis settings and where the data came from.
  body += "<section class=\"panel\"><details><summary>Analysis settings and sources</summary><dl class=\"kv\">";
  auto kv = [&](const std::string& k, const std::string& v_html) {
    if (!v_html.empty()) body += "<dt>" + EscapeHtml(k) + "</dt><dd>" + v_html + "</dd>";
  };
  kv("schema version", EscapeHtml(result.value("schemaVersion", Json()).dump()));
  kv("alpha / interval level", EscapeHtml(fmt::format("{} / {}", analysis.value("alpha", Json()).dump(),
                                                      analysis.value("ciLevel", Json()).dump())));
  kv("minimum runs per variant", EscapeHtml(analysis.value("minRunsPerVariant", Json()).dump()));
  const Json& composite = analysis.value("composite", Json::object());
  kv("composite formula", "<span class=\"code\">" + EscapeHtml(StringAt(composite, "formula")) + "</span>");
  kv("composite weights",
     "<span class=\"code\">" + EscapeHtml(composite.value("weights", Json::object()).dump()) + "</span>");
  kv("reference cost / duration",
     EscapeHtml(fmt::format("{} / {} ({})", composite.value("refCostUsd", Json()).dump(),
                            composite.value("refDurationMs", Json()).dump(), StringAt(composite, "refRule"))));
  const Json& pob = analysis.value("probabilityOfBest", Json::object());
  kv("probability of best",
     EscapeHtml(fmt::format("{}, {} resamples, seed {}", StringAt(pob, "method"), pob.value("resamples", Json()).dump(),
                            pob.value("seed", Json()).dump())));
  kv("mode", EscapeHtml(StringAt(analysis, "mode")));
  kv("run", run.contains("runId") ? "<span class=\"code\">" + EscapeHtml(StringAt(run, "runId")) + "</span>" : "");
  if (!StringAt(run, "journal").empty())
    kv("journal", "<span class=\"path\">" + EscapeHtml(StringAt(run, "journal")) +
                      "</span><br><span class=\"muted\">its timeline: comfyrun report JOURNAL --html FILE</span>");
  body += "</dl></details></section>\n";
  body += fmt::format("<footer>Generated by comfyrun {} from the A/B result <span class=\"path\">{}</span>.</footer>\n",
                      COMFYRUN_VERSION, EscapeHtml(source));
  *html = HtmlPage(test_id + " - comfyrun A/B test report", body);
  return true;
}

}  // namespace comfyrun
