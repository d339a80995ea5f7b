#include "comfyrun/abtest/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include <fmt/format.h>

namespace comfyrun {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kTiny = 1e-300;
constexpr double kEps = 1e-16;

double LogBeta(double a, double b) { return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b); }

// Continued fraction for the incomplete beta (modified Lentz), valid for x < (a+1)/(a+b+2).
double BetaContinuedFraction(double a, double b, double x) {
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 20000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1) < 1e-16) break;
  }
  return h;
}

// I_x(a,b) and 1 − I_x(a,b), each computed without cancellation when it is the small one.
// y must be 1 − x, passed separately so callers can supply it exactly.
std::pair<double, double> IncompleteBetaPair(double a, double b, double x, double y) {
  if (x <= 0) return {0, 1};
  if (y <= 0) return {1, 0};
  const double log_front = a * std::log(x) + b * std::log(y) - LogBeta(a, b);
  if (x < (a + 1) / (a + b + 2)) {
    const double i = std::exp(log_front) * BetaContinuedFraction(a, b, x) / a;
    return {i, 1 - i};
  }
  const double ic = std::exp(log_front) * BetaContinuedFraction(b, a, y) / b;
  return {1 - ic, ic};
}

double StudentTPdf(double t, double df) {
  return std::exp(std::lgamma((df + 1) / 2) - std::lgamma(df / 2) - 0.5 * std::log(df * kPi) -
                  (df + 1) / 2 * std::log1p(t * t / df));
}

// Upper tail P(T > t) for t >= 0.
double StudentTUpper(double t, double df) {
  const double t2 = t * t;
  const auto [i, ic] = IncompleteBetaPair(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
  (void)ic;
  return 0.5 * i;
}

double BetaPdf(double x, double a, double b) {
  if (x <= 0 || x >= 1) {
    if (x == 0 && a == 1) return std::exp(-LogBeta(a, b));
    if (x == 1 && b == 1) return std::exp(-LogBeta(a, b));
    return 0;
  }
  return std::exp((a - 1) * std::log(x) + (b - 1) * std::log1p(-x) - LogBeta(a, b));
}

// Safeguarded Newton for an increasing function f on [lo, hi] with f(lo) <= 0 <= f(hi).
template <typename F, typename D>
double SolveIncreasing(F f, D deriv, double lo, double hi, double x) {
  if (!(x > lo && x < hi)) x = 0.5 * (lo + hi);
  for (int i = 0; i < 400; ++i) {
    const double fx = f(x);
    if (fx == 0) return x;
    if (fx < 0) lo = x; else hi = x;
    const double dx = deriv(x);
    double next = (dx > 0 && std::isfinite(dx)) ? x - fx / dx : std::nan("");
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (std::fabs(next - x) <= 4 * kEps * std::fabs(x) || hi - lo <= 4 * kEps * std::fabs(x)) {
      return next;
    }
    x = next;
  }
  return x;
}

// Gauss–Legendre nodes and weights on [-1, 1] (Newton on P_n, as in Numerical Recipes gauleg).
struct GaussLegendre {
  std::vector<double> x, w;
  explicit GaussLegendre(int n) : x(n), w(n) {
    for (int i = 0; i < (n + 1) / 2; ++i) {
      double z = std::cos(kPi * (i + 0.75) / (n + 0.5)), pp = 0;
      for (int it = 0; it < 100; ++it) {
        double p1 = 1, p2 = 0;
        for (int j = 1; j <= n; ++j) {
          const double p3 = p2;
          p2 = p1;
          p1 = ((2.0 * j - 1) * z * p2 - (j - 1.0) * p3) / j;
        }
        pp = n * (z * p1 - p2) / (z * z - 1);
        const double z1 = z;
        z = z1 - p1 / pp;
        if (std::fabs(z - z1) < 1e-16) break;
      }
      x[i] = -z;
      x[n - 1 - i] = z;
      w[i] = w[n - 1 - i] = 2 / ((1 - z * z) * pp * pp);
    }
  }
};

// ∫₀¹ f(x) dx by composite 20-point Gauss–Legendre on 256 panels.
template <typename F>
double IntegrateUnit(F f) {
  static const GaussLegendre gl(20);
  constexpr int kPanels = 256;
  double total = 0;
  for (int p = 0; p < kPanels; ++p) {
    const double a = double(p) / kPanels, half = 0.5 / kPanels, mid = a + half;
    double s = 0;
    for (size_t i = 0; i < gl.x.size(); ++i) s += gl.w[i] * f(mid + half * gl.x[i]);
    total += s * half;
  }
  return total;
}

double Mean(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

// Sample variance (n−1); exactly 0 for a constant sample.
double Variance(const std::vector<double>& x, double mean) {
  if (x.size() < 2) return 0;
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  if (*lo == *hi) return 0;
  double s = 0;
  for (double v : x) s += (v - mean) * (v - mean);
  return s / static_cast<double>(x.size() - 1);
}

double Median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const size_t n = x.size();
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

double Finite(double v) { return std::isfinite(v) ? v : 0; }

}  // namespace

// ---------------------------------------------------------------------------------------------

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double NormalQuantile(double p) {
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  constexpr double kLow = 0.02425;
  double x;
  if (p < kLow) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - kLow) {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // Halley refinement; the error term uses the smaller tail to avoid cancellation.
  for (int i = 0; i < 2; ++i) {
    const double e = p < 0.5 ? NormalCdf(x) - p : (1 - p) - NormalCdf(-x);
    const double u = e * std::sqrt(2 * kPi) * std::exp(x * x / 2);
    x = x - u / (1 + x * u / 2);
  }
  return x;
}

double RegularizedIncompleteBeta(double a, double b, double x) {
  if (!(a > 0 && b > 0) || std::isnan(x)) return std::nan("");
  return IncompleteBetaPair(a, b, x, 1 - x).first;
}

double StudentTCdf(double t, double df) {
  if (std::isnan(t) || !(df > 0)) return std::nan("");
  if (std::isinf(df)) return NormalCdf(t);
  if (std::isinf(t)) return t > 0 ? 1 : 0;
  const double upper = StudentTUpper(std::fabs(t), df);
  return t >= 0 ? 1 - upper : upper;
}

double StudentTQuantile(double p, double df) {
  if (std::isnan(p) || !(df > 0)) return std::nan("");
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  if (p == 0.5) return 0;
  if (p < 0.5) return -StudentTQuantile(1 - p, df);
  if (std::isinf(df)) return NormalQuantile(p);
  const double q = 1 - p;  // target upper tail
  const double z = NormalQuantile(p);
  double x = z + (z * z * z + z) / (4 * df) +
             (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * df * df);
  if (!(x > 0) || !std::isfinite(x)) x = 1;
  double hi = x;
  while (StudentTUpper(hi, df) > q && hi < 1e300) hi *= 2;
  // f(t) = q − upper(t) increases with t.
  return SolveIncreasing([&](double t) { return q - StudentTUpper(t, df); },
                         [&](double t) { return StudentTPdf(t, df); }, 0, hi, std::min(x, hi));
}

double BetaCdf(double x, double a, double b) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return IncompleteBetaPair(a, b, x, 1 - x).first;
}

