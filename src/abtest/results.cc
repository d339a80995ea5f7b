#include "comfyrun/abtest/results.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <optional>

namespace comfyrun {

namespace {

// A statistic as JSON: 10 significant digits, null when absent or not finite.
Json Num(double v) {
  if (!std::isfinite(v)) return nullptr;
  return std::strtod(fmt::format("{:.10g}", v).c_str(), nullptr);
}

Json Num(const std::optional<double>& v) { return v ? Num(*v) : Json(nullptr); }

Json Interval(const std::pair<double, double>& ci) {
  if (!std::isfinite(ci.first) || !std::isfinite(ci.second)) return nullptr;
  return Json::array({Num(ci.first), Num(ci.second)});
}

Json Interval(const std::optional<std::pair<double, double>>& ci) { return ci ? Interval(*ci) : Json(nullptr); }

Json MetricJson(const AbMetricSummary& m, bool with_coverage) {
  const SampleSummary& s = m.summary;
  Json j = Json::object();
  j["n"] = s.n;
  j["mean"] = Num(s.mean);
  j["median"] = Num(s.median);
  j["min"] = Num(s.min);
  j["max"] = Num(s.max);
  j["sd"] = Num(s.sd);
  j["ci"] = Interval(s.ci);
  j["ciMethod"] = s.ci ? Json("t") : Json(nullptr);
  if (with_coverage) j["coverage"] = Num(m.coverage);
  return j;
}

Json VariantJson(const AbVariantResult& v, bool run_details) {
  Json j = Json::object();
  j["variantId"] = v.variant_id;
  j["workflowId"] = v.workflow_id;
  j["success"] = v.successes > 0;
  j["duration"] = Num(v.duration_ms.summary.mean);
  j["cost"] = Num(v.cost_usd.summary.mean);
  j["qualityScore"] = Num(v.quality.summary.mean);
  j["outputs"] = v.outputs;
  j["runs"] = v.n;
  j["status"] = v.status;
  j["successRate"] = {{"successes", v.successes},
                      {"n", v.n},
                      {"rate", Num(v.rate)},
                      {"posterior",
                       {{"alpha", Num(v.posterior.alpha)},
                        {"beta", Num(v.posterior.beta)},
                        {"mean", Num(v.posterior.mean)},
                        {"ci", Interval(v.posterior.ci)}}}};
  j["metrics"] = {{"durationMs", MetricJson(v.duration_ms, false)},
                  {"costUsd", MetricJson(v.cost_usd, false)},
                  {"quality", MetricJson(v.quality, true)}};
  // "mean" is the observed composite (kept from schema 2's first form); "median" is the
  // posterior's, the point that goes with "ci". "observed" repeats "mean" under a name that
  // says what it is.
  j["composite"] = {{"mean", Num(v.composite)},
                    {"ci", Interval(v.composite_ci)},
                    {"ciMethod", v.composite_ci ? Json("posterior_beta_bayesian_bootstrap") : Json(nullptr)},
                    {"median", Num(v.composite_median)},
                    {"observed", Num(v.composite)}};
  j["probabilityOfBest"] = Num(v.prob_best);
  j["expectedLoss"] = Num(v.expected_loss);
  if (run_details) {
    Json runs = Json::array();
    for (const AbRun& r : v.runs) {
      Json d = Json::object();
      d["repeat"] = r.repeat;
      d["success"] = r.success;
      d["durationMs"] = Num(r.duration_seconds * 1000);
      d["costUsd"] = Num(r.cost);
      d["qualityScore"] = Num(r.quality);
      d["outputs"] = r.outputs.is_null() ? Json::object() : r.outputs;
      if (!r.error.empty()) d["error"] = r.error;
      runs.push_back(std::move(d));
    }
    j["runDetails"] = std::move(runs);
  }
  return j;
}

Json MetricComparisonJson(const AbMetricComparison& m) {
  const WelchResult& w = m.welch;
  const bool ok = w.error.empty();
  Json j = Json::object();
  if (!ok) j["error"] = w.error;
  j["diff"] = Num(m.diff);
  j["relDiff"] = Num(m.rel_diff);
  j["ci"] = ok ? Interval(w.ci) : Json(nullptr);
  j["ciMethod"] = "welch";
  j["t"] = ok ? Num(w.t) : Json(nullptr);
  j["df"] = ok ? Num(w.df) : Json(nullptr);
  j["p"] = ok ? Num(w.p) : Json(nullptr);
  if (m.metric == "composite") {
    j["probBetter"] = Num(m.prob_better);
    j["probBetterMethod"] = "posterior_beta_bayesian_bootstrap";
  } else {
    // t-approximate probability that the variant is better (lower when lower is better).
    std::optional<double> pb;
    if (ok) pb = m.lower_is_better ? StudentTCdf(-w.t, w.df) : w.prob_a_gt_b_t;
    j["probBetterApprox"] = Num(pb);
  }
  if (m.metric == "durationMs" || m.metric == "costUsd") {
    if (m.mann_whitney && m.mann_whitney->error.empty()) {
      j["mannWhitney"] = {{"u", Num(m.mann_whitney->u_x)},
                          {"p", Num(m.mann_whitney->p)},
                          {"method", m.mann_whitney->method},
                          {"pAdjusted", Num(m.mw_p_adjusted)}};
    } else {
      j["mannWhitney"] = nullptr;
    }
    j["bootstrapCi"] = m.bootstrap ? Interval(m.bootstrap->ci) : Json(nullptr);
    j["bootstrapMethod"] = "percentile";
    j["lowerIsBetter"] = m.lower_is_better;
  }
  j["pAdjusted"] = Num(m.p_adjusted);
  return j;
}

Json ComparisonJson(const AbComparison& c) {
  Json j = Json::object();
  j["variantId"] = c.variant_id;
  j["baselineVariantId"] = c.baseline_variant_id;
  j["successRate"] = {{"diff", Num(c.rate_diff)},
                      {"probBetter", Num(c.prob_better_success)},
                      {"probBetterMethod", "beta_binomial_exact"},
                      {"fisherP", Num(c.fisher.p)},
                      {"fisherPAdjusted", Num(c.fisher_p_adjusted)}};
  for (const AbMetricComparison& m : c.metrics) j[m.metric] = MetricComparisonJson(m);
  return j;
}

std::string Fixed(const std::optional<double>& v, int decimals) {
  return v && std::isfinite(*v) ? fmt::format("{:.{}f}", *v, decimals) : std::string("-");
}

/// The composite as shown beside its interval: the posterior median with the interval (both
/// from the same draws, so the point lies inside), "-" without a posterior.
std::string CompositeText(const AbVariantResult& v) {
  if (!v.composite_median || !v.composite_ci) return "-";
  return fmt::format("{:.3f} [{:.3f},{:.3f}]", *v.composite_median, v.composite_ci->first, v.composite_ci->second);
}

}  // namespace

Json AbResultJson(const std::string& test_id, const std::string& description, const AbAnalysis& a) {
  const AbAnalysisOptions& o = a.options;
  Json j = Json::object();
  j["schemaVersion"] = 2;
  j["testId"] = test_id;
  j["description"] = description;

  Json analysis = Json::object();
  analysis["baselineVariantId"] = a.baseline_variant_id;
  analysis["alpha"] = o.alpha;
  analysis["ciLevel"] = o.ci_level;
  analysis["minRunsPerVariant"] = o.min_runs_per_variant;
  analysis["lowSampleThreshold"] = o.low_sample_threshold;
  analysis["winnerThreshold"] = o.winner_threshold;
  analysis["multipleComparison"] = {{"method", PAdjustName(o.correction)},
                                    {"family",
                                     "primary p-values (fisherP, Welch p) over all non-baseline variants and metrics; "
                                     "Mann-Whitney p-values adjusted as a separate family"}};
  analysis["composite"] = {
      {"weights",
       {{"success", Num(a.weights.success)},
        {"quality", Num(a.weights.quality)},
        {"cost", Num(a.weights.cost)},
        {"duration", Num(a.weights.duration)}}},
      {"formula", "u = w.success*s + w.quality*s*q/10 + w.cost/(1+c/refCostUsd) + w.duration/(1+d/refDurationMs)"},
      {"refCostUsd", Num(a.ref_cost_usd)},
      {"refDurationMs", Num(a.ref_duration_ms)},
      {"refRule", a.ref_rule},
      {"qualityIncluded", a.quality_included},
      {"qualityImputation", "variant mean for successful runs without a score"}};
  analysis["probabilityOfBest"] = {{"method", "beta_bayesian_bootstrap"},
                                   {"resamples", o.resamples},
                                   {"seed", o.seed},
                                   {"rng", "mt19937_64"},
                                   {"monteCarloSeMax", Num(o.resamples > 0 ? 0.5 / std::sqrt(o.resamples) : 0.0)}};
  analysis["successRatePrior"] = {{"alpha", 1}, {"beta", 1}};
  analysis["mode"] = o.adaptive ? "bandit" : "fixed";
  j["analysis"] = std::move(analysis);

  Json variants = Json::array();
  for (const AbVariantResult& v : a.variants) variants.push_back(VariantJson(v, o.include_run_details));
  j["variants"] = std::move(variants);
  Json comparisons = Json::array();
  for (const AbComparison& c : a.comparisons) comparisons.push_back(ComparisonJson(c));
  j["comparisons"] = std::move(comparisons);

  j["winner"] = a.winner ? Json(*a.winner) : Json(nullptr);
  j["confidence"] = Num(a.confidence);
  std::optional<double> leader_pob;
  for (const AbVariantResult& v : a.variants) {
    if (a.winner && v.variant_id == *a.winner) leader_pob = v.prob_best;
  }
  j["decision"] = {{"status", a.decision_status},
                   {"leader", a.winner ? Json(*a.winner) : Json(nullptr)},
                   {"probabilityOfBest", Num(leader_pob)},
                   {"threshold", o.winner_threshold},
                   {"reasons", a.decision_reasons}};
  Json warnings = Json::array();
  for (const AbWarning& w : a.warnings) {
    Json x = Json::object();
    x["code"] = w.code;
    if (!w.variant_ids.empty()) x["variantIds"] = w.variant_ids;
    if (!w.metric.empty()) x["metric"] = w.metric;
    if (!w.message.empty()) x["message"] = w.message;
    warnings.push_back(std::move(x));
  }
  j["warnings"] = std::move(warnings);
  Json scores = Json::object();
  for (const AbVariantResult& v : a.variants) {
    if (v.legacy_score) scores[v.variant_id] = Num(*v.legacy_score);
  }
  j["legacy"] = {{"scores", std::move(scores)},
                 {"winner", a.legacy_winner ? Json(*a.legacy_winner) : Json(nullptr)},
                 {"confidence", Num(a.legacy_confidence)}};
  return j;
}

std::string FormatAbTable(const std::string& test_id, const AbAnalysis& a) {
  std::string out = fmt::format("A/B test {}: {} runs, {} succeeded, baseline {}\n", test_id, a.total_runs,
                                a.total_successes, a.baseline_variant_id);
  const std::string header = fmt::format("{:<22} {:>4} {:>22} {:>17} {:>19} {:>13} {:>24} {:>8} {:>7}  {}", "variant",
                                         "runs", "success [95% CrI]", "duration ms", "cost USD", "quality",
                                         "composite [95% CrI]", "observed", "P(best)", "status");
  out += header + "\n" + std::string(header.size(), '-') + "\n";
  const bool is_winner = a.decision_status == "winner";
  for (const AbVariantResult& v : a.variants) {
    std::string name = v.variant_id;
    if (v.variant_id == a.baseline_variant_id) name += " (b)";
    if (a.winner && *a.winner == v.variant_id) name += " *";
    const std::string success =
        v.n > 0 ? fmt::format("{}/{} [{:.2f},{:.2f}]", v.successes, v.n, v.posterior.ci.first, v.posterior.ci.second)
                : std::string("0/0");
    const auto pm = [](const SampleSummary& s, int decimals) {
      if (!s.mean) return std::string("-");
      return s.sd ? fmt::format("{:.{}f} +-{:.{}f}", *s.mean, decimals, *s.sd, decimals)
                  : fmt::format("{:.{}f}", *s.mean, decimals);
    };
    out += fmt::format("{:<22} {:>4} {:>22} {:>17} {:>19} {:>13} {:>24} {:>8} {:>7}  {}\n", name, v.n, success,
                       pm(v.duration_ms.summary, 0), pm(v.cost_usd.summary, 5), pm(v.quality.summary, 2),
                       CompositeText(v), Fixed(v.composite, 3), Fixed(v.prob_best, 3), v.status);
  }
  // The legend: what the marks and the composite columns mean.
  if (a.winner) {
    out += is_winner ? "* winner: P(best) reached the threshold (decision below)\n"
                     : "* leader: the most likely best so far, not a winner (decision below)\n";
  }
  out += "(b) baseline: the variant the comparisons below are made against\n";
  out +=
      "composite: posterior median [95% credible interval]; observed: mean composite of the runs, which "
      "can lie outside the interval (the prior pulls a 0% or 100% success rate toward 50%)\n";
  for (const AbComparison& c : a.comparisons) {
    std::string line = fmt::format("{} vs {}:", c.variant_id, c.baseline_variant_id);
    for (const AbMetricComparison& m : c.metrics) {
      if (!m.welch.error.empty()) {
        line += fmt::format(" {} {};", m.metric, m.welch.error);
      } else if (m.metric == "composite") {
        line += fmt::format(" composite {:+.3f} (P(better) {});", m.welch.diff, Fixed(m.prob_better, 3));
      } else {
        line +=
            fmt::format(" {} {:+.4g} (p {:.3g}, adj {});", m.metric, m.welch.diff, m.welch.p, Fixed(m.p_adjusted, 3));
      }
    }
    line += fmt::format(" success P(better) {:.3f}", c.prob_better_success);
    out += line + "\n";
  }
  out += fmt::format("decision: {}", a.decision_status);
  if (a.winner) out += fmt::format(", leader {} (P(best) {:.3f})", *a.winner, a.confidence);
  out += "\n";
  for (const std::string& r : a.decision_reasons) out += "  - " + r + "\n";
  for (const AbWarning& w : a.warnings) {
    std::string ids;
    for (const std::string& id : w.variant_ids) ids += (ids.empty() ? "" : ",") + id;
    out += fmt::format("warning {}{}{}{}\n", w.code, ids.empty() ? "" : " [" + ids + "]",
                       w.metric.empty() ? "" : " " + w.metric, w.message.empty() ? "" : ": " + w.message);
  }
  return out;
}

}  // namespace comfyrun
