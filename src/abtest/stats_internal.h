#pragma once
// Small helpers shared by the three parts of the A/B statistics (stats_math.cc,
// stats_tests.cc, stats_analysis.cc); not part of stats.h's interface.
#include <algorithm>
#include <cmath>
#include <vector>

namespace comfyrun::stats_internal {

inline constexpr double kPi = 3.14159265358979323846;

inline double Mean(const std::vector<double>& x) {
  double s = 0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

// Sample variance (n−1); exactly 0 for a constant sample.
inline double Variance(const std::vector<double>& x, double mean) {
  if (x.size() < 2) return 0;
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  if (*lo == *hi) return 0;
  double s = 0;
  for (double v : x) s += (v - mean) * (v - mean);
  return s / static_cast<double>(x.size() - 1);
}

inline double Median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const size_t n = x.size();
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

inline double Finite(double v) { return std::isfinite(v) ? v : 0; }

}  // namespace comfyrun::stats_internal