double BetaQuantile(double p, double a, double b) {
  if (std::isnan(p) || !(a > 0 && b > 0)) return std::nan("");
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  const auto pdf = [&](double x) { return BetaPdf(x, a, b); };
  if (p <= 0.5) {
    return SolveIncreasing([&](double x) { return IncompleteBetaPair(a, b, x, 1 - x).first - p; },
                           pdf, 0, 1, a / (a + b));
  }
  const double q = 1 - p;
  return SolveIncreasing([&](double x) { return q - IncompleteBetaPair(a, b, x, 1 - x).second; },
                         pdf, 0, 1, a / (a + b));
}

double QuantileType7(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return std::nan("");
  const double h = (static_cast<double>(sorted.size()) - 1) * p;
  const size_t lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
}

// ---------------------------------------------------------------------------------------------

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
        const auto& from_b = col[i];       // largest is from the n-sample
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

BetaPosterior SuccessPosterior(int successes, int n, double ci_level, double prior_alpha,
                               double prior_beta) {
  BetaPosterior post;
  successes = std::clamp(successes, 0, std::max(n, 0));
  post.alpha = prior_alpha + successes;
  post.beta = prior_beta + std::max(n, 0) - successes;
  post.mean = post.alpha / (post.alpha + post.beta);
  const double tail = (1 - ci_level) / 2;
  post.ci = {BetaQuantile(tail, post.alpha, post.beta), BetaQuantile(1 - tail, post.alpha, post.beta)};
  return post;
}

