#pragma once
// Temporal's retry policy (DESIGN.md §4) as a pure function, so that delays can be tested
// without clocks or randomness.
#include <string>

#include "comfyrun/error_type.h"
#include "comfyrun/workflow.h"

namespace comfyrun {

struct RetryDecision {
  bool retry = false;
  double delay = 0;       ///< seconds to wait before the next attempt
  std::string why_not;    ///< when !retry: "not retryable", "3 of 3 attempts used", ...
};

/// Decides what follows a failed attempt.
///  - never-retryable types (InvalidInput, Auth, ContentBlocked, NoImage, Cancelled) and the
///    policy's nonRetryableErrorTypes stop at once;
///  - maximumAttempts (0 = unlimited) counts attempts made in this run of the node;
///  - the delay is initialInterval * backoffCoefficient^(attempt-1), capped at
///    maximumInterval, with +-20% jitter (`jitter` in [0,1) picks where), and never shorter
///    than the provider's hint (`retry_after` >= 0);
///  - a total timeout (> 0) stops retries whose start would come after it.
/// `elapsed` is the time since the node's first attempt in this run started.
RetryDecision DecideRetry(const RetryPolicy& policy, ErrorType error, int attempts_made, double retry_after,
                          double elapsed, double total_timeout, double jitter);

}  // namespace comfyrun
