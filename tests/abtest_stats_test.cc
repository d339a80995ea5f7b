#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "comfyrun/abtest/results.h"
#include "comfyrun/abtest/stats.h"
#include "support/abtest_vectors.h"

using namespace comfyrun;

namespace {

// The reference vectors of docs/abtest.md (tests/data/abtest-vectors.json).
const Json& Vectors() { return comfyrun::testing::AbTestVectors(); }

// Every vector id of the file, each read by one of the test cases below.
const std::set<std::string> kVectorIds = {"welch_ttest_clickhouse_example",
                                          "welch_ttest_durations_unequal_n",
                                          "welch_ttest_quality_scores",
                                          "summary_odd_n",
                                          "summary_even_n",
                                          "beta_prob_b_gt_a_7of10_vs_9of10",
                                          "beta_prob_b_gt_a_3of4_vs_4of4",
                                          "beta_prob_b_gt_a_equal_5of10",
                                          "beta_prob_b_gt_a_4of5_vs_5of5",
                                          "beta_posterior_9of10",
                                          "beta_posterior_0of3",
                                          "beta_posterior_4of5",
                                          "mann_whitney_exact_no_ties",
                                          "mann_whitney_asymptotic_ties",
                                          "fisher_exact_9of10_vs_7of10",
                                          "p_adjust_holm_bh",
                                          "gaussian_chance_to_win_and_risk",
                                          "beta_prob_best_3_arms",
                                          "legacy_weighted_score",
                                          "bootstrap_percentile_diff_means_mt19937_64",
                                          "composite_plain_bayesian_bootstrap_PITFALL",
                                          "composite_hybrid_prob_best",
                                          "edge_insufficient_data",
                                          "edge_zero_variance"};

const Json& Vector(const std::string& id) {
  for (const Json& v : Vectors()["vectors"]) {
    if (v["id"] == id) {
      CHECK(kVectorIds.count(id) == 1);
      return v;
    }
  }
  FAIL("no vector " << id);
  static Json none;
  return none;
}

// Relative comparison at the file's tolerance (values stored to 10 significant digits).
constexpr double kRel = 1e-6;
bool Near(double actual, double expected, double rel = kRel) {
  if (std::isnan(actual)) return false;
  return std::fabs(actual - expected) <= rel * std::max(std::fabs(expected), 1e-300) ||
         std::fabs(actual - expected) <= 1e-15;
}
#define CHECK_NEAR(actual, expected) \
  CHECK_MESSAGE(Near((actual), (expected)), #actual << " = " << (actual) << ", expected " << (expected))
#define CHECK_NEAR_TOL(actual, expected, tol) \
  CHECK_MESSAGE(Near((actual), (expected), (tol)), #actual << " = " << (actual) << ", expected " << (expected))

std::vector<double> Doubles(const Json& j) { return j.get<std::vector<double>>(); }

// The 3-variant data of §2.7 (vectors V14/V15) as runner input.
struct ExampleData {
  std::vector<AbVariantInfo> variants;
  std::vector<AbRun> runs;
  std::vector<CompositeSample> samples;
};

ExampleData LoadExample(const Json& input) {
  ExampleData d;
  for (const auto& [id, v] : input["runs"].items()) {
    d.variants.push_back({id, v["workflowId"].get<std::string>()});
    CompositeSample s;
    bool first_success = true;
    for (size_t i = 0; i < v["success"].size(); ++i) {
      AbRun r;
      r.variant_id = id;
      r.repeat = static_cast<int>(i);
      r.success = v["success"][i] == 1;
      r.duration_seconds = v["duration_ms"][i].get<double>() / 1000;
      r.cost = v["cost_usd"][i].get<double>();
      if (!v["quality"][i].is_null()) r.quality = v["quality"][i].get<double>();
      r.outputs = Json::object();
      if (r.success && first_success) {
        r.outputs["note"] = "outputs of first successful run";
        first_success = false;
      }
      if (!r.success) r.error = "failed";
      d.runs.push_back(r);
      s.success.push_back(r.success ? 1 : 0);
      s.duration_ms.push_back(v["duration_ms"][i].get<double>());
      s.cost_usd.push_back(r.cost);
      s.quality.push_back(r.quality);
    }
    d.samples.push_back(std::move(s));
  }
  return d;
}

CompositeWeights Weights(const Json& w) {
  return {w["success"].get<double>(), w["quality"].get<double>(), w["cost"].get<double>(), w["duration"].get<double>()};
}

bool AllFinite(const Json& j) {
  if (j.is_number_float()) return std::isfinite(j.get<double>());
  if (j.is_structured()) {
    for (const auto& x : j) {
      if (!AllFinite(x)) return false;
    }
  }
  return true;
}

// expected (6 significant digits in example_report) must be reproduced by actual; actual may
// carry extra keys, but expected keys keep their relative order.
void CompareReport(const Json& actual, const Json& expected, const std::string& path) {
  if (expected.is_number()) {
    REQUIRE_MESSAGE(actual.is_number(), path << ": " << actual.dump());
    const double e = expected.get<double>(), a = actual.get<double>();
    CHECK_MESSAGE(Near(a, e, 5.01e-6), path << " = " << a << ", expected " << e);
  } else if (expected.is_object()) {
    REQUIRE_MESSAGE(actual.is_object(), path);
    int last = -1;
    for (const auto& [k, v] : expected.items()) {
      REQUIRE_MESSAGE(actual.contains(k), path << "." << k << " missing");
      int pos = 0;
      for (const auto& [ak, av] : actual.items()) {
        if (ak == k) break;
        ++pos;
      }
      CHECK_MESSAGE(pos > last, path << "." << k << " out of order");
      last = pos;
      CompareReport(actual[k], v, path + "." + k);
    }
  } else if (expected.is_array()) {
    REQUIRE_MESSAGE(actual.is_array(), path);
    REQUIRE_MESSAGE(actual.size() == expected.size(), path << " size " << actual.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      CompareReport(actual[i], expected[i], path + "[" + std::to_string(i) + "]");
    }
  } else {
    CHECK_MESSAGE(actual == expected, path << " = " << actual.dump() << ", expected " << expected.dump());
  }
}

AbRun Run(const std::string& id, bool success, double seconds, double cost,
          std::optional<double> quality = std::nullopt) {
  return comfyrun::testing::MakeAbRun(id, 0, success, seconds, cost, quality);
}

}  // namespace

TEST_SUITE("AbtestStats") {
  TEST_CASE("std::mt19937_64 and the spec's bit mappings are the reference ones") {
    std::mt19937_64 g;
    g.discard(9999);
    CHECK(g() == 9981545732273789042ULL);
    CHECK(IndexFromBits(~0ULL, 5) == 4);
    CHECK(IndexFromBits(0, 5) == 0);
    CHECK(Exp1FromBits(~0ULL) >= 0);  // (2^53-0.5)*2^-53 rounds to 1: -log(1) = -0
    CHECK(std::isfinite(Exp1FromBits(0)));
  }

  TEST_CASE("distribution functions invert each other") {
    for (double p : {1e-10, 0.001, 0.025, 0.3, 0.5, 0.8, 0.975, 0.999999}) {
      CHECK(NormalCdf(NormalQuantile(p)) == doctest::Approx(p).epsilon(1e-13));
      for (double df : {0.7, 1.0, 2.0, 3.799904002, 5.0, 30.0, 1e6}) {
        CHECK(StudentTCdf(StudentTQuantile(p, df), df) == doctest::Approx(p).epsilon(1e-12));
      }
      for (auto [a, b] : {std::pair{1.0, 4.0}, {6.0, 1.0}, {0.5, 0.5}, {50.0, 70.0}}) {
        // 1e-9: near x = 1, Beta(0.5, 0.5)'s CDF moves ~1e-11 per ulp of x.
        CHECK(BetaCdf(BetaQuantile(p, a, b), a, b) == doctest::Approx(p).epsilon(1e-9));
      }
    }
    // Known values: t_{0.975,5} = 2.5705818356 (ABTEST.md §2.1), Cauchy, normal.
    CHECK_NEAR_TOL(StudentTQuantile(0.975, 5), 2.570581835636314, 1e-13);
    CHECK_NEAR_TOL(StudentTQuantile(0.975, 1), 12.706204736174704, 1e-13);
    CHECK_NEAR_TOL(NormalQuantile(0.975), 1.959963984540054, 1e-14);
    // df = 3 closed form: F(t) = 1/2 + (u/(1+u²) + atan u)/π, u = t/√3; the tail keeps precision.
    CHECK_NEAR_TOL(StudentTCdf(-40, 3), 1.7190340394e-05, 1e-8);
    CHECK_NEAR_TOL(RegularizedIncompleteBeta(2, 3, 0.4), 0.5248, 1e-13);
  }

  TEST_CASE("V1-V3 Welch t-tests") {
    for (const char* id :
         {"welch_ttest_clickhouse_example", "welch_ttest_durations_unequal_n", "welch_ttest_quality_scores"}) {
      CAPTURE(id);
      const Json& v = Vector(id);
      const Json& e = v["expected"];
      const WelchResult r =
          WelchTTest(Doubles(v["input"]["a"]), Doubles(v["input"]["b"]), v["input"]["alpha"].get<double>());
      REQUIRE(r.error.empty());
      CHECK_NEAR(r.mean_a, e["mean_a"].get<double>());
      CHECK_NEAR(r.mean_b, e["mean_b"].get<double>());
      CHECK_NEAR(r.var_a, e["var_a"].get<double>());
      CHECK_NEAR(r.var_b, e["var_b"].get<double>());
      CHECK_NEAR(r.diff, e["diff_mean_a_minus_b"].get<double>());
      CHECK_NEAR(r.se, e["se"].get<double>());
      CHECK_NEAR(r.t, e["t"].get<double>());
      CHECK_NEAR(r.df, e["df"].get<double>());
      CHECK_NEAR(r.p, e["p_two_sided"].get<double>());
      CHECK_NEAR(r.t_crit, e["t_crit_975"].get<double>());
      CHECK_NEAR(r.ci.first, e["ci95_diff"][0].get<double>());
      CHECK_NEAR(r.ci.second, e["ci95_diff"][1].get<double>());
      CHECK_NEAR(r.prob_a_gt_b_t, e["prob_a_gt_b_t_approx"].get<double>());
      CHECK_NEAR(r.prob_a_gt_b_normal, e["prob_a_gt_b_normal_approx"].get<double>());
      if (v.contains("cross_check")) {  // ClickHouse's full-precision values
        const Json& x = v["cross_check"];
        CHECK_NEAR_TOL(r.t, x["t"].get<double>(), 1e-12);
        CHECK_NEAR_TOL(r.p, x["p"].get<double>(), 1e-9);
        CHECK_NEAR_TOL(r.ci.first, x["ci95"][0].get<double>(), 1e-9);
        CHECK_NEAR_TOL(r.ci.second, x["ci95"][1].get<double>(), 1e-9);
      }
    }
  }

  TEST_CASE("V4 summaries") {
    for (const char* id : {"summary_odd_n", "summary_even_n"}) {
      CAPTURE(id);
      const Json& v = Vector(id);
      const Json& e = v["expected"];
      const SampleSummary s = Summarize(Doubles(v["input"]["x"]), 1 - v["input"]["alpha"].get<double>());
      CHECK(s.n == e["n"].get<int>());
      CHECK_NEAR(*s.mean, e["mean"].get<double>());
      CHECK_NEAR(*s.sd, e["sd"].get<double>());
      CHECK_NEAR(*s.median, e["median"].get<double>());
      CHECK_NEAR(*s.min, e["min"].get<double>());
      CHECK_NEAR(*s.max, e["max"].get<double>());
      CHECK_NEAR(StudentTQuantile(0.975, s.n - 1), e["t_crit_975"].get<double>());
      CHECK_NEAR(s.ci->first, e["ci95_mean_t"][0].get<double>());
      CHECK_NEAR(s.ci->second, e["ci95_mean_t"][1].get<double>());
    }
  }

  TEST_CASE("V5 Beta-Binomial P(pB > pA), V6 Beta posteriors, V11 P(best)") {
    for (const char* id : {"beta_prob_b_gt_a_7of10_vs_9of10", "beta_prob_b_gt_a_3of4_vs_4of4",
                           "beta_prob_b_gt_a_equal_5of10", "beta_prob_b_gt_a_4of5_vs_5of5"}) {
      CAPTURE(id);
      const Json& v = Vector(id);
      const Json& in = v["input"];
      const BetaPosterior a = SuccessPosterior(in["successes_a"], in["n_a"]);
      const BetaPosterior b = SuccessPosterior(in["successes_b"], in["n_b"]);
      CHECK(a.alpha == v["expected"]["posterior_a"][0].get<double>());
      CHECK(a.beta == v["expected"]["posterior_a"][1].get<double>());
      CHECK(b.alpha == v["expected"]["posterior_b"][0].get<double>());
      CHECK(b.beta == v["expected"]["posterior_b"][1].get<double>());
      CHECK_NEAR(ProbBetaGreater(a.alpha, a.beta, b.alpha, b.beta), v["expected"]["prob_b_gt_a"].get<double>());
      // Quadrature (BetaProbBest with two arms) agrees with the closed form.
      CHECK_NEAR_TOL(BetaProbBest({{a.alpha, a.beta}, {b.alpha, b.beta}})[1],
                     v["expected"]["quadrature_check"].get<double>(), 1e-9);
    }
    for (const char* id : {"beta_posterior_9of10", "beta_posterior_0of3", "beta_posterior_4of5"}) {
      CAPTURE(id);
      const Json& v = Vector(id);
      const Json& e = v["expected"];
      const BetaPosterior p = SuccessPosterior(v["input"]["successes"], v["input"]["n"]);
      CHECK(p.alpha == e["alpha"].get<double>());
      CHECK(p.beta == e["beta"].get<double>());
      CHECK_NEAR(p.mean, e["mean"].get<double>());
      CHECK_NEAR(p.ci.first, e["ci95"][0].get<double>());
      CHECK_NEAR(p.ci.second, e["ci95"][1].get<double>());
    }
    const Json& v = Vector("beta_prob_best_3_arms");
    std::vector<std::pair<double, double>> posts;
    for (const Json& arm : v["input"]["arms_successes_n"]) {
      const BetaPosterior p = SuccessPosterior(arm[0], arm[1]);
      posts.push_back({p.alpha, p.beta});
    }
    const std::vector<double> best = BetaProbBest(posts);
    for (size_t i = 0; i < best.size(); ++i) {
      CHECK(posts[i].first == v["expected"]["posteriors"][i][0].get<double>());
      CHECK_NEAR_TOL(best[i], v["expected"]["prob_best"][i].get<double>(), 1e-9);
    }
  }

  TEST_CASE("V7 Mann-Whitney U, exact and asymptotic") {
    {
      const Json& v = Vector("mann_whitney_exact_no_ties");
      const MannWhitneyResult r = MannWhitneyU(Doubles(v["input"]["x"]), Doubles(v["input"]["y"]));
      CHECK(r.method == v["expected"]["method"]);
      CHECK_NEAR(r.u_x, v["expected"]["U_x"].get<double>());
      CHECK_NEAR(r.u_y, v["expected"]["U_y"].get<double>());
      CHECK_NEAR(r.p, v["expected"]["p_two_sided"].get<double>());
    }
    {
      const Json& v = Vector("mann_whitney_asymptotic_ties");
      const MannWhitneyResult r = MannWhitneyU(Doubles(v["input"]["x"]), Doubles(v["input"]["y"]));
      CHECK(r.method == v["expected"]["method"]);
      CHECK_NEAR(r.u_x, v["expected"]["U_x"].get<double>());
      CHECK_NEAR(*r.z, v["expected"]["z"].get<double>());
      CHECK_NEAR(*r.sd, v["expected"]["tie_corrected_sd"].get<double>());
      CHECK_NEAR(r.p, v["expected"]["p_two_sided"].get<double>());
    }
    // Floor on p (§2.2 table) and the exact distribution at that floor.
    CHECK_NEAR_TOL(MannWhitneyMinP(2, 2), 1.0 / 3, 1e-12);
    CHECK_NEAR_TOL(MannWhitneyMinP(3, 3), 0.1, 1e-12);
    CHECK_NEAR_TOL(MannWhitneyMinP(4, 4), 2.0 / 70, 1e-12);
    CHECK_NEAR_TOL(MannWhitneyMinP(5, 5), 2.0 / 252, 1e-12);
    CHECK_NEAR_TOL(MannWhitneyU({1, 2, 3}, {4, 5, 6}).p, 0.1, 1e-12);
    // One tiny arm against a large one stays exact and cheap.
    std::vector<double> big;
    for (int i = 0; i < 300; ++i) big.push_back(i + 0.5);
    const MannWhitneyResult r = MannWhitneyU({1000, 1001}, big);
    CHECK(r.method == "exact");
    CHECK_NEAR_TOL(r.p, 2.0 / (302.0 * 301 / 2), 1e-9);
  }

  TEST_CASE("V8 Fisher exact, V9 Holm and BH, V10 Gaussian chance to win, V12 legacy score") {
    {
      const Json& v = Vector("fisher_exact_9of10_vs_7of10");
      const Json& t = v["input"]["table"];
      const FisherResult r = FisherExact(t[0][0], t[0][1], t[1][0], t[1][1]);
      CHECK_NEAR(*r.odds_ratio, v["expected"]["odds_ratio"].get<double>());
      CHECK_NEAR(r.p, v["expected"]["p_two_sided"].get<double>());
      CHECK(FisherExact(5, 0, 4, 1).p == doctest::Approx(1.0));
      CHECK(!FisherExact(5, 0, 4, 0).odds_ratio);
    }
    {
      const Json& v = Vector("p_adjust_holm_bh");
      const std::vector<double> p = Doubles(v["input"]["p"]);
      const std::vector<double> holm = AdjustPValues(p, PAdjust::kHolm);
      const std::vector<double> bh = AdjustPValues(p, PAdjust::kBenjaminiHochberg);
      for (size_t i = 0; i < p.size(); ++i) {
        CHECK_NEAR(holm[i], v["expected"]["holm"][i].get<double>());
        CHECK_NEAR(bh[i], v["expected"]["bh"][i].get<double>());
      }
      CHECK(AdjustPValues(p, PAdjust::kNone) == p);
    }
    {
      const Json& v = Vector("gaussian_chance_to_win_and_risk");
      const Json& e = v["expected"];
      const GaussianCtw g = GaussianChanceToWin(v["input"]["mu_abs_diff_treatment_minus_control"], v["input"]["sigma"]);
      CHECK_NEAR(g.chance_to_win, e["chance_to_win"].get<double>());
      CHECK_NEAR(g.risk_control, e["risk_control"].get<double>());
      CHECK_NEAR(g.risk_treatment, e["risk_treatment"].get<double>());
      CHECK_NEAR(g.ci.first, e["ci95_normal"][0].get<double>());
      CHECK_NEAR(g.ci.second, e["ci95_normal"][1].get<double>());
      // The t version is the Welch comparison of the same data (treatment = a).
      const WelchResult w = WelchTTest(Doubles(v["input"]["treatment"]), Doubles(v["input"]["control"]));
      CHECK_NEAR(w.prob_a_gt_b_t, e["chance_to_win_t_df_welch"].get<double>());
      CHECK_NEAR(w.diff, v["input"]["mu_abs_diff_treatment_minus_control"].get<double>());
    }
    {
      const Json& v = Vector("legacy_weighted_score");
      std::vector<double> scores;
      for (const Json& x : v["input"]["variants"]) {
        std::optional<double> q;
        if (!x["quality"].is_null()) q = x["quality"].get<double>();
        scores.push_back(LegacyScore(x["cost"], q, x["duration_ms"]));
      }
      for (size_t i = 0; i < scores.size(); ++i) CHECK_NEAR(scores[i], v["expected"]["scores"][i].get<double>());
      CHECK_NEAR(LegacyConfidence(scores), v["expected"]["legacy_confidence"].get<double>());
    }
  }

  TEST_CASE("V13 percentile bootstrap over mt19937_64") {
    const Json& v = Vector("bootstrap_percentile_diff_means_mt19937_64");
    const Json& in = v["input"];
    const auto r = BootstrapDiffMeans(Doubles(in["a"]), Doubles(in["b"]), in["n_resamples"], in["seed"].get<uint64_t>(),
                                      in["level"]);
    REQUIRE(r);
    CHECK_NEAR(r->ci.first, v["expected"]["ci95"][0].get<double>());
    CHECK_NEAR(r->ci.second, v["expected"]["ci95"][1].get<double>());
    CHECK(r->prob_diff_gt_0 == v["expected"]["prob_diff_gt_0"].get<double>());
    CHECK_NEAR(r->min_diff, v["expected"]["min_diff"].get<double>());
    CHECK_NEAR(r->max_diff, v["expected"]["max_diff"].get<double>());
  }

  TEST_CASE("V14 hybrid and V15 plain composite posteriors, bit for bit") {
    for (const char* id : {"composite_hybrid_prob_best", "composite_plain_bayesian_bootstrap_PITFALL"}) {
      CAPTURE(id);
      const Json& v = Vector(id);
      const Json& in = v["input"];
      const Json& e = v["expected"];
      const bool hybrid = std::string(id) == "composite_hybrid_prob_best";
      const ExampleData d = LoadExample(in);
      // Reference values are the pooled medians (V15 states them; V14 gives them as input).
      std::vector<double> costs, durations;
      for (const CompositeSample& s : d.samples) {
        costs.insert(costs.end(), s.cost_usd.begin(), s.cost_usd.end());
        durations.insert(durations.end(), s.duration_ms.begin(), s.duration_ms.end());
      }
      const double ref_cost = Summarize(costs).median.value();
      const double ref_dur = Summarize(durations).median.value();
      CHECK_NEAR(ref_cost, hybrid ? in["refCost"].get<double>() : e["refCost"].get<double>());
      CHECK_NEAR(ref_dur, hybrid ? in["refDuration"].get<double>() : e["refDuration"].get<double>());
      const CompositePosteriorResult r = CompositePosterior(
          d.samples, Weights(in["weights"]), ref_cost, ref_dur, in["n_resamples"], in["seed"].get<uint64_t>(), 0,
          hybrid ? PosteriorMethod::kBetaBayesianBootstrap : PosteriorMethod::kPlainBayesianBootstrap);
      const Json& mean = hybrid ? e["composite_mean_observed"] : e["composite_mean"];
      const Json& ci = hybrid ? e["composite_ci95"] : e["composite_ci95_bayesboot"];
      const Json& beats = hybrid ? e["prob_beats_baseline_A"] : v["prob_beats_baseline_A"];
      for (size_t i = 0; i < d.variants.size(); ++i) {
        const std::string& name = d.variants[i].variant_id;
        CAPTURE(name);
        CHECK_NEAR(r.observed[i], mean[name].get<double>());
        CHECK(r.prob_best[i] == doctest::Approx(e["prob_best"][name].get<double>()).epsilon(1e-12));
        CHECK(r.prob_beats_baseline[i] == doctest::Approx(beats[name].get<double>()).epsilon(1e-12));
        CHECK_NEAR(r.expected_loss[i], e["expected_loss"][name].get<double>());
        CHECK_NEAR(r.ci[i].first, ci[name][0].get<double>());
        CHECK_NEAR(r.ci[i].second, ci[name][1].get<double>());
        if (!hybrid) {
          const Json& u = e["per_run_utility"][name];
          const CompositeSample& s = d.samples[i];
          double qsum = 0;
          int qn = 0;
          for (size_t k = 0; k < s.quality.size(); ++k) {
            if (s.success[k] && s.quality[k]) qsum += *s.quality[k], ++qn;
          }
          for (size_t k = 0; k < u.size(); ++k) {
            CHECK_NEAR(RunUtility(Weights(in["weights"]), s.success[k], s.cost_usd[k], s.duration_ms[k], s.quality[k],
                                  qsum / qn, ref_cost, ref_dur),
                       u[k].get<double>());
          }
        }
      }
    }
  }

  TEST_CASE("the example report of ABTEST.md §5.5 is reproduced") {
    const Json& expected = Vectors()["example_report"];
    const ExampleData d = LoadExample(Vector("composite_hybrid_prob_best")["input"]);
    const AbAnalysis a = AnalyzeAbTest(d.variants, d.runs);
    const Json actual = AbResultJson(expected["testId"], expected["description"], a);
    CompareReport(actual, expected, "$");
    CHECK(AllFinite(actual));
    CHECK(actual.dump().find("NaN") == std::string::npos);
    // The table names every variant, marks the leader and states the decision.
    const std::string table = FormatAbTable("example-3-variants", a);
    CHECK(table.find("B *") != std::string::npos);
    CHECK(table.find("low_sample") != std::string::npos);
    CHECK(table.find("decision: inconclusive, leader B") != std::string::npos);
  }

  TEST_CASE("V16 edge: a variant with one run is insufficient data") {
    const Json& v = Vector("edge_insufficient_data");
    std::vector<AbRun> runs;
    for (const auto& [id, n] : v["input"]["variant_runs"].items()) {
      for (int i = 0; i < n.get<int>(); ++i) runs.push_back(Run(id, true, 1.0 + 0.1 * i, 0.01, 7 + 0.2 * i));
    }
    const AbAnalysis a = AnalyzeAbTest({{"A", "wf-a"}, {"B", "wf-b"}}, runs);
    CHECK(a.decision_status == v["expected"]["status"]);
    CHECK(a.confidence == v["expected"]["confidence"].get<double>());
    CHECK(!a.posterior_computed);
    REQUIRE(a.winner);  // leader by point estimate, informational
    const Json j = AbResultJson("edge", "", a);
    CHECK(AllFinite(j));
    CHECK(j["variants"][0]["status"] == "insufficient_data");
    CHECK(j["variants"][0]["probabilityOfBest"].is_null());
    CHECK(j["variants"][0]["metrics"]["durationMs"]["sd"].is_null());
    CHECK(j["variants"][0]["metrics"]["durationMs"]["mean"] == 1000.0);
    CHECK(j["variants"][0]["successRate"]["posterior"]["alpha"] == 2.0);
    CHECK(j["comparisons"][0]["durationMs"]["error"] == "INSUFFICIENT_DATA");
    CHECK(j["comparisons"][0]["composite"]["error"] == "INSUFFICIENT_DATA");
    CHECK(j["comparisons"][0]["durationMs"]["p"].is_null());
    const std::string reason = v["expected"]["reason"];
    bool found = false;
    for (const Json& r : j["decision"]["reasons"]) found |= r == reason;
    CHECK_MESSAGE(found, j["decision"]["reasons"].dump());
    CHECK(j["warnings"][0]["code"] == "INSUFFICIENT_DATA");
  }

  TEST_CASE("V16 edge: constant samples give ZERO_VARIANCE") {
    const Json& v = Vector("edge_zero_variance");
    const std::vector<double> a = Doubles(v["input"]["a"]);
    const WelchResult eq = WelchTTest(a, Doubles(v["input"]["b_equal"]));
    const WelchResult sh = WelchTTest(a, Doubles(v["input"]["b_shifted"]));
    CHECK(eq.error == v["expected"]["error"]);
    CHECK(sh.error == v["expected"]["error"]);
    CHECK(eq.diff == v["expected"]["diff_mean_a_minus_b"]["equal"].get<double>());
    CHECK(sh.diff == v["expected"]["diff_mean_a_minus_b"]["shifted"].get<double>());
    // Values that are equal but not exactly representable still count as constant.
    CHECK(WelchTTest({0.1, 0.1, 0.1}, {0.1, 0.1, 0.1}).error == "ZERO_VARIANCE");
    // Only one variance zero: well-defined, df = n-1 of the other sample.
    const WelchResult one = WelchTTest({5, 5, 5}, {4, 5, 6, 7});
    CHECK(one.error.empty());
    CHECK(one.df == doctest::Approx(3));
  }

  TEST_CASE("every reference vector is exercised") {
    std::set<std::string> in_file;
    for (const Json& v : Vectors()["vectors"]) in_file.insert(v["id"].get<std::string>());
    CHECK(in_file == kVectorIds);
    CHECK(Vectors()["vectors"].size() == 24);
  }

  TEST_CASE("edge cases: one variant, zero successes, all equal, empty") {
    SUBCASE("one variant") {
      std::vector<AbRun> runs;
      for (int i = 0; i < 4; ++i) runs.push_back(Run("only", true, 2 + i, 0.01 * i, 6 + i));
      const AbAnalysis a = AnalyzeAbTest({{"only", "wf"}}, runs);
      CHECK(a.decision_status == "insufficient_data");
      CHECK(a.winner == std::optional<std::string>("only"));
      CHECK(a.confidence == 0);
      CHECK(a.comparisons.empty());
      const Json j = AbResultJson("one", "", a);
      CHECK(AllFinite(j));
      CHECK(j["legacy"]["confidence"] == 0.0);
      CHECK(!FormatAbTable("one", a).empty());
    }
    SUBCASE("a variant that always fails") {
      std::vector<AbRun> runs;
      for (int i = 0; i < 5; ++i) {
        runs.push_back(Run("good", true, 3 + 0.1 * i, 0.02, 7 + 0.3 * i));
        AbRun bad = Run("bad", false, 3 + 0.2 * i, 0.02);  // failed calls still cost
        bad.error = "boom";
        runs.push_back(bad);
      }
      const AbAnalysis a = AnalyzeAbTest({{"good", "wf1"}, {"bad", "wf2"}}, runs);
      const Json j = AbResultJson("fail", "", a);
      CHECK(AllFinite(j));
      CHECK(j["variants"][1]["success"] == false);
      CHECK(j["variants"][1]["qualityScore"].is_null());
      CHECK(j["variants"][1]["metrics"]["quality"]["coverage"].is_null());
      CHECK(j["variants"][1]["successRate"]["rate"] == 0.0);
      CHECK(j["winner"] == "good");
      // Quality is missing for "bad", so it is dropped from the composite for everyone.
      CHECK(j["analysis"]["composite"]["qualityIncluded"] == false);
      std::set<std::string> codes;
      for (const Json& w : j["warnings"]) codes.insert(w["code"]);
      CHECK(codes.count("NO_SUCCESSFUL_RUNS") == 1);
      CHECK(codes.count("QUALITY_EXCLUDED") == 1);
      CHECK(j["comparisons"][0]["successRate"]["probBetter"].get<double>() < 0.01);
      CHECK(a.variants[0].prob_best.value() > 0.95);
    }
    SUBCASE("all runs identical") {
      std::vector<AbRun> runs;
      for (int i = 0; i < 3; ++i) {
        runs.push_back(Run("x", true, 2, 0.01, 7));
        runs.push_back(Run("y", true, 2, 0.01, 7));
      }
      const AbAnalysis a = AnalyzeAbTest({{"x", "wf"}, {"y", "wf"}}, runs);
      const Json j = AbResultJson("same", "", a);
      CHECK(AllFinite(j));
      CHECK(j["comparisons"][0]["durationMs"]["error"] == "ZERO_VARIANCE");
      CHECK(j["comparisons"][0]["durationMs"]["diff"] == 0.0);
      CHECK(j["comparisons"][0]["quality"]["error"] == "ZERO_VARIANCE");
      CHECK(j["variants"][0]["probabilityOfBest"].get<double>() == doctest::Approx(0.5).epsilon(0.05));
      CHECK(j["decision"]["status"] == "inconclusive");
      std::set<std::string> codes;
      for (const Json& w : j["warnings"]) codes.insert(w["code"]);
      CHECK(codes.count("ZERO_VARIANCE") == 1);
      CHECK(codes.count("MWU_CANNOT_REACH_ALPHA") == 1);  // 3 vs 3: p >= 0.1
    }
    SUBCASE("no runs at all, and zero costs") {
      const AbAnalysis empty = AnalyzeAbTest({{"a", "wf"}, {"b", "wf"}}, {});
      const Json j = AbResultJson("none", "", empty);
      CHECK(AllFinite(j));
      CHECK(j["winner"].is_null());
      CHECK(j["confidence"] == 0.0);
      CHECK(j["variants"][0]["successRate"]["rate"].is_null());
      CHECK(j["variants"][0]["duration"].is_null());
      // Offline runs cost 0: the cost term is dropped and the weights renormalised.
      std::vector<AbRun> runs;
      for (int i = 0; i < 3; ++i) {
        runs.push_back(Run("a", true, 1 + i, 0, 5 + i));
        runs.push_back(Run("b", true, 2 + i, 0, 6 + i));
      }
      const AbAnalysis a = AnalyzeAbTest({{"a", "wf"}, {"b", "wf"}}, runs);
      CHECK(a.weights.cost == 0);
      CHECK(a.weights.success + a.weights.quality + a.weights.duration == doctest::Approx(1));
      CHECK(a.ref_cost_usd == 0.0);
      CHECK(AllFinite(AbResultJson("free", "", a)));
    }
    SUBCASE("NaN inputs do not leak into the result") {
      std::vector<AbRun> runs;
      for (int i = 0; i < 3; ++i) {
        runs.push_back(Run("a", true, std::nan(""), 0.01, std::nan("")));
        runs.push_back(Run("b", true, 1, std::numeric_limits<double>::infinity(), 8));
      }
      const Json j = AbResultJson("nan", "", AnalyzeAbTest({{"a", "wf"}, {"b", "wf"}}, runs));
      CHECK(AllFinite(j));
      CHECK(j["variants"][0]["qualityScore"].is_null());
    }
  }

  TEST_CASE("a variant with no successful run is never the winner") {
    // Fast, free failures against slow, costly successes: with the success weight at 0 the
    // posterior favours the failing variant, yet it must not win (product decision).
    std::vector<AbRun> runs;
    for (int i = 0; i < 5; ++i) {
      runs.push_back(Run("slow", true, 100 + i, 1 + 0.1 * i));
      runs.push_back(Run("broken", false, 0.1 + 0.01 * i, 0.001 * (i + 1)));
    }
    AbAnalysisOptions o;
    o.weights = {0, 0.4, 0.35, 0.25};
    const AbAnalysis a = AnalyzeAbTest({{"slow", "wf"}, {"broken", "wf"}}, runs, o);
    REQUIRE(a.posterior_computed);
    CHECK(a.variants[1].prob_best.value() > 0.9);
    CHECK(a.winner == std::optional<std::string>("slow"));
    CHECK(a.confidence == doctest::Approx(a.variants[0].prob_best.value()));
    CHECK(a.decision_status == "inconclusive");
    CHECK(a.legacy_winner == std::optional<std::string>("slow"));
    bool reason = false;
    for (const auto& r : a.decision_reasons) reason |= r.find("broken has no successful run") != std::string::npos;
    CHECK(reason);

    SUBCASE("without a posterior the observed composite does not make it win either") {
      const AbAnalysis one = AnalyzeAbTest({{"slow", "wf"}, {"broken", "wf"}}, {runs[0], runs[1]}, o);
      CHECK(!one.posterior_computed);
      CHECK(one.winner == std::optional<std::string>("slow"));
    }
    SUBCASE("when nothing succeeded there is no winner") {
      std::vector<AbRun> failed;
      for (int i = 0; i < 3; ++i) {
        failed.push_back(Run("a", false, 1 + i, 0));
        failed.push_back(Run("b", false, 2 + i, 0));
      }
      const AbAnalysis none = AnalyzeAbTest({{"a", "wf"}, {"b", "wf"}}, failed);
      CHECK(!none.winner);
      CHECK(none.confidence == 0);
      CHECK(!none.legacy_winner);
      const Json j = AbResultJson("none", "", none);
      CHECK(j["winner"].is_null());
      CHECK(AllFinite(j));
    }
  }

  TEST_CASE("probability of being best is seeded and reproducible") {
    const ExampleData d = LoadExample(Vector("composite_hybrid_prob_best")["input"]);
    AbAnalysisOptions o;
    o.seed = 7;
    const AbAnalysis a1 = AnalyzeAbTest(d.variants, d.runs, o);
    const AbAnalysis a2 = AnalyzeAbTest(d.variants, d.runs, o);
    o.seed = 8;
    const AbAnalysis a3 = AnalyzeAbTest(d.variants, d.runs, o);
    bool any_diff = false;
    for (size_t i = 0; i < a1.variants.size(); ++i) {
      CHECK(*a1.variants[i].prob_best == *a2.variants[i].prob_best);
      CHECK(*a1.variants[i].expected_loss == *a2.variants[i].expected_loss);
      any_diff |= *a1.variants[i].prob_best != *a3.variants[i].prob_best;
      // Monte Carlo error at B = 10^4 is at most 0.005 per estimate.
      CHECK(std::fabs(*a1.variants[i].prob_best - *a3.variants[i].prob_best) < 0.03);
    }
    CHECK(any_diff);
    CHECK(AbResultJson("t", "", a1).dump() == AbResultJson("t", "", a2).dump());
    CHECK(AbResultJson("t", "", a3)["analysis"]["probabilityOfBest"]["seed"] == 8);
  }

  TEST_CASE("result JSON keeps the older system's fields and types") {
    const ExampleData d = LoadExample(Vector("composite_hybrid_prob_best")["input"]);
    AbAnalysisOptions o;
    o.include_run_details = true;
    const Json j = AbResultJson("shape", "desc", AnalyzeAbTest(d.variants, d.runs, o));
    CHECK(j["testId"] == "shape");
    CHECK(j["description"] == "desc");
    CHECK(j["schemaVersion"] == 2);
    CHECK(j["winner"].is_string());
    CHECK(j["confidence"].is_number());
    REQUIRE(j["variants"].size() == 3);
    for (const Json& v : j["variants"]) {
      CHECK(v["variantId"].is_string());
      CHECK(v["workflowId"].is_string());
      CHECK(v["success"].is_boolean());
      CHECK(v["duration"].is_number());
      CHECK(v["cost"].is_number());
      CHECK(v["qualityScore"].is_number());
      CHECK(v["outputs"].is_object());
      CHECK(v["runDetails"].size() == v["runs"].get<size_t>());
    }
    CHECK(j["variants"][0]["runDetails"][3]["error"] == "failed");
    CHECK(j["variants"][0]["runDetails"][3]["qualityScore"].is_null());
    CHECK(j["comparisons"].size() == 2);
    CHECK(j["legacy"]["scores"].size() == 3);
  }

}  // TEST_SUITE
