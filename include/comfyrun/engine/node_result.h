#pragma once
// The outcome of one node attempt, posted by whoever ran it (a worker thread, or the HTTP
// loop thread for remote jobs) to the executor's completion queue.
#include <string>

#include "comfyrun/core/error_type.h"
#include "comfyrun/core/json.h"

namespace comfyrun {

struct NodeResult {
  ErrorType error = ErrorType::kNone;  ///< kNone = success
  std::string message;                 ///< for people; never contains a secret
  Json outputs = Json::object();       ///< on success: output name -> value
  double cost = 0;                     ///< USD spent by this attempt (also on failure, if charged)
  std::string provider;                ///< "gemini", "veo", "sora", "comfyui", "offline", ""
  std::string model;                   ///< resolved model id, "" when none
  /// Seconds the provider asked us to wait before trying again (Retry-After,
  /// RetryInfo.retryDelay); < 0 when it gave no hint.
  double retry_after = -1;
  /// For remote jobs: true when the submitted job reached a terminal state (finished, failed
  /// for good, cancelled), so a further attempt must submit anew. False (the default) keeps
  /// the recorded submission, and the next attempt re-attaches to it instead of paying again.
  bool submission_finished = true;
  /// Error details for metrics (provider reasons, ComfyUI node ids, ...).
  Json details = Json::object();
  /// Where the attempt ran, when its backend knows more than its executor's name: a small
  /// object such as {"executor": "slurm", "jobId": "42", "host": "gpu07"}. The executor
  /// journals it (the `where` of completed and attempt_failed records) and metrics, trace and
  /// report print its fields without knowing the backend. Null: {"executor": Backend::executor()}.
  Json where;

  bool ok() const { return error == ErrorType::kNone; }

  static NodeResult Success(Json outputs) {
    NodeResult r;
    r.outputs = std::move(outputs);
    return r;
  }
  static NodeResult Failure(ErrorType type, std::string message) {
    NodeResult r;
    r.error = type;
    r.message = std::move(message);
    return r;
  }
};

}  // namespace comfyrun
