#include "comfyrun/core/error_type.h"

#include <array>
#include <utility>

namespace comfyrun {
namespace {
constexpr std::array<std::pair<ErrorType, std::string_view>, 14> kNames{{
    {ErrorType::kNone, "None"},
    {ErrorType::kInvalidInput, "InvalidInput"},
    {ErrorType::kAuth, "Auth"},
    {ErrorType::kRateLimited, "RateLimited"},
    {ErrorType::kUnavailable, "Unavailable"},
    {ErrorType::kTimeout, "Timeout"},
    {ErrorType::kContentBlocked, "ContentBlocked"},
    {ErrorType::kNoImage, "NoImage"},
    {ErrorType::kNoFace, "NoFace"},
    {ErrorType::kOutputInvalid, "OutputInvalid"},
    {ErrorType::kCancelled, "Cancelled"},
    {ErrorType::kExecution, "Execution"},
    {ErrorType::kInternal, "Internal"},
    {ErrorType::kOutputExpired, "OutputExpired"},
}};
}  // namespace

std::string_view ErrorTypeName(ErrorType type) {
  for (const auto& [t, name] : kNames)
    if (t == type) return name;
  return "Internal";
}

std::optional<ErrorType> ParseErrorType(std::string_view name) {
  for (const auto& [t, n] : kNames)
    if (n == name) return t;
  return std::nullopt;
}

bool IsNeverRetryable(ErrorType type) {
  switch (type) {
    case ErrorType::kInvalidInput:
    case ErrorType::kAuth:
    case ErrorType::kContentBlocked:
    case ErrorType::kNoImage:
    case ErrorType::kCancelled:
    case ErrorType::kOutputExpired:  // another attempt would pay again: only --resubmit-expired does
      return true;
    default:
      return false;
  }
}

}  // namespace comfyrun
