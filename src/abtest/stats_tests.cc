// A/B statistics, part 2 of 3 (stats.h): sample summaries, Welch, Mann-Whitney, Fisher, the
// success-rate posterior, the Gaussian chance to win, p-value adjustment, the bootstrap, the
// legacy score and the composite posterior.
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

SampleSummary Summarize(const std::vector<double>& x, double ci_level) {
  SampleSummary s;
  s.n = static_cast<int>(x.size());
  if (x.empty()) return s;
  const double mean = Mean(x);
  s.mean = mean;
  s.median = Median(x);
  s.min = *std::min_element(x.begin(), x.end());
  s.max = *std::max_element(x.begin(), x.end());
  if (x.size() >= 2) {
    const double sd = std::sqrt(Variance(x, mean));
    s.sd = sd;
    const double half = StudentTQuantile(1 - (1 - ci_level) / 2, s.n - 1) * sd / std::sqrt(s.n);
    s.ci = std::make_pair(mean - half, mean + half);
  }
  return s;
}

WelchResult WelchTTest(const std::vector<double>& a, const std::vector<double>& b, double alpha) {
  WelchResult r;
  if (!a.empty()) r.mean_a = Mean(a);
  if (!b.empty()) r.mean_b = Mean(b);
  r.diff = r.mean_a - r.mean_b;
  if (a.size() < 2 || b.size() < 2) {
    r.error = "INSUFFICIENT_DATA";
    return r;
  }
  r.var_a = Variance(a, r.mean_a);
  r.var_b = Variance(b, r.mean_b);
  const double va = r.var_a / a.size(), vb = r.var_b / b.size();
  if (va + vb <= 0) {
    r.error = "ZERO_VARIANCE";
    return r;
  }
  r.se = std::sqrt(va + vb);
  r.t = r.diff / r.se;
  r.df = (va + vb) * (va + vb) / (va * va / (a.size() - 1.0) + vb * vb / (b.size() - 1.0));
  r.p = std::min(1.0, 2 * StudentTCdf(-std::fabs(r.t), r.df));
  r.t_crit = StudentTQuantile(1 - alpha / 2, r.df);
  r.ci = {r.diff - r.t_crit * r.se, r.diff + r.t_crit * r.se};
  r.prob_a_gt_b_t = StudentTCdf(r.t, r.df);
  r.prob_a_gt_b_normal = NormalCdf(r.t);
  return r;
}

double MannWhitneyMinP(int n_x, int n_y) {
  // 2 / C(n_x + n_y, n_x), via logs to stay finite.
  if (n_x <= 0 || n_y <= 0) return 1;
  const double log_c = std::lgamma(n_x + n_y + 1.0) - std::lgamma(n_x + 1.0) - std::lgamma(n_y + 1.0);
  return std::min(1.0, 2 * std::exp(-log_c));
}

