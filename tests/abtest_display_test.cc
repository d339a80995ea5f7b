// What a reader of an A/B result sees (abtest/results.h): a composite shown with an interval
// is the posterior median, always inside that interval; the observed composite is shown
// apart, labelled; the table's marks say what they are and have a legend.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "comfyrun/abtest/results.h"
#include "comfyrun/abtest/stats.h"
#include "comfyrun/report/report.h"
#include "support/abtest_vectors.h"

using namespace comfyrun;

namespace {

const Json& Vectors() { return comfyrun::testing::AbTestVectors(); }

AbRun Run(const std::string& id, int repeat, bool success, double seconds, double cost, std::optional<double> quality) {
  return comfyrun::testing::MakeAbRun(id, repeat, success, seconds, cost, quality);
}

struct Dataset {
  std::string name;
  std::vector<AbVariantInfo> variants;
  std::vector<AbRun> runs;
};

/// Variant `id` with `successes` of `n` runs; durations, costs and scores vary a little.
void AddCounts(Dataset* d, const std::string& id, int successes, int n) {
  d->variants.push_back({id, "wf-" + id});
  for (int i = 0; i < n; ++i)
    d->runs.push_back(Run(id, i, i < successes, 2.0 + 0.3 * i, 0.01 + 0.002 * (i % 3), 6.5 + 0.4 * (i % 4)));
}

/// Every data set of the reference vectors that a whole A/B test can be made of.
std::vector<Dataset> VectorDatasets() {
  std::vector<Dataset> out;
  for (const Json& v : Vectors()["vectors"]) {
    const std::string id = v["id"];
    const Json& in = v["input"];
    Dataset d;
    d.name = id;
    if (in.contains("runs")) {  // the §2.7 composite data (V14, V15)
      for (const auto& [name, r] : in["runs"].items()) {
        d.variants.push_back({name, r["workflowId"].get<std::string>()});
        for (size_t i = 0; i < r["success"].size(); ++i) {
          std::optional<double> q;
          if (!r["quality"][i].is_null()) q = r["quality"][i].get<double>();
          d.runs.push_back(Run(name, static_cast<int>(i), r["success"][i] == 1,
                               r["duration_ms"][i].get<double>() / 1000, r["cost_usd"][i].get<double>(), q));
        }
      }
    } else if (in.contains("successes_a")) {  // success counts (V5)
      AddCounts(&d, "A", in["successes_a"], in["n_a"]);
      AddCounts(&d, "B", in["successes_b"], in["n_b"]);
    } else if (in.contains("arms_successes_n")) {  // three arms (V11)
      int k = 0;
      for (const Json& arm : in["arms_successes_n"]) AddCounts(&d, std::string(1, char('A' + k++)), arm[0], arm[1]);
    } else if (in.contains("variant_runs")) {  // one run against several (V16)
      for (const auto& [name, n] : in["variant_runs"].items()) AddCounts(&d, name, n.get<int>(), n.get<int>());
    } else {
      continue;
    }
    out.push_back(std::move(d));
  }
  return out;
}

/// Random tests, many at 0% or 100% success, where the prior pulls the posterior away from
/// the observed rate: the case of the issue (`0.901 [0.411, 0.897]`).
std::vector<Dataset> RandomDatasets(int count) {
  std::mt19937_64 rng(20);
  auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * static_cast<double>(rng() >> 11) * 0x1p-53; };
  std::vector<Dataset> out;
  for (int t = 0; t < count; ++t) {
    Dataset d;
    d.name = "random " + std::to_string(t);
    int variants = 2 + static_cast<int>(rng() % 3);
    for (int v = 0; v < variants; ++v) {
      std::string id = "v" + std::to_string(v);
      d.variants.push_back({id, "wf"});
      int n = 2 + static_cast<int>(rng() % 6);
      double rate = rng() % 3 == 0 ? 1.0 : rng() % 3 == 0 ? 0.0 : uniform(0.3, 1.0);
      for (int i = 0; i < n; ++i)
        d.runs.push_back(Run(id, i, uniform(0, 1) < rate || rate == 1.0, uniform(1, 30), uniform(0, 0.2),
                             rng() % 4 == 0 ? std::nullopt : std::optional<double>(uniform(3, 10))));
    }
    out.push_back(std::move(d));
  }
  return out;
}

/// The composite column of a variant's table row: "0.812 [0.490,0.815]", or "-".
std::string CompositeCell(const std::string& table, const std::string& variant_id) {
  std::istringstream lines(table);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(variant_id + " ", 0) != 0) continue;
    size_t open = line.find(" [", line.find(']') + 1);  // the second bracket: the success column is first
    if (open == std::string::npos) return "-";
    size_t start = line.rfind(' ', open - 1) + 1;
    size_t close = line.find(']', open);
    return line.substr(start, close + 1 - start);
  }
  return "";
}

}  // namespace

