#pragma once
// The executor's bookkeeping of one node in this invocation (internal to src/engine).
#include <cstdint>
#include <memory>
#include <string>

#include "comfyrun/core/json.h"
#include "comfyrun/engine/backend.h"
#include "comfyrun/engine/node_kind.h"

namespace comfyrun {

struct NodeRun {
  int attempt = 0;                       // last attempt number in the journal (over all runs)
  int attempts_this_run = 0;             // what the retry policy counts
  int output_invalid = 0;                // attempts in this run that ended in OutputInvalid
  double first_start = 0;                // steady time of the first attempt in this run
  double ready_since = 0;                // steady time it became startable (queue wait)
  int64_t started_ms = 0;                // unix ms of the current attempt's start
  int64_t queue_wait_ms = 0;             // how long the current attempt waited for a slot
  Json outputs;                          // when succeeded in this run
  const Json* seeded_outputs = nullptr;  // when completed before (resume): the replay's, not copied
  Json submission;                       // unfinished remote job to re-attach to
  double estimate = 0;                   // expected cost, for --max-cost
  bool running = false;
  std::string cache_key;  // of the current attempt; "" when it does not use the cache
  bool cached = false;    // the current attempt is a cache hit
  bool parked = false;    // waiting for a running node with the same cache key (SameInputsGate)
  std::shared_ptr<NodeContext> ctx;
  Backend* backend = nullptr;  // where the current attempt runs
};

/// Where an attempt ran, for its completed or attempt_failed record: what its backend
/// reported (NodeResult::where), else the backend's executor. Null for a cache hit and for
/// inline kinds (value nodes: 100,000 of them would each carry it for nothing).
inline Json AttemptWhere(const NodeRun& run, const NodeResult& r, const NodeKind* kind) {
  if (r.where.is_object() && !r.where.empty()) return r.where;
  if (run.cached || !run.backend || (kind && kind->runs_inline())) return nullptr;
  return Json{{"executor", run.backend->executor()}};
}

}  // namespace comfyrun