MannWhitneyResult MannWhitneyU(const std::vector<double>& x, const std::vector<double>& y) {
  MannWhitneyResult r;
  const size_t nx = x.size(), ny = y.size();
  if (nx == 0 || ny == 0) {
    r.error = "INSUFFICIENT_DATA";
    return r;
  }
  double u = 0;
  for (double a : x) {
    for (double b : y) u += a > b ? 1.0 : (a == b ? 0.5 : 0.0);
  }
  r.u_x = u;
  r.u_y = double(nx) * double(ny) - u;
  const double big_u = std::max(r.u_x, r.u_y);

  std::vector<double> all(x);
  all.insert(all.end(), y.begin(), y.end());
  std::sort(all.begin(), all.end());
  double tie_term = 0;
  bool ties = false;
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j] == all[i]) ++j;
    const double t = double(j - i);
    if (t > 1) ties = true;
    tie_term += t * t * t - t;
    i = j;
  }

  // SciPy's rule; the extra size cap only keeps the O(m²n²) recursion cheap for lopsided
  // samples far beyond A/B sizes (8 vs 30000), where the normal approximation is excellent.
  if (!(nx > 8 && ny > 8) && !ties && double(nx) * double(ny) <= 250000) {
    r.method = "exact";
    // Distribution of U for sizes (m, n) by the recursion on which sample holds the largest
    // value, kept as probabilities (all terms positive, no overflow). m = the smaller size.
    const size_t m = std::min(nx, ny), n = std::max(nx, ny);
    std::vector<std::vector<double>> col(m + 1, std::vector<double>{1.0});  // (i, j = 0)
    for (size_t j = 1; j <= n; ++j) {
      std::vector<std::vector<double>> next(m + 1);
      next[0] = {1.0};
      for (size_t i = 1; i <= m; ++i) {
        std::vector<double> dist(i * j + 1, 0.0);
        const double wa = double(i) / double(i + j), wb = double(j) / double(i + j);
        const auto& from_a = next[i - 1];  // largest is from the m-sample: beats all j
        for (size_t k = 0; k < from_a.size(); ++k) dist[k + j] += wa * from_a[k];
        const auto& from_b = col[i];  // largest is from the n-sample
        for (size_t k = 0; k < from_b.size(); ++k) dist[k] += wb * from_b[k];
        next[i] = std::move(dist);
      }
      col = std::move(next);
    }
    const auto& dist = col[m];
    const size_t k0 = static_cast<size_t>(std::ceil(big_u));
    double sf = 0;
    for (size_t k = k0; k < dist.size(); ++k) sf += dist[k];
    r.p = std::clamp(2 * sf, 0.0, 1.0);
    return r;
  }
  r.method = "asymptotic";
  const double total = double(nx + ny);
  const double mu = double(nx) * double(ny) / 2;
  const double var = double(nx) * double(ny) / 12 * ((total + 1) - tie_term / (total * (total - 1)));
  const double sd = var > 0 ? std::sqrt(var) : 0;
  r.sd = sd;
  if (sd <= 0) {
    r.z = 0;
    r.p = 1;
    return r;
  }
  const double z = (big_u - mu - 0.5) / sd;
  r.z = z;
  r.p = std::clamp(2 * NormalCdf(-z), 0.0, 1.0);
  return r;
}

FisherResult FisherExact(int a, int b, int c, int d) {
  FisherResult r;
  a = std::max(a, 0), b = std::max(b, 0), c = std::max(c, 0), d = std::max(d, 0);
  const double ad = double(a) * d, bc = double(b) * c;
  if (bc > 0) r.odds_ratio = ad / bc;
  const int row = a + b, col = a + c, total = a + b + c + d;
  if (total == 0 || row == 0 || col == 0 || row == total || col == total) {
    r.p = 1;
    return r;
  }
  const auto log_choose = [](int n, int k) {
    return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0);
  };
  const auto pmf = [&](int k) {
    return std::exp(log_choose(col, k) + log_choose(total - col, row - k) - log_choose(total, row));
  };
  const double p_obs = pmf(a);
  const int k_lo = std::max(0, row + col - total), k_hi = std::min(row, col);
  double p = 0;
  for (int k = k_lo; k <= k_hi; ++k) {
    const double pk = pmf(k);
    if (pk <= p_obs * (1 + 1e-7)) p += pk;
  }
  r.p = std::min(1.0, p);
  return r;
}

BetaPosterior SuccessPosterior(int successes, int n, double ci_level, double prior_alpha, double prior_beta) {
  BetaPosterior post;
  successes = std::clamp(successes, 0, std::max(n, 0));
  post.alpha = prior_alpha + successes;
  post.beta = prior_beta + std::max(n, 0) - successes;
  post.mean = post.alpha / (post.alpha + post.beta);
  const double tail = (1 - ci_level) / 2;
  post.ci = {BetaQuantile(tail, post.alpha, post.beta), BetaQuantile(1 - tail, post.alpha, post.beta)};
  return post;
}

GaussianCtw GaussianChanceToWin(double mu, double sigma, double ci_level) {
  GaussianCtw g;
  if (!(sigma > 0) || !std::isfinite(mu)) return g;
  const double z = mu / sigma;
  const double phi = std::exp(-0.5 * z * z) / std::sqrt(2 * kPi);
  g.chance_to_win = NormalCdf(z);
  g.risk_treatment = sigma * phi - mu * NormalCdf(-z);
  g.risk_control = sigma * phi + mu * NormalCdf(z);
  const double zq = NormalQuantile(1 - (1 - ci_level) / 2);
  g.ci = {mu - zq * sigma, mu + zq * sigma};
  return g;
}

