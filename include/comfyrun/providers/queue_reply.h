#pragma once
// Reading a fal or Replicate error reply (queue_job.cc): the provider's own message and its
// rate-limit hint.
#include <string>

#include "comfyrun/net/http_loop.h"

namespace comfyrun {

/// The provider's own words from an error body: fal and Replicate use `detail` (a string, or
/// a list of {msg} for validation errors); some replies use `error` or `title`.
std::string ProviderMessage(const std::string& body);
/// Retry-After, else Replicate's "Your rate limit resets in ~30s." in the body; -1 if neither.
double RetryAfterOf(const HttpResponse& resp);

}  // namespace comfyrun
