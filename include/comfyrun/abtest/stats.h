#pragma once
// A/B test statistics for workflow variants (issue 7; docs/abtest.md explains them to users). Pure code: no
// engine dependency. The runner hands over one AbRun per executed run; AnalyzeAbTest turns
// them into per-variant summaries, pairwise comparisons against the baseline, the composite
// score with its posterior (probability of being best), a decision and warnings. results.h
// turns an AbAnalysis into the result JSON (schema version 2) and a terminal table.
//
// Every distribution function here is implemented in this module (no Boost): regularized
// incomplete beta by continued fraction, Student t and Beta quantiles by safeguarded Newton,
// normal quantile by Acklam + Halley. Accuracy is ~1e-13 relative in the ranges used; the
// tests reproduce tests/data/abtest-vectors.json at 1e-6 and its Monte Carlo values bit for bit.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "comfyrun/core/json.h"

namespace comfyrun {

// ---------------------------------------------------------------------------------------------
// Input from the runner.

/// One executed run of one variant. duration_seconds and cost count for failed runs too.
/// quality is the run's score on the 0-10 scale, if the test defines one; it is only used
/// for successful runs. Non-finite numbers are treated as missing (quality) or 0 (others).
struct AbRun {
  std::string variant_id;
  int repeat = 0;
  bool success = false;
  double duration_seconds = 0;
  double cost = 0;
  std::optional<double> quality;
  Json outputs;
  std::string error;
};

struct AbVariantInfo {
  std::string variant_id;
  std::string workflow_id;
};

// ---------------------------------------------------------------------------------------------
// Distributions (ABTEST.md §4).

/// Standard normal CDF Φ(z), via erfc (accurate in both tails).
double NormalCdf(double z);
/// Φ⁻¹(p) for 0 < p < 1 (Acklam's rational approximation refined by one Halley step).
double NormalQuantile(double p);
/// Regularized incomplete beta I_x(a, b), a, b > 0, 0 <= x <= 1 (continued fraction, §2.1).
double RegularizedIncompleteBeta(double a, double b, double x);
/// Student t CDF F_t(t; df) for real df > 0 (needed for Welch's fractional df, §2.1).
double StudentTCdf(double t, double df);
/// Student t quantile F_t⁻¹(p; df): Newton on StudentTCdf, matches Boost to ~1e-14 (§2.1).
double StudentTQuantile(double p, double df);
/// Beta(a, b) CDF.
double BetaCdf(double x, double a, double b);
/// Beta(a, b) quantile (equal-tailed posterior intervals, §2.5).
double BetaQuantile(double p, double a, double b);
/// Linear-interpolation quantile of sorted data (numpy default, Hyndman–Fan type 7, §4).
double QuantileType7(const std::vector<double>& sorted, double p);

// ---------------------------------------------------------------------------------------------
// Small-sample methods (ABTEST.md §2, §4).

/// Summary of one sample (§4 "Summary"). sd and ci are set only when n >= 2; mean, median,
/// min and max only when n >= 1. ci = mean ± t_{1-α/2, n-1}·sd/√n.
struct SampleSummary {
  int n = 0;
  std::optional<double> mean, median, min, max, sd;
  std::optional<std::pair<double, double>> ci;
};
SampleSummary Summarize(const std::vector<double>& x, double ci_level = 0.95);

/// Welch's t-test of a against b (§2.1), diff = mean(a) − mean(b). error is "" on success,
/// "INSUFFICIENT_DATA" when either sample has n < 2, "ZERO_VARIANCE" when both variances are
/// 0; then only the means and diff are meaningful (the rest is 0).
struct WelchResult {
  std::string error;
  double mean_a = 0, mean_b = 0, var_a = 0, var_b = 0, diff = 0;
  double se = 0, t = 0, df = 0, p = 0, t_crit = 0;
  std::pair<double, double> ci{0, 0};
  double prob_a_gt_b_t = 0;       ///< F_t(t; df): t-approximate P(μa > μb) (§1.2 caveat)
  double prob_a_gt_b_normal = 0;  ///< Φ(t): GrowthBook's normal version
};
WelchResult WelchTTest(const std::vector<double>& a, const std::vector<double>& b, double alpha = 0.05);

/// Mann–Whitney U, two-sided (§2.2), with SciPy 1.10's method='auto' choice: exact when
/// min(n_x, n_y) <= 8 and there are no ties (and n_x·n_y <= 250000), else normal approximation
/// with tie correction and continuity correction. u_x counts pairs x > y plus ½ per tie.
struct MannWhitneyResult {
  std::string error;  ///< "INSUFFICIENT_DATA" when a sample is empty
  double u_x = 0, u_y = 0, p = 1;
  std::string method;        ///< "exact" | "asymptotic"
  std::optional<double> z;   ///< asymptotic only
  std::optional<double> sd;  ///< asymptotic only: tie-corrected σ_U
};
MannWhitneyResult MannWhitneyU(const std::vector<double>& x, const std::vector<double>& y);
/// Smallest two-sided p the exact test can reach: 2 / C(n_x + n_y, n_x) (§2.2 "Floor on p").
double MannWhitneyMinP(int n_x, int n_y);

/// Fisher's exact test on [[a, b], [c, d]], two-sided (§4). odds_ratio is ad/bc, absent when
/// it is not finite.
struct FisherResult {
  std::optional<double> odds_ratio;
  double p = 1;
};
FisherResult FisherExact(int a, int b, int c, int d);

/// Beta(prior + s, prior + n − s) posterior of a success rate (§2.5).
struct BetaPosterior {
  double alpha = 1, beta = 1, mean = 0.5;
  std::pair<double, double> ci{0, 1};
};
BetaPosterior SuccessPosterior(int successes, int n, double ci_level = 0.95, double prior_alpha = 1,
                               double prior_beta = 1);
/// P(p_B > p_A) for pA ~ Beta(a_a, b_a), pB ~ Beta(a_b, b_b) (§2.5, Evan Miller's closed form
/// for integer a_b; numerical integration otherwise).
double ProbBetaGreater(double a_a, double b_a, double a_b, double b_b);
/// P(arm i has the largest rate) = ∫ f_i Π_{j≠i} F_j dx for Beta posteriors (§2.5), by
/// composite Gauss–Legendre quadrature (exact for integer parameters up to high degree).
std::vector<double> BetaProbBest(const std::vector<std::pair<double, double>>& posteriors);

/// GrowthBook's normal-posterior chance to win and risk for an effect ~ N(mu, sigma²) (§4).
struct GaussianCtw {
  double chance_to_win = 0.5, risk_treatment = 0, risk_control = 0;
  std::pair<double, double> ci{0, 0};
};
GaussianCtw GaussianChanceToWin(double mu, double sigma, double ci_level = 0.95);

enum class PAdjust { kNone, kHolm, kBenjaminiHochberg };
/// Holm step-down or Benjamini–Hochberg step-up adjusted p-values, in input order (§4, §1.6).
std::vector<double> AdjustPValues(const std::vector<double>& p, PAdjust method);
const char* PAdjustName(PAdjust method);

/// Percentile bootstrap CI of mean(b) − mean(a) (§2.3, §4): fresh std::mt19937_64(seed); each
/// iteration draws n_a indices for a, then n_b for b, idx = (uint128(x)·n) >> 64.
struct BootstrapResult {
  std::pair<double, double> ci{0, 0};
  double prob_diff_gt_0 = 0, min_diff = 0, max_diff = 0;
};
std::optional<BootstrapResult> BootstrapDiffMeans(const std::vector<double>& a, const std::vector<double>& b,
                                                  int resamples, uint64_t seed, double level = 0.95);

/// The spec's RNG mapping (§2.7 "Reproducibility"): Exp(1) = −log(((x>>11)+0.5)·2⁻⁵³).
double Exp1FromBits(uint64_t x);
/// idx = (uint128(x)·n) >> 64.
uint64_t IndexFromBits(uint64_t x, uint64_t n);

/// Old score 0.3/(cost+1) + 0.5·quality(default 5) + 0.2/(duration_s+1) (§0, vector V12).
double LegacyScore(double cost_usd, std::optional<double> quality, double duration_ms);
/// (best − second)/best over legacy scores; 0 with fewer than 2 scores or best <= 0.
double LegacyConfidence(const std::vector<double>& scores);

// ---------------------------------------------------------------------------------------------
// Composite score and probability of being best (ABTEST.md §2.7).

struct CompositeWeights {
  double success = 0.25, quality = 0.40, cost = 0.20, duration = 0.15;
};

/// Per-variant data for the composite posterior, runs in recorded order.
struct CompositeSample {
  std::vector<int> success;                    ///< 0/1 per run
  std::vector<double> duration_ms, cost_usd;   ///< per run
  std::vector<std::optional<double>> quality;  ///< per run; used for successful runs only
};

/// u = w_s·s + w_q·s·q/10 + w_c/(1 + c/c_ref) + w_d/(1 + d/d_ref) (§2.7). A weight of 0 drops
/// its term (how a zero reference or excluded quality is applied); weights must already be
/// normalised. q is the run's score, else `impute_quality`.
double RunUtility(const CompositeWeights& w, bool success, double cost_usd, double duration_ms,
                  std::optional<double> quality, double impute_quality, double ref_cost_usd, double ref_duration_ms);

enum class PosteriorMethod {
  kBetaBayesianBootstrap,   ///< recommended hybrid (§2.7)
  kPlainBayesianBootstrap,  ///< the pitfall of §2.7 (vector V15); kept for comparison only
};

struct CompositePosteriorResult {
  std::vector<double> observed;               ///< mean per-run utility per variant
  std::vector<double> prob_best;              ///< ties shared equally
  std::vector<double> prob_beats_baseline;    ///< P(C_i > C_baseline), strict
  std::vector<double> expected_loss;          ///< E[max_j C_j − C_i]
  std::vector<std::pair<double, double>> ci;  ///< type-7 quantiles of the draws
  /// The draws' median (type 7): the point to show with `ci`. `observed` may lie outside
  /// `ci`: at a 0% or 100% observed success rate the Beta prior pulls the draws toward 0.5.
  std::vector<double> median;
  std::vector<std::vector<double>> draws;  ///< [variant][resample]; kept for bandit use
};
/// Draws `resamples` posterior composites per variant with a fresh std::mt19937_64(seed):
/// for each draw, for each variant in order: p = X/(X+Y) (X, Y sums of s+1 and f+1 Exp(1)),
/// then Bayesian-bootstrap weights over the scored successful runs (quality, skipped when
/// w.quality = 0), then over all runs (cost/duration term). Reproduces vectors V14/V15 bit
/// for bit with glibc's log().
CompositePosteriorResult CompositePosterior(const std::vector<CompositeSample>& variants, const CompositeWeights& w,
                                            double ref_cost_usd, double ref_duration_ms, int resamples, uint64_t seed,
                                            size_t baseline_index, PosteriorMethod method, double ci_level = 0.95);

// ---------------------------------------------------------------------------------------------
// Whole-test analysis (ABTEST.md §5).

struct AbAnalysisOptions {
  std::string baseline_variant_id;  ///< "" = the first variant
  double alpha = 0.05;
  double ci_level = 0.95;
  int min_runs_per_variant = 2;
  int low_sample_threshold = 5;
  double winner_threshold = 0.95;
  PAdjust correction = PAdjust::kHolm;
  CompositeWeights weights;
  std::optional<double> ref_cost_usd;     ///< --cost-ref; default pooled median
  std::optional<double> ref_duration_ms;  ///< --latency-ref; default pooled median
  int resamples = 10000;
  uint64_t seed = 42;
  bool adaptive = false;  ///< runs were allocated by a bandit: adds ADAPTIVE_SAMPLING
  bool include_run_details = false;
};

struct AbWarning {
  std::string code;
  std::vector<std::string> variant_ids;
  std::string metric;   ///< "" = none
  std::string message;  ///< "" = none
};

struct AbMetricSummary {
  SampleSummary summary;
  std::optional<double> coverage;  ///< quality only: scored / successful runs
};

struct AbVariantResult {
  std::string variant_id, workflow_id;
  int n = 0, successes = 0;
  std::string status;  ///< "ok" | "low_sample" | "insufficient_data"
  bool eligible = false;
  std::optional<double> rate;
  BetaPosterior posterior;
  AbMetricSummary duration_ms, cost_usd, quality;
  std::optional<double> composite;  ///< observed mean per-run utility
  /// Posterior median and interval of the composite; set together, when P(best) is computed.
  /// Show the median with the interval, never `composite` (it may lie outside the interval).
  std::optional<double> composite_median;
  std::optional<std::pair<double, double>> composite_ci;
  std::optional<double> prob_best, expected_loss;
  std::optional<double> legacy_score;
  Json outputs = Json::object();
  std::vector<AbRun> runs;        ///< copies of this variant's runs, recorded order
  std::vector<double> utilities;  ///< per-run u
};

/// One Welch comparison block of a metric (§5.3). Present fields depend on the metric.
struct AbMetricComparison {
  std::string metric;  ///< "durationMs" | "costUsd" | "quality" | "composite"
  bool lower_is_better = false;
  WelchResult welch;
  std::optional<double> diff, rel_diff;
  std::optional<double> p_adjusted;
  std::optional<MannWhitneyResult> mann_whitney;  ///< duration and cost
  std::optional<double> mw_p_adjusted;
  std::optional<BootstrapResult> bootstrap;  ///< duration and cost
  std::optional<double> prob_better;         ///< composite: posterior P(beats baseline)
};

struct AbComparison {
  std::string variant_id, baseline_variant_id;
  std::optional<double> rate_diff;
  double prob_better_success = 0.5;
  FisherResult fisher;
  double fisher_p_adjusted = 1;
  std::vector<AbMetricComparison> metrics;  ///< durationMs, costUsd, quality, composite
};

struct AbAnalysis {
  AbAnalysisOptions options;
  std::string baseline_variant_id;
  CompositeWeights weights;  ///< effective (after dropping terms and renormalising)
  std::optional<double> ref_cost_usd, ref_duration_ms;
  std::string ref_rule;
  bool quality_included = false;
  bool posterior_computed = false;
  std::vector<AbVariantResult> variants;
  std::vector<AbComparison> comparisons;
  /// The eligible variant with the highest P(best) among those with at least one successful
  /// run (without a posterior: the highest observed composite among them). A variant with no
  /// successful run is never the winner; null when no variant succeeded.
  std::optional<std::string> winner;
  double confidence = 0;
  std::string decision_status;  ///< "winner" | "inconclusive" | "insufficient_data"
  std::vector<std::string> decision_reasons;
  std::vector<AbWarning> warnings;
  std::optional<std::string> legacy_winner;
  double legacy_confidence = 0;
  int total_runs = 0, total_successes = 0;
};

/// Analyses the runs of an A/B test. Runs whose variant_id is not in `variants` are ignored
/// (counted in an UNKNOWN_VARIANT warning). Never throws; every number it produces is finite.
AbAnalysis AnalyzeAbTest(const std::vector<AbVariantInfo>& variants, const std::vector<AbRun>& runs,
                         const AbAnalysisOptions& options = {});

}  // namespace comfyrun
