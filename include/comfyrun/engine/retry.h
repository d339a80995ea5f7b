#pragma once
// Temporal's retry policy (DESIGN.md §4) as a pure function, so that delays can be tested
// without clocks or randomness.
#include <string>

#include "comfyrun/core/error_type.h"
#include "comfyrun/core/json.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/node_result.h"

namespace comfyrun {

struct RetryDecision {
  bool retry = false;
  double delay = 0;     ///< seconds to wait before the next attempt
  std::string why_not;  ///< when !retry: "not retryable", "3 of 3 attempts used", ...
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

/// OutputInvalid (a generated or probed file that fails its check) is deterministic: the same
/// bytes fail the same check. So it is retried only when another attempt makes a new output,
/// which the node kind says in the failed result's details under this key:
///  - true: a remote generation submitted anew whose seed is not fixed (SeedFixed). Retried
///    once at most per run of the node, within the retry policy;
///  - false or absent: a local file (media_probe, video_stitch), a local render (--offline),
///    a fixed seed, or a retry that would re-attach to the same job. Not retried.
/// docs/guarantees.md "Retries of failed checks" says the same for users.
inline constexpr const char* kRegeneratesKey = "regenerates";

/// Sets details[kRegeneratesKey] on a failed result.
void MarkRegenerates(NodeResult* result, bool regenerates);

/// True when a generation node's inputs fix its seed: an explicit `seed` input (any value but
/// null). ComfyUI graphs have their own rule (comfyui/protocol.h ComfySeedsFixed).
bool SeedFixed(const Json& inputs);

/// Applies the OutputInvalid rule above to `decision` (from DecideRetry) for a failed result;
/// `output_invalid_attempts` counts the attempts of this node that ended in OutputInvalid in
/// this run, this one included. No-op for other errors and for decisions not to retry.
void LimitOutputInvalidRetry(const NodeResult& result, int output_invalid_attempts, RetryDecision* decision);

}  // namespace comfyrun
