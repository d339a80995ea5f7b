// A/B statistics, part 1 of 3 (stats.h): the distributions (normal, Student t, Beta and the
// incomplete beta they rest on) and the Beta comparisons built on them. stats_tests.cc has
// the tests and posteriors, stats_analysis.cc the whole-test analysis.
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

namespace {

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
    if (fx < 0)
      lo = x;
    else
      hi = x;
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
}  // namespace

// ---------------------------------------------------------------------------------------------

double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

double NormalQuantile(double p) {
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
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
  double x = z + (z * z * z + z) / (4 * df) + (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * df * df);
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
    return SolveIncreasing([&](double x) { return IncompleteBetaPair(a, b, x, 1 - x).first - p; }, pdf, 0, 1,
                           a / (a + b));
  }
  const double q = 1 - p;
  return SolveIncreasing([&](double x) { return q - IncompleteBetaPair(a, b, x, 1 - x).second; }, pdf, 0, 1,
                         a / (a + b));
}

double QuantileType7(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return std::nan("");
  const double h = (static_cast<double>(sorted.size()) - 1) * p;
  const size_t lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= sorted.size()) return sorted.back();
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[lo + 1] - sorted[lo]);
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
  return std::clamp(IntegrateUnit([&](double x) { return BetaPdf(x, a_b, b_b) * BetaCdf(x, a_a, b_a); }), 0.0, 1.0);
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

}  // namespace comfyrun
