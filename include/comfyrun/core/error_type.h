#pragma once
// The typed errors a node attempt can end with (DESIGN.md §4). The type decides whether the
// scheduler retries: a retry policy names non-retryable types, and some types are never
// retried whatever the policy says (bad input, bad keys, blocked content).
#include <optional>
#include <string>
#include <string_view>

namespace comfyrun {

enum class ErrorType {
  kNone,
  kInvalidInput,    // the request can never succeed as written (bad value, unknown model)
  kAuth,            // missing or rejected API key
  kRateLimited,     // 429; retry after the provider's hint
  kUnavailable,     // 5xx, connection refused or reset, server down
  kTimeout,         // attempt or total timeout, stalled transfer
  kContentBlocked,  // provider refused the prompt or filtered the result
  kNoImage,         // image model answered without an image
  kNoFace,          // face-dependent graph found no face
  kOutputInvalid,   // output failed validation (size, decode, duration, probe checks)
  kCancelled,       // interrupted by the user or by --fail-fast
  kExecution,       // the node's own work failed (non-zero exit, ComfyUI execution_error)
  kInternal,        // a bug or an unexpected condition in comfyrun
  kOutputExpired,   // a remote result was deleted by its provider before it was downloaded
};

/// "InvalidInput", "RateLimited", ...: the names used in journals, metrics and retry policies.
std::string_view ErrorTypeName(ErrorType type);
std::optional<ErrorType> ParseErrorType(std::string_view name);

/// Types that no retry policy can make retryable: trying again cannot change the outcome and
/// may cost money.
bool IsNeverRetryable(ErrorType type);

}  // namespace comfyrun