const char* PAdjustName(PAdjust method) {
  switch (method) {
    case PAdjust::kNone:
      return "none";
    case PAdjust::kHolm:
      return "holm";
    case PAdjust::kBenjaminiHochberg:
      return "bh";
  }
  return "none";
}

std::vector<double> AdjustPValues(const std::vector<double>& p, PAdjust method) {
  const size_t m = p.size();
  std::vector<double> out(p);
  if (m == 0 || method == PAdjust::kNone) return out;
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return p[x] < p[y]; });
  if (method == PAdjust::kHolm) {
    double running = 0;
    for (size_t j = 0; j < m; ++j) {
      running = std::max(running, std::min(1.0, double(m - j) * p[order[j]]));
      out[order[j]] = running;
    }
  } else {
    double running = 1;
    for (size_t j = m; j-- > 0;) {
      running = std::min(running, std::min(1.0, double(m) * p[order[j]] / double(j + 1)));
      out[order[j]] = running;
    }
  }
  return out;
}

double Exp1FromBits(uint64_t x) { return -std::log((static_cast<double>(x >> 11) + 0.5) * 0x1p-53); }

uint64_t IndexFromBits(uint64_t x, uint64_t n) {
  __extension__ typedef unsigned __int128 U128;  // GCC/Clang; the spec's uint128(x)·n
  return static_cast<uint64_t>((static_cast<U128>(x) * n) >> 64);
}

std::optional<BootstrapResult> BootstrapDiffMeans(const std::vector<double>& a, const std::vector<double>& b,
                                                  int resamples, uint64_t seed, double level) {
  if (a.empty() || b.empty() || resamples < 1) return std::nullopt;
  std::mt19937_64 rng(seed);
  std::vector<double> diffs(resamples);
  for (int it = 0; it < resamples; ++it) {
    double sa = 0, sb = 0;
    for (size_t i = 0; i < a.size(); ++i) sa += a[IndexFromBits(rng(), a.size())];
    for (size_t i = 0; i < b.size(); ++i) sb += b[IndexFromBits(rng(), b.size())];
    diffs[it] = sb / double(b.size()) - sa / double(a.size());
  }
  BootstrapResult r;
  r.prob_diff_gt_0 = double(std::count_if(diffs.begin(), diffs.end(), [](double d) { return d > 0; })) / resamples;
  std::sort(diffs.begin(), diffs.end());
  r.min_diff = diffs.front();
  r.max_diff = diffs.back();
  const double tail = (1 - level) / 2;
  r.ci = {QuantileType7(diffs, tail), QuantileType7(diffs, 1 - tail)};
  return r;
}

double LegacyScore(double cost_usd, std::optional<double> quality, double duration_ms) {
  return 0.3 / (cost_usd + 1) + 0.5 * quality.value_or(5.0) + 0.2 / (duration_ms / 1000 + 1);
}

double LegacyConfidence(const std::vector<double>& scores) {
  if (scores.size() < 2) return 0;
  std::vector<double> s(scores);
  std::sort(s.begin(), s.end(), std::greater<>());
  if (!(s[0] > 0)) return 0;
  return (s[0] - s[1]) / s[0];
}

// ---------------------------------------------------------------------------------------------

double RunUtility(const CompositeWeights& w, bool success, double cost_usd, double duration_ms,
                  std::optional<double> quality, double impute_quality, double ref_cost_usd, double ref_duration_ms) {
  const double s = success ? 1 : 0;
  double u = w.success * s;
  if (w.quality > 0) u += w.quality * s * quality.value_or(impute_quality) / 10;
  if (w.cost > 0 && ref_cost_usd > 0) u += w.cost / (1 + cost_usd / ref_cost_usd);
  if (w.duration > 0 && ref_duration_ms > 0) u += w.duration / (1 + duration_ms / ref_duration_ms);
  return u;
}