TEST_SUITE("AbtestDisplay") {
  TEST_CASE("the composite shown with an interval lies inside it, in the table and the JSON") {
    std::vector<Dataset> sets = VectorDatasets();
    CHECK(sets.size() >= 8);  // V5 x4, V11, V14, V15, V16
    for (Dataset& d : RandomDatasets(60)) sets.push_back(std::move(d));
    int with_interval = 0, observed_outside = 0;
    for (const Dataset& d : sets) {
      CAPTURE(d.name);
      AbAnalysisOptions o;
      o.resamples = 2000;  // enough for the property; the vectors' own tests use 10,000
      const AbAnalysis a = AnalyzeAbTest(d.variants, d.runs, o);
      const Json j = AbResultJson("t", "", a);
      const std::string table = FormatAbTable("t", a);
      for (size_t i = 0; i < a.variants.size(); ++i) {
        const AbVariantResult& v = a.variants[i];
        CAPTURE(v.variant_id);
        const Json& c = j["variants"][i]["composite"];
        // Observed composite: kept as "mean" (older readers), and under its own name.
        CHECK(c["observed"] == c["mean"]);
        REQUIRE(v.composite_ci.has_value() == v.composite_median.has_value());
        if (!v.composite_ci) {
          CHECK(c["median"].is_null());
          CHECK(c["ci"].is_null());
          CHECK(CompositeCell(table, v.variant_id) == "-");
          continue;
        }
        ++with_interval;
        const double lo = v.composite_ci->first, hi = v.composite_ci->second;
        CHECK(lo <= *v.composite_median);
        CHECK(*v.composite_median <= hi);
        REQUIRE(c["median"].is_number());
        CHECK(c["ci"][0].get<double>() <= c["median"].get<double>());
        CHECK(c["median"].get<double>() <= c["ci"][1].get<double>());
        if (*v.composite < lo || *v.composite > hi) ++observed_outside;
        // The table's point and interval, as printed (rounding keeps the order).
        double point = 0, tlo = 0, thi = 0;
        const std::string cell = CompositeCell(table, v.variant_id);
        REQUIRE_MESSAGE(std::sscanf(cell.c_str(), "%lf [%lf,%lf]", &point, &tlo, &thi) == 3, cell);
        CHECK(tlo <= point);
        CHECK(point <= thi);
      }
    }
    CHECK(with_interval > 100);
    // The data sets include the case the issue reported: the observed composite outside its
    // interval. Were it shown with the interval, this test would catch it.
    CHECK(observed_outside > 0);
  }

  TEST_CASE("the table marks the baseline and the leader and explains them") {
    std::vector<AbRun> runs;
    for (int i = 0; i < 4; ++i) {
      runs.push_back(Run("base", i, i < 3, 10 + i, 0.05, 5));
      runs.push_back(Run("new", i, true, 8 + i, 0.04, 8));
    }
    const AbAnalysis a = AnalyzeAbTest({{"base", "wf"}, {"new", "wf"}}, runs);
    REQUIRE(a.winner == std::optional<std::string>("new"));
    const std::string table = FormatAbTable("t", a);
    CAPTURE(table);
    CHECK(table.find("\nbase (b) ") != std::string::npos);
    CHECK(table.find("\nnew * ") != std::string::npos);
    CHECK(table.find("(b) baseline:") != std::string::npos);
    CHECK(table.find("observed") != std::string::npos);
    CHECK(table.find("composite: posterior median [95% credible interval]") != std::string::npos);
    if (a.decision_status == "winner")
      CHECK(table.find("* winner:") != std::string::npos);
    else
      CHECK(table.find("* leader: the most likely best so far, not a winner") != std::string::npos);

    SUBCASE("a winner is called a winner") {
      std::vector<AbRun> clear;
      for (int i = 0; i < 12; ++i) {
        clear.push_back(Run("base", i, i % 3 == 0, 30 + i, 0.5, 2));
        clear.push_back(Run("new", i, true, 2 + 0.1 * i, 0.01, 9.5));
      }
      const AbAnalysis w = AnalyzeAbTest({{"base", "wf"}, {"new", "wf"}}, clear);
      REQUIRE(w.decision_status == "winner");
      const std::string t = FormatAbTable("t", w);
      CHECK(t.find("* winner:") != std::string::npos);
      CHECK(t.find("* leader:") == std::string::npos);
    }
  }

  TEST_CASE("the A/B report shows the posterior median with its interval and the observed composite apart") {
    std::vector<AbRun> runs;
    for (int i = 0; i < 4; ++i) {
      runs.push_back(Run("a", i, true, 2 + i, 0.01, 9));
      runs.push_back(Run("b", i, i < 2, 3 + i, 0.02, 6));
    }
    AbAnalysisOptions o;
    o.include_run_details = true;
    const AbAnalysis a = AnalyzeAbTest({{"a", "wf"}, {"b", "wf"}}, runs, o);
    const Json j = AbResultJson("t", "", a);
    std::string html, err;
    REQUIRE(AbTestReportHtml(j, "r.json", &html, &err));
    const Json& c = j["variants"][0]["composite"];
    auto fixed = [](const Json& v) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", v.get<double>());
      return std::string(buf);
    };
    // The table cell: median [lo, hi]; the observed value in its own column.
    CHECK(html.find(fixed(c["median"]) + "<br><span class=\"muted\">[" + fixed(c["ci"][0]) + ", " + fixed(c["ci"][1]) +
                    "]</span>") != std::string::npos);
    CHECK(html.find("title=\"mean composite of the runs\">Observed</th>") != std::string::npos);
    CHECK(html.find("class=\"observed\"") != std::string::npos);
    CHECK(html.find("observed " + fixed(c["observed"])) != std::string::npos);
    CHECK(html.find("a: posterior median " + fixed(c["median"])) != std::string::npos);

    SUBCASE("a result written before the median existed shows no point beside the interval") {
      Json old = j;
      for (Json& v : old["variants"]) {
        v["composite"].erase("median");
        v["composite"].erase("observed");
      }
      std::string page;
      REQUIRE(AbTestReportHtml(old, "r.json", &page, &err));
      CHECK(page.find(": posterior median ") == std::string::npos);  // no median point, no tooltip for one
      CHECK(page.find("observed " + fixed(c["observed"])) != std::string::npos);
    }
  }

}  // TEST_SUITE
