#include "comfyrun/engine/retry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

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

void MarkRegenerates(NodeResult* result, bool regenerates) {
  if (!result->details.is_object()) result->details = Json::object();
  result->details[kRegeneratesKey] = regenerates;
}

bool SeedFixed(const Json& inputs) {
  return inputs.is_object() && inputs.contains("seed") && !inputs["seed"].is_null();
}

void LimitOutputInvalidRetry(const NodeResult& result, int output_invalid_attempts, RetryDecision* decision) {
  if (result.error != ErrorType::kOutputInvalid || !decision->retry) return;
  const Json& d = result.details;
  bool regenerates =
      d.is_object() && d.contains(kRegeneratesKey) && d[kRegeneratesKey].is_boolean() && d[kRegeneratesKey].get<bool>();
  if (!regenerates) {
    *decision = RetryDecision{};
    decision->why_not = "OutputInvalid is not retried: another attempt would check the same output";
    return;
  }
  if (output_invalid_attempts > 1) {
    *decision = RetryDecision{};
    decision->why_not = "OutputInvalid is retried once at most";
  }
}

}  // namespace comfyrun