double ProbBetaGreater(double a_a, double b_a, double a_b, double b_b) {
  if (a_b == std::floor(a_b) && a_b >= 1 && a_b <= 1e6) {
    double total = 0;
    const double lb_a = LogBeta(a_a, b_a);
    for (int i = 0; i < static_cast<int>(a_b); ++i) {
      total += std::exp(LogBeta(a_a + i, b_a + b_b) - std::log(b_b + i) - LogBeta(1 + i, b_b) - lb_a);
    }
    return std::clamp(total, 0.0, 1.0);
  }
  return std::clamp(IntegrateUnit([&](double x) { return BetaPdf(x, a_b, b_b) * BetaCdf(x, a_a, b_a); }),
                    0.0, 1.0);
}

std::vector<double> BetaProbBest(const std::vector<std::pair<double, double>>& posteriors) {
  const size_t k = posteriors.size();
  std::vector<double> out(k, 0.0);
  if (k == 0) return out;
  if (k == 1) return {1.0};
  for (size_t i = 0; i < k; ++i) {
    out[i] = IntegrateUnit([&](double x) {
      double v = BetaPdf(x, posteriors[i].first, posteriors[i].second);
      for (size_t j = 0; j < k && v > 0; ++j) {
        if (j != i) v *= BetaCdf(x, posteriors[j].first, posteriors[j].second);
      }
      return v;
    });
  }
  return out;
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
    case PAdjust::kNone: return "none";
    case PAdjust::kHolm: return "holm";
    case PAdjust::kBenjaminiHochberg: return "bh";
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

double Exp1FromBits(uint64_t x) {
  return -std::log((static_cast<double>(x >> 11) + 0.5) * 0x1p-53);
}

uint64_t IndexFromBits(uint64_t x, uint64_t n) {
  __extension__ typedef unsigned __int128 U128;  // GCC/Clang; the spec's uint128(x)·n
  return static_cast<uint64_t>((static_cast<U128>(x) * n) >> 64);
}

std::optional<BootstrapResult> BootstrapDiffMeans(const std::vector<double>& a,
                                                  const std::vector<double>& b, int resamples,
                                                  uint64_t seed, double level) {
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
  r.prob_diff_gt_0 = double(std::count_if(diffs.begin(), diffs.end(), [](double d) { return d > 0; })) /
                     resamples;
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
                  std::optional<double> quality, double impute_quality, double ref_cost_usd,
                  double ref_duration_ms) {
  const double s = success ? 1 : 0;
  double u = w.success * s;
  if (w.quality > 0) u += w.quality * s * quality.value_or(impute_quality) / 10;
  if (w.cost > 0 && ref_cost_usd > 0) u += w.cost / (1 + cost_usd / ref_cost_usd);
  if (w.duration > 0 && ref_duration_ms > 0) u += w.duration / (1 + duration_ms / ref_duration_ms);
  return u;
}

CompositePosteriorResult CompositePosterior(const std::vector<CompositeSample>& variants,
                                            const CompositeWeights& w, double ref_cost_usd,
                                            double ref_duration_ms, int resamples,
                                            uint64_t seed, size_t baseline_index,
                                            PosteriorMethod method, double ci_level) {
  const size_t k = variants.size();
  CompositePosteriorResult r;
  r.observed.assign(k, 0.0);
  r.prob_best.assign(k, 0.0);
  r.prob_beats_baseline.assign(k, 0.0);
  r.expected_loss.assign(k, 0.0);
  r.ci.assign(k, {0.0, 0.0});
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
      p.u.push_back(RunUtility(w, cs.success[i] != 0, cs.cost_usd[i], cs.duration_ms[i], q, impute,
                               ref_cost_usd, ref_duration_ms));
      CompositeWeights cd_only{0, 0, w.cost, w.duration};
      p.cd.push_back(RunUtility(cd_only, false, cs.cost_usd[i], cs.duration_ms[i], std::nullopt, 0,
                                ref_cost_usd, ref_duration_ms));
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
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
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

AbMetricComparison CompareMetric(const std::string& metric, bool lower_is_better,
                                 const std::vector<double>& variant,
                                 const std::vector<double>& baseline, bool both_eligible,
                                 double alpha) {
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

AbAnalysis AnalyzeAbTest(const std::vector<AbVariantInfo>& variants,
                         const std::vector<AbRun>& runs, const AbAnalysisOptions& options) {
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
    v.status = !v.eligible ? "insufficient_data"
               : v.n < options.low_sample_threshold ? "low_sample" : "ok";
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
  if (options.ref_cost_usd) a.ref_cost_usd = *options.ref_cost_usd;
  else if (!all_costs.empty()) a.ref_cost_usd = Median(all_costs);
  if (options.ref_duration_ms) a.ref_duration_ms = *options.ref_duration_ms;
  else if (!all_durations.empty()) a.ref_duration_ms = Median(all_durations);
  if (options.ref_cost_usd || options.ref_duration_ms) {
    a.ref_rule = options.ref_cost_usd && options.ref_duration_ms ? "user supplied"
                                                                 : "user supplied / pooled median of all runs";
  }
  std::vector<size_t> eligible;
  for (size_t i = 0; i < a.variants.size(); ++i) {
    if (a.variants[i].eligible) eligible.push_back(i);
  }
  std::vector<std::string> few_scores;
  for (size_t i : eligible) {
    if (a.variants[i].quality.summary.n < 2) few_scores.push_back(a.variants[i].variant_id);
  }
  a.quality_included = options.weights.quality > 0 && !all_quality.empty() &&
                       (eligible.empty() || few_scores.empty());
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
      v.utilities.push_back(RunUtility(w, s.success[k] != 0, s.cost_usd[k], s.duration_ms[k],
                                       s.quality[k], impute, ref_c, ref_d));
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
    if (primary_at[k].second < 0) cmp.fisher_p_adjusted = primary_adj[k];
    else cmp.metrics[primary_at[k].second].p_adjusted = primary_adj[k];
  }
  const std::vector<double> mw_adj = AdjustPValues(mw, options.correction);
  for (size_t k = 0; k < mw.size(); ++k) {
    a.comparisons[mw_at[k].first].metrics[mw_at[k].second].mw_p_adjusted = mw_adj[k];
  }

  // 7. Warnings (§5.1, §5.4).
  std::vector<std::string> insufficient, low, no_success;
  for (const AbVariantResult& v : a.variants) {
    if (!v.eligible) insufficient.push_back(v.variant_id);
    else if (v.status == "low_sample") low.push_back(v.variant_id);
    if (v.n > 0 && v.successes == 0) no_success.push_back(v.variant_id);
  }
  if (!insufficient.empty()) {
    a.warnings.push_back({"INSUFFICIENT_DATA", insufficient, "",
                          fmt::format("fewer than {} runs: no interval, test or probability of being best",
                                      min_runs)});
  }
  if (!low.empty()) a.warnings.push_back({"LOW_SAMPLE", low, "", ""});
  if (!no_success.empty()) a.warnings.push_back({"NO_SUCCESSFUL_RUNS", no_success, "", ""});
  if (!a.quality_included) {
    std::string why = options.weights.quality <= 0 ? "quality weight is 0"
                      : all_quality.empty()         ? "no run has a quality score"
                                                    : "a variant has fewer than 2 scored runs";
    a.warnings.push_back({"QUALITY_EXCLUDED", few_scores, "quality",
                          "quality dropped from the composite: " + why});
  }
  for (const AbComparison& cmp : a.comparisons) {
    for (const AbMetricComparison& m : cmp.metrics) {
      if (m.welch.error == "ZERO_VARIANCE") {
        a.warnings.push_back({"ZERO_VARIANCE", {cmp.variant_id, cmp.baseline_variant_id}, m.metric, ""});
      }
    }
    const AbVariantResult& v = a.variants[index[cmp.variant_id]];
    if (v.eligible && bv.eligible && MannWhitneyMinP(v.n, bv.n) > options.alpha) {
      a.warnings.push_back({"MWU_CANNOT_REACH_ALPHA", {cmp.variant_id, cmp.baseline_variant_id}, "",
                            fmt::format("with {} vs {} runs the exact Mann-Whitney p is at least {:.3g}",
                                        v.n, bv.n, MannWhitneyMinP(v.n, bv.n))});
    }
  }
  if (options.adaptive) {
    a.warnings.push_back({"ADAPTIVE_SAMPLING", {}, "",
                          "runs were allocated adaptively: p-values and intervals are not valid"});
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
        a.decision_reasons.push_back(fmt::format(
            "variant {} has no successful run, so it cannot win whatever its probabilityOfBest",
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
      if (can_win(i) && a.variants[i].composite &&
          (!best || *a.variants[i].composite > *a.variants[*best].composite)) best = i;
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
      a.decision_reasons.push_back(fmt::format("variant {} has fewer than {} runs (low_sample)", v.variant_id,
                                               options.low_sample_threshold));
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
    if (v.successes > 0 && (!legacy_best || *v.legacy_score > *a.variants[*legacy_best].legacy_score))
      legacy_best = i;
  }
  if (legacy_best) a.legacy_winner = a.variants[*legacy_best].variant_id;
  a.legacy_confidence = LegacyConfidence(legacy);
  return a;
}

}  // namespace comfyrun
