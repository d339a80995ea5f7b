// Readers of the settings a workflow gives its nodes: retry policies and time limits, and the
// check for unknown keys (workflow_loading.h).
#include <fmt/format.h>

#include <algorithm>

#include "comfyrun/core/util.h"
#include "workflow_loading.h"

namespace comfyrun::workflow_loading {
namespace {

/// Error type names a retry policy can list (error_type.h), for messages and hints.
const std::vector<std::string> kErrorTypeNames = {
    "InvalidInput", "Auth",          "RateLimited", "Unavailable", "Timeout",  "ContentBlocked", "NoImage",
    "NoFace",       "OutputInvalid", "Cancelled",   "Execution",   "Internal", "OutputExpired"};
constexpr long long kMaxAttempts = 1000000;
const std::vector<std::string> kRetryKeys = {"maximumAttempts", "initialInterval", "backoffCoefficient",
                                             "maximumInterval", "nonRetryableErrorTypes"};

std::optional<double> ReadDuration(const Json& value, const std::string& node, const std::string& path, Context& ctx) {
  if (value.is_number()) {
    double seconds = value.get<double>();
    if (seconds < 0) {
      ctx.Error(node, path, fmt::format("duration {} is negative", value.dump()));
      return std::nullopt;
    }
    return seconds;
  }
  if (value.is_string()) {
    std::string err;
    auto seconds = ParseDuration(value.get<std::string>(), &err);
    if (!seconds) ctx.Error(node, path, err);
    return seconds;
  }
  ctx.Error(node, path,
            fmt::format("a duration is a number of seconds or a string like \"10s\", got {}", value.type_name()));
  return std::nullopt;
}

}  // namespace

void CheckKnownKeys(const Json& object, const std::vector<std::string>& known, const std::string& node,
                    const std::string& path, Context& ctx, bool as_error) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
    std::string close = ClosestMatch(it.key(), known);
    std::string message = fmt::format("unknown key {}", Quote(it.key()));
    if (!as_error) message += " (ignored)";
    if (!close.empty()) message += fmt::format("; did you mean '{}'?", close);
    std::string hint = fmt::format("known keys: {}", fmt::join(known, ", "));
    if (as_error)
      ctx.Error(node, JsonPathMember(path, it.key()), message, hint);
    else
      ctx.Warning(node, JsonPathMember(path, it.key()), message, hint);
  }
}

void ReadRetry(const Json& value, const std::string& node, const std::string& path, RetryPolicy* retry, Context& ctx) {
  if (value.is_number_integer()) {  // shorthand: "retry": 5 = maximumAttempts
    if (value.get<long long>() < 0 || value.get<long long>() > kMaxAttempts)
      ctx.Error(node, path,
                fmt::format("retry {} is not a number of attempts from 0 to {}", value.dump(), kMaxAttempts),
                "\"retry\": 3 means at most 3 attempts; 0 means no limit");
    else
      retry->maximum_attempts = value.get<int>();
    return;
  }
  if (!value.is_object()) {
    ctx.Error(node, path, fmt::format("retry is an object like {{\"maximumAttempts\": 3}}, got {}", value.type_name()));
    return;
  }
  CheckKnownKeys(value, kRetryKeys, node, path, ctx, /*as_error=*/true);
  bool max_interval_given = false;
  if (value.contains("maximumAttempts")) {
    const Json& v = value["maximumAttempts"];
    if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > kMaxAttempts)
      ctx.Error(node, path + ".maximumAttempts",
                fmt::format("maximumAttempts is a whole number from 0 to {} (0 = unlimited), got {}", kMaxAttempts,
                            v.dump()));
    else
      retry->maximum_attempts = v.get<int>();
  }
  if (value.contains("initialInterval"))
    if (auto d = ReadDuration(value["initialInterval"], node, path + ".initialInterval", ctx))
      retry->initial_interval = *d;
  if (value.contains("backoffCoefficient")) {
    const Json& v = value["backoffCoefficient"];
    if (!v.is_number() || v.get<double>() < 1 || v.get<double>() > 100)
      ctx.Error(node, path + ".backoffCoefficient",
                fmt::format("backoffCoefficient is a number from 1 to 100, got {}", v.dump()));
    else
      retry->backoff_coefficient = v.get<double>();
  }
  if (value.contains("maximumInterval"))
    if (auto d = ReadDuration(value["maximumInterval"], node, path + ".maximumInterval", ctx)) {
      retry->maximum_interval = *d;
      max_interval_given = true;
    }
  if (!max_interval_given) retry->maximum_interval = 100 * retry->initial_interval;
  if (max_interval_given && retry->maximum_interval < retry->initial_interval)
    ctx.Error(node, path + ".maximumInterval",
              fmt::format("maximumInterval ({}) is shorter than initialInterval ({})",
                          FormatDuration(retry->maximum_interval), FormatDuration(retry->initial_interval)));
  if (value.contains("nonRetryableErrorTypes")) {
    const Json& v = value["nonRetryableErrorTypes"];
    if (!v.is_array()) {
      ctx.Error(node, path + ".nonRetryableErrorTypes",
                fmt::format("nonRetryableErrorTypes is a list of error type names, got {}", v.type_name()));
    } else {
      retry->non_retryable.clear();
      for (size_t i = 0; i < v.size(); ++i) {
        std::string p = fmt::format("{}.nonRetryableErrorTypes[{}]", path, i);
        if (!v[i].is_string() || !ParseErrorType(v[i].get<std::string>())) {
          std::string close = v[i].is_string() ? ClosestMatch(v[i].get<std::string>(), kErrorTypeNames) : "";
          ctx.Error(node, p,
                    fmt::format("unknown error type {}{}", v[i].dump(),
                                close.empty() ? "" : fmt::format("; did you mean '{}'?", close)),
                    fmt::format("error types: {}", fmt::join(kErrorTypeNames, ", ")));
        } else {
          retry->non_retryable.push_back(v[i].get<std::string>());
        }
      }
    }
  }
}

namespace {
/// A time limit: a duration above 0. Zero is refused rather than read as "no limit" or as
/// "stop at once", either of which would surprise someone.
std::optional<double> ReadLimit(const Json& value, const std::string& node, const std::string& path, Context& ctx) {
  auto d = ReadDuration(value, node, path, ctx);
  if (d && *d <= 0) {
    ctx.Error(node, path, fmt::format("a time limit of {} would stop the node before it starts", value.dump()),
              "give a duration above 0 such as \"10m\", or leave the timeout out to keep the default");
    return std::nullopt;
  }
  return d;
}
}  // namespace

void ReadTimeout(const Json& value, const std::string& node, const std::string& path, NodeTimeouts* timeout,
                 Context& ctx) {
  if (value.is_object()) {
    CheckKnownKeys(value, {"attempt", "total"}, node, path, ctx, true);
    std::optional<double> attempt, total;
    if (value.contains("attempt")) attempt = ReadLimit(value["attempt"], node, path + ".attempt", ctx);
    if (value.contains("total")) total = ReadLimit(value["total"], node, path + ".total", ctx);
    if (attempt && total && *total < *attempt) {
      ctx.Error(node, path + ".total",
                fmt::format("total ({}) is shorter than attempt ({}): no attempt could use its whole limit",
                            FormatDuration(*total), FormatDuration(*attempt)),
                "total bounds all attempts and their waits together: make it at least attempt");
      return;
    }
    if (attempt) timeout->attempt = *attempt;
    if (total) timeout->total = *total;
    return;
  }
  if (auto d = ReadLimit(value, node, path, ctx)) timeout->attempt = *d;  // shorthand
}

}  // namespace comfyrun::workflow_loading
