#include "comfyrun/engine/retry.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace comfyrun {

RetryDecision DecideRetry(const RetryPolicy& policy, ErrorType error, int attempts_made, double retry_after,
                          double elapsed, double total_timeout, double jitter) {
  RetryDecision d;
  std::string_view name = ErrorTypeName(error);
  if (IsNeverRetryable(error)) {
    d.why_not = fmt::format("{} is not retried", name);
    return d;
  }
  if (std::find(policy.non_retryable.begin(), policy.non_retryable.end(), name) != policy.non_retryable.end()) {
    d.why_not = fmt::format("{} is in nonRetryableErrorTypes", name);
    return d;
  }
  if (policy.maximum_attempts > 0 && attempts_made >= policy.maximum_attempts) {
    d.why_not = fmt::format("{} of {} attempts used", attempts_made, policy.maximum_attempts);
    return d;
  }
  double base = policy.initial_interval * std::pow(policy.backoff_coefficient, std::max(0, attempts_made - 1));
  base = std::min(base, policy.maximum_interval);
  double delay = base * (0.8 + 0.4 * std::clamp(jitter, 0.0, 1.0));
  delay = std::min(delay, policy.maximum_interval);
  if (retry_after >= 0) delay = std::max(delay, retry_after);
  if (total_timeout > 0 && elapsed + delay >= total_timeout) {
    d.why_not = fmt::format("the total timeout of {:.0f}s would pass before the next attempt", total_timeout);
    return d;
  }
  d.retry = true;
  d.delay = delay;
  return d;
}

}  // namespace comfyrun
