// A/B statistics, part 3 of 3 (stats.h): the whole-test analysis (AnalyzeAbTest), which
// groups the runs by variant and puts the pieces of stats_math.cc and stats_tests.cc together.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "comfyrun/abtest/stats.h"
#include "stats_internal.h"

namespace comfyrun {

using namespace stats_internal;  // NOLINT: the helpers of all three parts

// Whole-test analysis (ABTEST.md §5).

namespace {

std::vector<double> Durations(const std::vector<AbRun>& runs) {
  std::vector<double> out;
  for (const AbRun& r : runs) out.push_back(Finite(r.duration_seconds) * 1000);
  return out;
}

std::vector<double> Costs(const std::vector<AbRun>& runs) {
  std::vector<double> out;
  for (const AbRun& r : runs) out.push_back(Finite(r.cost));
  return out;
}

std::optional<double> ScoredQuality(const AbRun& r) {
  if (!r.success || !r.quality || !std::isfinite(*r.quality)) return std::nullopt;
  return *r.quality;
}

std::vector<double> Qualities(const std::vector<AbRun>& runs) {
  std::vector<double> out;
  for (const AbRun& r : runs) {
    if (auto q = ScoredQuality(r)) out.push_back(*q);
  }
  return out;
}

AbMetricComparison CompareMetric(const std::string& metric, bool lower_is_better, const std::vector<double>& variant,
                                 const std::vector<double>& baseline, bool both_eligible, double alpha) {
  AbMetricComparison c;
  c.metric = metric;
  c.lower_is_better = lower_is_better;
  c.welch = WelchTTest(variant, baseline, alpha);
  if (!both_eligible && c.welch.error.empty()) c.welch.error = "INSUFFICIENT_DATA";
  if (!variant.empty() && !baseline.empty()) {
    c.diff = c.welch.diff;
    if (c.welch.mean_b != 0) c.rel_diff = c.welch.diff / c.welch.mean_b;
  }
  return c;
}

}  // namespace

AbAnalysis AnalyzeAbTest(const std::vector<AbVariantInfo>& variants, const std::vector<AbRun>& runs,
                         const AbAnalysisOptions& options) {
  AbAnalysis a;
  a.options = options;
  const int min_runs = std::max(1, options.min_runs_per_variant);

  // 1. Group runs by variant, in the order the variants are listed and runs were recorded.
  std::map<std::string, size_t> index;
  for (const AbVariantInfo& info : variants) {
    if (index.count(info.variant_id)) continue;
    index[info.variant_id] = a.variants.size();
    AbVariantResult v;
    v.variant_id = info.variant_id;
    v.workflow_id = info.workflow_id;
    a.variants.push_back(std::move(v));
  }
  std::vector<std::string> unknown;
  for (const AbRun& r : runs) {
    auto it = index.find(r.variant_id);
    if (it == index.end()) {
      if (std::find(unknown.begin(), unknown.end(), r.variant_id) == unknown.end()) {
        unknown.push_back(r.variant_id);
      }
      continue;
    }
    a.variants[it->second].runs.push_back(r);
  }
  if (a.variants.empty()) {
    a.decision_status = "insufficient_data";
    a.decision_reasons.push_back("no variants");
    return a;
  }
  a.baseline_variant_id = options.baseline_variant_id.empty() || !index.count(options.baseline_variant_id)
                              ? a.variants.front().variant_id
                              : options.baseline_variant_id;
  const size_t base = index[a.baseline_variant_id];

  // 2. Per-variant summaries.
  std::vector<double> all_costs, all_durations, all_quality;
  for (AbVariantResult& v : a.variants) {
    v.n = static_cast<int>(v.runs.size());
    for (const AbRun& r : v.runs) v.successes += r.success ? 1 : 0;
    a.total_runs += v.n;
    a.total_successes += v.successes;
    v.eligible = v.n >= min_runs;
    v.status = !v.eligible ? "insufficient_data" : v.n < options.low_sample_threshold ? "low_sample" : "ok";
    if (v.n > 0) v.rate = double(v.successes) / v.n;
    v.posterior = SuccessPosterior(v.successes, v.n, options.ci_level);
    const std::vector<double> d = Durations(v.runs), c = Costs(v.runs), q = Qualities(v.runs);
    v.duration_ms.summary = Summarize(d, options.ci_level);
    v.cost_usd.summary = Summarize(c, options.ci_level);
    v.quality.summary = Summarize(q, options.ci_level);
    if (v.successes > 0) v.quality.coverage = double(q.size()) / v.successes;
    all_costs.insert(all_costs.end(), c.begin(), c.end());
    all_durations.insert(all_durations.end(), d.begin(), d.end());
    all_quality.insert(all_quality.end(), q.begin(), q.end());
    for (const AbRun& r : v.runs) {
      if (r.success) {
        v.outputs = r.outputs;
        break;
      }
    }
    if (v.successes == 0 && !v.runs.empty()) v.outputs = v.runs.front().outputs;
    if (v.outputs.is_null()) v.outputs = Json::object();
  }

  // 3. Composite settings: references, quality inclusion, effective weights (§2.7, §5.4).
  a.ref_rule = "pooled median of all runs";
  if (options.ref_cost_usd)
    a.ref_cost_usd = *options.ref_cost_usd;
  else if (!all_costs.empty())
    a.ref_cost_usd = Median(all_costs);
  if (options.ref_duration_ms)
    a.ref_duration_ms = *options.ref_duration_ms;
  else if (!all_durations.empty())
    a.ref_duration_ms = Median(all_durations);
  if (options.ref_cost_usd || options.ref_duration_ms) {
    a.ref_rule =
        options.ref_cost_usd && options.ref_duration_ms ? "user supplied" : "user supplied / pooled median of all runs";
  }
  std::vector<size_t> eligible;
  for (size_t i = 0; i < a.variants.size(); ++i) {
    if (a.variants[i].eligible) eligible.push_back(i);
  }
  std::vector<std::string> few_scores;
  for (size_t i : eligible) {
    if (a.variants[i].quality.summary.n < 2) few_scores.push_back(a.variants[i].variant_id);
  }
  a.quality_included = options.weights.quality > 0 && !all_quality.empty() && (eligible.empty() || few_scores.empty());
  CompositeWeights w = options.weights;
  w.success = std::max(0.0, w.success);
  w.quality = a.quality_included ? std::max(0.0, w.quality) : 0;
  w.cost = a.ref_cost_usd && *a.ref_cost_usd > 0 ? std::max(0.0, w.cost) : 0;
  w.duration = a.ref_duration_ms && *a.ref_duration_ms > 0 ? std::max(0.0, w.duration) : 0;
  const double wsum = w.success + w.quality + w.cost + w.duration;
  if (wsum > 0) {
    w.success /= wsum, w.quality /= wsum, w.cost /= wsum, w.duration /= wsum;
  } else {
    w = CompositeWeights{1, 0, 0, 0};
  }
  a.weights = w;
  const double ref_c = a.ref_cost_usd.value_or(0), ref_d = a.ref_duration_ms.value_or(0);
  const double pooled_quality = all_quality.empty() ? 0 : Mean(all_quality);

  std::vector<CompositeSample> samples(a.variants.size());
  for (size_t i = 0; i < a.variants.size(); ++i) {
    AbVariantResult& v = a.variants[i];
    CompositeSample& s = samples[i];
    for (const AbRun& r : v.runs) {
      s.success.push_back(r.success ? 1 : 0);
      s.duration_ms.push_back(Finite(r.duration_seconds) * 1000);
      s.cost_usd.push_back(Finite(r.cost));
      s.quality.push_back(ScoredQuality(r));
    }
    const double impute = v.quality.summary.mean.value_or(pooled_quality);
    for (size_t k = 0; k < v.runs.size(); ++k) {
      v.utilities.push_back(
          RunUtility(w, s.success[k] != 0, s.cost_usd[k], s.duration_ms[k], s.quality[k], impute, ref_c, ref_d));
    }
    if (!v.utilities.empty()) v.composite = Mean(v.utilities);
  }

  // 4. Posterior over the eligible variants (§2.7).
  CompositePosteriorResult post;
  size_t base_pos = SIZE_MAX;
  if (eligible.size() >= 2) {
    std::vector<CompositeSample> el;
    for (size_t j = 0; j < eligible.size(); ++j) {
      el.push_back(samples[eligible[j]]);
      if (eligible[j] == base) base_pos = j;
    }
    post = CompositePosterior(el, w, ref_c, ref_d, options.resamples, options.seed, base_pos,
                              PosteriorMethod::kBetaBayesianBootstrap, options.ci_level);
    a.posterior_computed = options.resamples > 0;
    if (a.posterior_computed) {
      for (size_t j = 0; j < eligible.size(); ++j) {
        AbVariantResult& v = a.variants[eligible[j]];
        v.prob_best = post.prob_best[j];
        v.expected_loss = post.expected_loss[j];
        v.composite_ci = post.ci[j];
        v.composite_median = post.median[j];
      }
    }
  }

  // 5. Comparisons against the baseline (§5.3).
  const AbVariantResult& bv = a.variants[base];
  for (size_t i = 0; i < a.variants.size(); ++i) {
    if (i == base) continue;
    const AbVariantResult& v = a.variants[i];
    AbComparison cmp;
    cmp.variant_id = v.variant_id;
    cmp.baseline_variant_id = bv.variant_id;
    if (v.rate && bv.rate) cmp.rate_diff = *v.rate - *bv.rate;
    cmp.prob_better_success =
        ProbBetaGreater(bv.posterior.alpha, bv.posterior.beta, v.posterior.alpha, v.posterior.beta);
    cmp.fisher = FisherExact(v.successes, v.n - v.successes, bv.successes, bv.n - bv.successes);
    const bool both = v.eligible && bv.eligible;
    const double alpha = options.alpha;
    cmp.metrics.push_back(CompareMetric("durationMs", true, Durations(v.runs), Durations(bv.runs), both, alpha));
    cmp.metrics.push_back(CompareMetric("costUsd", true, Costs(v.runs), Costs(bv.runs), both, alpha));
    cmp.metrics.push_back(CompareMetric("quality", false, Qualities(v.runs), Qualities(bv.runs), both, alpha));
    cmp.metrics.push_back(CompareMetric("composite", false, v.utilities, bv.utilities, both, alpha));
    if (both) {
      for (int m = 0; m < 2; ++m) {
        const std::vector<double> xv = m == 0 ? Durations(v.runs) : Costs(v.runs);
        const std::vector<double> xb = m == 0 ? Durations(bv.runs) : Costs(bv.runs);
        cmp.metrics[m].mann_whitney = MannWhitneyU(xv, xb);
        cmp.metrics[m].bootstrap = BootstrapDiffMeans(xb, xv, options.resamples, options.seed, options.ci_level);
      }
    }
    if (a.posterior_computed && base_pos != SIZE_MAX) {
      const auto pos = std::find(eligible.begin(), eligible.end(), i) - eligible.begin();
      if (static_cast<size_t>(pos) < eligible.size()) cmp.metrics[3].prob_better = post.prob_beats_baseline[pos];
    }
    a.comparisons.push_back(std::move(cmp));
  }

  // 6. Multiple comparisons: primary family (Fisher + Welch), Mann–Whitney family (§5.3).
  std::vector<double> primary, mw;
  std::vector<std::pair<size_t, int>> primary_at, mw_at;  // (comparison, metric or -1 = fisher)
  for (size_t c = 0; c < a.comparisons.size(); ++c) {
    AbComparison& cmp = a.comparisons[c];
    primary.push_back(cmp.fisher.p);
    primary_at.push_back({c, -1});
    for (size_t m = 0; m < cmp.metrics.size(); ++m) {
      if (cmp.metrics[m].welch.error.empty()) {
        primary.push_back(cmp.metrics[m].welch.p);
        primary_at.push_back({c, static_cast<int>(m)});
      }
      if (cmp.metrics[m].mann_whitney && cmp.metrics[m].mann_whitney->error.empty()) {
        mw.push_back(cmp.metrics[m].mann_whitney->p);
        mw_at.push_back({c, static_cast<int>(m)});
      }
    }
  }
  const std::vector<double> primary_adj = AdjustPValues(primary, options.correction);
  for (size_t k = 0; k < primary.size(); ++k) {
    AbComparison& cmp = a.comparisons[primary_at[k].first];
    if (primary_at[k].second < 0)
      cmp.fisher_p_adjusted = primary_adj[k];
    else
      cmp.metrics[primary_at[k].second].p_adjusted = primary_adj[k];
  }
  const std::vector<double> mw_adj = AdjustPValues(mw, options.correction);
  for (size_t k = 0; k < mw.size(); ++k) {
    a.comparisons[mw_at[k].first].metrics[mw_at[k].second].mw_p_adjusted = mw_adj[k];
  }

  // 7. Warnings (§5.1, §5.4).
  std::vector<std::string> insufficient, low, no_success;
  for (const AbVariantResult& v : a.variants) {
    if (!v.eligible)
      insufficient.push_back(v.variant_id);
    else if (v.status == "low_sample")
      low.push_back(v.variant_id);
    if (v.n > 0 && v.successes == 0) no_success.push_back(v.variant_id);
  }
  if (!insufficient.empty()) {
    a.warnings.push_back({"INSUFFICIENT_DATA", insufficient, "",
                          fmt::format("fewer than {} runs: no interval, test or probability of being best", min_runs)});
  }
  if (!low.empty()) a.warnings.push_back({"LOW_SAMPLE", low, "", ""});
  if (!no_success.empty()) a.warnings.push_back({"NO_SUCCESSFUL_RUNS", no_success, "", ""});
  if (!a.quality_included) {
    std::string why = options.weights.quality <= 0 ? "quality weight is 0"
                      : all_quality.empty()        ? "no run has a quality score"
                                                   : "a variant has fewer than 2 scored runs";
    a.warnings.push_back({"QUALITY_EXCLUDED", few_scores, "quality", "quality dropped from the composite: " + why});
  }
  for (const AbComparison& cmp : a.comparisons) {
    for (const AbMetricComparison& m : cmp.metrics) {
      if (m.welch.error == "ZERO_VARIANCE") {
        a.warnings.push_back({"ZERO_VARIANCE", {cmp.variant_id, cmp.baseline_variant_id}, m.metric, ""});
      }
    }
    const AbVariantResult& v = a.variants[index[cmp.variant_id]];
    if (v.eligible && bv.eligible && MannWhitneyMinP(v.n, bv.n) > options.alpha) {
      a.warnings.push_back({"MWU_CANNOT_REACH_ALPHA",
                            {cmp.variant_id, cmp.baseline_variant_id},
                            "",
                            fmt::format("with {} vs {} runs the exact Mann-Whitney p is at least {:.3g}", v.n, bv.n,
                                        MannWhitneyMinP(v.n, bv.n))});
    }
  }
  if (options.adaptive) {
    a.warnings.push_back(
        {"ADAPTIVE_SAMPLING", {}, "", "runs were allocated adaptively: p-values and intervals are not valid"});
  }
  if (!unknown.empty()) {
    a.warnings.push_back({"UNKNOWN_VARIANT", unknown, "", "runs of unknown variants were ignored"});
  }

  // 8. Winner and decision (§5.1).
  // Product decision: a variant with no successful run can never be the winner, whatever its
  // cost and duration terms add up to; with no successful run anywhere there is no winner.
  auto can_win = [&](size_t i) { return a.variants[i].successes > 0; };
  if (a.posterior_computed) {
    std::optional<size_t> best;
    for (size_t i : eligible) {
      if (can_win(i) && (!best || *a.variants[i].prob_best > *a.variants[*best].prob_best)) best = i;
    }
    const bool all_enough = insufficient.empty();
    for (size_t i : eligible) {
      if (!can_win(i) && (!best || *a.variants[i].prob_best > *a.variants[*best].prob_best)) {
        a.decision_reasons.push_back(
            fmt::format("variant {} has no successful run, so it cannot win whatever its probabilityOfBest",
                        a.variants[i].variant_id));
      }
    }
    if (best) {
      a.winner = a.variants[*best].variant_id;
      a.confidence = *a.variants[*best].prob_best;
      a.decision_status = a.confidence >= options.winner_threshold && all_enough ? "winner" : "inconclusive";
      if (a.confidence < options.winner_threshold) a.decision_reasons.push_back("probabilityOfBest below threshold");
    } else {
      a.confidence = 0;
      a.decision_status = "inconclusive";
      a.decision_reasons.push_back("no variant has a successful run");
    }
  } else {
    std::optional<size_t> best;
    for (size_t i = 0; i < a.variants.size(); ++i) {
      if (can_win(i) && a.variants[i].composite && (!best || *a.variants[i].composite > *a.variants[*best].composite))
        best = i;
    }
    if (best) a.winner = a.variants[*best].variant_id;
    a.confidence = 0;
    a.decision_status = "insufficient_data";
    a.decision_reasons.push_back(
        fmt::format("fewer than 2 variants have at least {} runs (minRunsPerVariant)", min_runs));
  }
  for (const AbVariantResult& v : a.variants) {
    if (!v.eligible) {
      a.decision_reasons.push_back(
          fmt::format("variant {} has n={} < minRunsPerVariant={}", v.variant_id, v.n, min_runs));
    } else if (v.status == "low_sample") {
      a.decision_reasons.push_back(
          fmt::format("variant {} has fewer than {} runs (low_sample)", v.variant_id, options.low_sample_threshold));
    }
  }
  if (!a.posterior_computed && a.winner) {
    a.decision_reasons.push_back("winner is the leader by observed composite (informational only)");
  }

  // 9. Legacy score and confidence from aggregate values (§0, §5.1).
  std::vector<double> legacy;
  std::optional<size_t> legacy_best;
  for (size_t i = 0; i < a.variants.size(); ++i) {
    AbVariantResult& v = a.variants[i];
    if (v.n == 0) continue;
    v.legacy_score = LegacyScore(*v.cost_usd.summary.mean, v.quality.summary.mean, *v.duration_ms.summary.mean);
    legacy.push_back(*v.legacy_score);
    if (v.successes > 0 && (!legacy_best || *v.legacy_score > *a.variants[*legacy_best].legacy_score)) legacy_best = i;
  }
  if (legacy_best) a.legacy_winner = a.variants[*legacy_best].variant_id;
  a.legacy_confidence = LegacyConfidence(legacy);
  return a;
}

}  // namespace comfyrun
