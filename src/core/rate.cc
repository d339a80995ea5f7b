#include "comfyrun/core/rate.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "comfyrun/core/node_registry.h"
#include "comfyrun/core/util.h"

namespace comfyrun {

bool ParseRate(std::string_view text, double* per_second, std::string* err) {
  size_t slash = text.find('/');
  auto bad = [&] {
    *err = fmt::format("rate {} is COUNT/UNIT, e.g. \"60/min\", \"2/s\" or \"1000/hour\"", Quote(std::string(text)));
    return false;
  };
  if (slash == std::string_view::npos) return bad();
  std::string count(text.substr(0, slash));
  std::string unit(text.substr(slash + 1));
  char* end = nullptr;
  double n = std::strtod(count.c_str(), &end);
  if (count.empty() || end != count.c_str() + count.size() || !std::isfinite(n) || n <= 0) return bad();
  double seconds = 0;
  if (unit == "s" || unit == "sec" || unit == "second")
    seconds = 1;
  else if (unit == "min" || unit == "m" || unit == "minute")
    seconds = 60;
  else if (unit == "h" || unit == "hour")
    seconds = 3600;
  else
    return bad();
  *per_second = n / seconds;
  return true;
}

std::string FormatRate(double per_second) {
  if (per_second <= 0) return "none";
  if (per_second >= 1 && std::fabs(per_second - std::round(per_second)) < 1e-9)
    return fmt::format("{}/s", static_cast<long long>(std::round(per_second)));
  return fmt::format("{:g}/min", std::round(per_second * 60 * 100) / 100);
}

std::map<std::string, double> DefaultPoolRates() {
  // Documented limits only, declared by the node types' providers (providers/provider.h).
  std::map<std::string, double> rates;
  for (const NodeTypeSpec& spec : AllNodeTypes())
    if (spec.default_pool_rate > 0 && !spec.default_pool.empty())
      rates.emplace(spec.default_pool, spec.default_pool_rate);
  return rates;
}

double RateBoundSeconds(size_t nodes, double per_second) {
  if (per_second <= 0 || nodes <= 1) return 0;
  return static_cast<double>(nodes - 1) / per_second;
}

}  // namespace comfyrun
