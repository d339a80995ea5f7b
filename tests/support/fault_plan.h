#pragma once
// FaultPlan and FaultInjector: seeded random faults for the fake servers (reliability tests).
//
// A LocalServer with a plan fails a share of the requests it receives *before* their route
// handler runs, so a faulted request did no work on the fake (no submission counted, no
// prompt queued): the client sees the same thing as when a real provider is overloaded,
// restarted or behind a flaky proxy, and retrying is always safe. The kinds:
//
//   429       429 with "Retry-After: <retry_after>" and a Google/OpenAI-shaped error body
//   500, 503  an error status with a JSON error body
//   401, 403  auth errors (clients must fail fast on these: no retry)
//   reset     the connection is closed without a reply
//   stall     no reply for `stall` seconds (default 30, past any client timeout the tests
//             use), then a 503
//   truncate  a 200 whose body stops halfway (Content-Length promises more), then close
//
// Spec text, as given to comfyrun_fakes (--faults SPEC or COMFYRUN_FAKE_FAULTS=SPEC):
//   "share=0.2,kinds=429,500,reset,stall,truncate,seed=7"
//   optional: retry_after=SECONDS (default 1), stall=SECONDS (default 30)
// A token without '=' continues the list of the key before it, so kinds can be listed with
// commas. "off" (or "") is a plan with no faults.
//
// Paths that start with "/__" (LocalServer's own control routes) or "/_fake/" (the fakes'
// control routes) are never faulted, so a test can always read counters.
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "comfyrun/core/json.h"

namespace comfyrun::testing {

struct LocalRequest;
struct LocalResponse;

enum class FaultKind { kRateLimit, kServerError, kUnavailable, kUnauthorized, kForbidden, kReset, kStall, kTruncate };

/// "429", "500", "503", "401", "403", "reset", "stall", "truncate".
const char* FaultKindName(FaultKind kind);

struct FaultPlan {
  double share = 0;              ///< fraction of (non-control) requests faulted, 0..1
  std::vector<FaultKind> kinds;  ///< each fault picks one uniformly; empty = no faults
  uint64_t seed = 1;
  double retry_after = 1;     ///< seconds, sent as Retry-After with 429
  double stall_seconds = 30;  ///< how long a stall holds the reply

  bool enabled() const { return share > 0 && !kinds.empty(); }
  /// Parses the spec text above. False with *err naming the bad token.
  static bool Parse(const std::string& spec, FaultPlan* plan, std::string* err);
  /// The plan as spec text (Parse(Describe()) gives the plan back).
  std::string Describe() const;
};

/// The reply that delivers `kind` (LocalResponse modes and delays do the transport faults).
LocalResponse FaultResponse(FaultKind kind, const FaultPlan& plan);

/// True for the control paths that are never faulted ("/__...", "/_fake/...").
bool IsControlPath(const std::string& path);

/// Decides request by request whether to fault and how. Thread-safe (one mutex): a server
/// thread calls Decide while a test thread may call SetPlan or Stats.
class FaultInjector {
 public:
  /// Replaces the plan. `stream` is mixed into the seed so that servers sharing one plan
  /// (comfyrun_fakes starts several) fault different requests, each reproducibly.
  void SetPlan(const FaultPlan& plan, uint64_t stream = 0);
  FaultPlan plan() const;
  /// The fault reply for this request, or nullopt to handle it normally.
  std::optional<LocalResponse> Decide(const LocalRequest& request);
  /// {"plan": spec, "considered": n, "faulted": n, "faults": {"429": n, ...}}
  Json Stats() const;

 private:
  mutable std::mutex mu_;
  FaultPlan plan_;
  std::mt19937_64 rng_;
  uint64_t considered_ = 0;
  uint64_t faulted_ = 0;
  std::vector<uint64_t> by_kind_ = std::vector<uint64_t>(8, 0);
};

}  // namespace comfyrun::testing