CompositePosteriorResult CompositePosterior(const std::vector<CompositeSample>& variants, const CompositeWeights& w,
                                            double ref_cost_usd, double ref_duration_ms, int resamples, uint64_t seed,
                                            size_t baseline_index, PosteriorMethod method, double ci_level) {
  const size_t k = variants.size();
  CompositePosteriorResult r;
  r.observed.assign(k, 0.0);
  r.prob_best.assign(k, 0.0);
  r.prob_beats_baseline.assign(k, 0.0);
  r.expected_loss.assign(k, 0.0);
  r.ci.assign(k, {0.0, 0.0});
  r.median.assign(k, 0.0);
  r.draws.assign(k, std::vector<double>(std::max(resamples, 0)));
  if (k == 0 || resamples < 1) return r;

  // Per-variant precomputation: per-run utilities (observed composite, plain method), the
  // cost/duration term per run, and the scored successful qualities.
  struct Prep {
    std::vector<double> u, cd, q;
    int s = 0, f = 0;
  };
  std::vector<Prep> prep(k);
  for (size_t v = 0; v < k; ++v) {
    const CompositeSample& cs = variants[v];
    Prep& p = prep[v];
    const size_t n = cs.success.size();
    double qsum = 0;
    for (size_t i = 0; i < n; ++i) {
      const bool ok = cs.success[i] != 0;
      ok ? ++p.s : ++p.f;
      if (ok && i < cs.quality.size() && cs.quality[i]) {
        p.q.push_back(*cs.quality[i]);
        qsum += *cs.quality[i];
      }
    }
    const double impute = p.q.empty() ? 0 : qsum / double(p.q.size());
    for (size_t i = 0; i < n; ++i) {
      const std::optional<double> q = i < cs.quality.size() ? cs.quality[i] : std::nullopt;
      p.u.push_back(RunUtility(w, cs.success[i] != 0, cs.cost_usd[i], cs.duration_ms[i], q, impute, ref_cost_usd,
                               ref_duration_ms));
      CompositeWeights cd_only{0, 0, w.cost, w.duration};
      p.cd.push_back(RunUtility(cd_only, false, cs.cost_usd[i], cs.duration_ms[i], std::nullopt, 0, ref_cost_usd,
                                ref_duration_ms));
    }
    r.observed[v] = p.u.empty() ? 0 : Mean(p.u);
  }

  std::mt19937_64 rng(seed);
  const auto exp1 = [&rng] { return Exp1FromBits(rng()); };
  const auto bayes_boot = [&](const std::vector<double>& values) {
    double sw = 0, sum = 0;
    for (double v : values) {
      const double e = exp1();
      sw += e;
      sum += e * v;
    }
    return sw > 0 ? sum / sw : 0.0;
  };
  for (int it = 0; it < resamples; ++it) {
    for (size_t v = 0; v < k; ++v) {
      const Prep& p = prep[v];
      double c;
      if (method == PosteriorMethod::kPlainBayesianBootstrap) {
        c = bayes_boot(p.u);
      } else {
        double x = 0, y = 0;
        for (int i = 0; i < p.s + 1; ++i) x += exp1();
        for (int i = 0; i < p.f + 1; ++i) y += exp1();
        const double rate = x / (x + y);
        const double q = w.quality > 0 ? bayes_boot(p.q) : 0.0;
        const double t = bayes_boot(p.cd);
        c = w.success * rate + w.quality * rate * q / 10 + t;
      }
      r.draws[v][it] = c;
    }
  }

  for (int it = 0; it < resamples; ++it) {
    double best = -std::numeric_limits<double>::infinity();
    for (size_t v = 0; v < k; ++v) best = std::max(best, r.draws[v][it]);
    int ties = 0;
    for (size_t v = 0; v < k; ++v) ties += r.draws[v][it] == best;
    for (size_t v = 0; v < k; ++v) {
      const double c = r.draws[v][it];
      if (c == best) r.prob_best[v] += 1.0 / ties;
      r.expected_loss[v] += best - c;
      if (baseline_index < k && c > r.draws[baseline_index][it]) r.prob_beats_baseline[v] += 1;
    }
  }
  const double tail = (1 - ci_level) / 2;
  for (size_t v = 0; v < k; ++v) {
    r.prob_best[v] /= resamples;
    r.expected_loss[v] /= resamples;
    r.prob_beats_baseline[v] /= resamples;
    std::vector<double> sorted(r.draws[v]);
    std::sort(sorted.begin(), sorted.end());
    r.ci[v] = {QuantileType7(sorted, tail), QuantileType7(sorted, 1 - tail)};
    // Same draws, same interpolation: a quantile is monotone in p, so the median lies inside
    // the interval (the observed composite need not: see CompositePosteriorResult).
    r.median[v] = QuantileType7(sorted, 0.5);
  }
  return r;
}

}  // namespace comfyrun
