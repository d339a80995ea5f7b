#include "support/fault_plan.h"

#include <cstdlib>
#include <sstream>

#include "support/local_server.h"

namespace comfyrun::testing {
namespace {

constexpr FaultKind kAllKinds[] = {FaultKind::kRateLimit,    FaultKind::kServerError, FaultKind::kUnavailable,
                                   FaultKind::kUnauthorized, FaultKind::kForbidden,   FaultKind::kReset,
                                   FaultKind::kStall,        FaultKind::kTruncate};

bool ParseKind(const std::string& name, FaultKind* kind) {
  for (FaultKind k : kAllKinds)
    if (name == FaultKindName(k)) {
      *kind = k;
      return true;
    }
  return false;
}

bool ParseNumber(const std::string& text, double* out) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') return false;
  *out = v;
  return true;
}

// splitmix64: spreads (seed, stream) over the generator's state so nearby seeds differ.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

LocalResponse ErrorJson(int status, const std::string& google_status, const std::string& message) {
  // Shaped like both providers' errors: Google's {"error": {code, message, status}} and
  // OpenAI's {"error": {message, type, code}}.
  Json body = {{"error",
                {{"code", status},
                 {"message", "injected fault: " + message},
                 {"status", google_status},
                 {"type", "injected_fault"}}}};
  return LocalResponse::Json(status, body.dump());
}

}  // namespace

const char* FaultKindName(FaultKind kind) {
  switch (kind) {
    case FaultKind::kRateLimit:
      return "429";
    case FaultKind::kServerError:
      return "500";
    case FaultKind::kUnavailable:
      return "503";
    case FaultKind::kUnauthorized:
      return "401";
    case FaultKind::kForbidden:
      return "403";
    case FaultKind::kReset:
      return "reset";
    case FaultKind::kStall:
      return "stall";
    case FaultKind::kTruncate:
      return "truncate";
  }
  return "?";
}

bool FaultPlan::Parse(const std::string& spec, FaultPlan* plan, std::string* err) {
  FaultPlan p;
  if (spec.empty() || spec == "off") {
    *plan = p;
    return true;
  }
  std::string key;  // the key a bare token continues (only "kinds" takes a list)
  std::stringstream in(spec);
  std::string token;
  while (std::getline(in, token, ',')) {
    if (token.empty()) continue;
    size_t eq = token.find('=');
    std::string value = token;
    if (eq != std::string::npos) {
      key = token.substr(0, eq);
      value = token.substr(eq + 1);
    } else if (key != "kinds") {
      *err = "fault spec: '" + token + "' is not NAME=VALUE";
      return false;
    }
    double number = 0;
    if (key == "kinds") {
      FaultKind kind;
      if (!ParseKind(value, &kind)) {
        *err = "fault spec: unknown kind '" + value + "' (429, 500, 503, 401, 403, reset, stall, truncate)";
        return false;
      }
      p.kinds.push_back(kind);
    } else if (!ParseNumber(value, &number)) {
      *err = "fault spec: " + key + " wants a number, got '" + value + "'";
      return false;
    } else if (key == "share") {
      if (number < 0 || number > 1) {
        *err = "fault spec: share is between 0 and 1, got " + value;
        return false;
      }
      p.share = number;
    } else if (key == "seed") {
      p.seed = static_cast<uint64_t>(number);
    } else if (key == "retry_after") {
      p.retry_after = number;
    } else if (key == "stall") {
      p.stall_seconds = number;
    } else {
      *err = "fault spec: unknown key '" + key + "' (share, kinds, seed, retry_after, stall)";
      return false;
    }
  }
  *plan = p;
  return true;
}

std::string FaultPlan::Describe() const {
  if (!enabled()) return "off";
  std::ostringstream out;
  out << "share=" << share << ",kinds=";
  for (size_t i = 0; i < kinds.size(); ++i) out << (i ? "," : "") << FaultKindName(kinds[i]);
  out << ",seed=" << seed << ",retry_after=" << retry_after << ",stall=" << stall_seconds;
  return out.str();
}

LocalResponse FaultResponse(FaultKind kind, const FaultPlan& plan) {
  LocalResponse r;
  switch (kind) {
    case FaultKind::kRateLimit:
      r = ErrorJson(429, "RESOURCE_EXHAUSTED", "rate limited");
      r.headers.emplace_back("Retry-After", std::to_string(static_cast<long>(plan.retry_after)));
      break;
    case FaultKind::kServerError:
      r = ErrorJson(500, "INTERNAL", "internal error");
      break;
    case FaultKind::kUnavailable:
      r = ErrorJson(503, "UNAVAILABLE", "service unavailable");
      break;
    case FaultKind::kUnauthorized:
      r = ErrorJson(401, "UNAUTHENTICATED", "invalid credentials");
      break;
    case FaultKind::kForbidden:
      r = ErrorJson(403, "PERMISSION_DENIED", "permission denied");
      break;
    case FaultKind::kReset:
      r = LocalResponse::Text(200, "");
      r.mode = LocalResponse::Mode::kCloseNoReply;
      break;
    case FaultKind::kStall:
      r = ErrorJson(503, "UNAVAILABLE", "stalled reply");
      r.delay = plan.stall_seconds;
      break;
    case FaultKind::kTruncate:
      // Long enough that half of it is a JSON prefix that cannot parse.
      r = LocalResponse::Json(200, R"({"injected": "truncated reply", "padding": ")" + std::string(256, 'x') + "\"}");
      r.mode = LocalResponse::Mode::kTruncate;
      break;
  }
  return r;
}

bool IsControlPath(const std::string& path) { return path.rfind("/__", 0) == 0 || path.rfind("/_fake/", 0) == 0; }

void FaultInjector::SetPlan(const FaultPlan& plan, uint64_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  plan_ = plan;
  rng_.seed(Mix(plan.seed ^ Mix(stream)));
}

FaultPlan FaultInjector::plan() const {
  std::lock_guard<std::mutex> lock(mu_);
  return plan_;
}

std::optional<LocalResponse> FaultInjector::Decide(const LocalRequest& request) {
  if (IsControlPath(request.path)) return std::nullopt;
  std::lock_guard<std::mutex> lock(mu_);
  if (!plan_.enabled()) return std::nullopt;
  ++considered_;
  // Two draws per request whatever the outcome, so one request's fate does not shift the
  // choices made for the ones after it.
  double roll = std::uniform_real_distribution<double>(0, 1)(rng_);
  size_t pick = std::uniform_int_distribution<size_t>(0, plan_.kinds.size() - 1)(rng_);
  if (roll >= plan_.share) return std::nullopt;
  FaultKind kind = plan_.kinds[pick];
  ++faulted_;
  ++by_kind_[static_cast<size_t>(kind)];
  return FaultResponse(kind, plan_);
}

Json FaultInjector::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Json faults = Json::object();
  for (FaultKind k : kAllKinds)
    if (by_kind_[static_cast<size_t>(k)]) faults[FaultKindName(k)] = by_kind_[static_cast<size_t>(k)];
  return {{"plan", plan_.Describe()}, {"considered", considered_}, {"faulted", faulted_}, {"faults", faults}};
}

}  // namespace comfyrun::testing
