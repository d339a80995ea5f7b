#pragma once
// Scheduler: which node runs next (ninja's Plan + Pool, STYLE.md §2.6).
//
// Pure bookkeeping, no threads and no clocks: the executor's main loop is its only user and
// drives it with FindWork / NodeSucceeded / NodeFailed, so unit tests can drive it by hand.
//
// A node is ready when every node it depends on has succeeded. Among ready nodes the one with
// the longest remaining critical path goes first (ties: workflow order). A node whose pool is
// full waits in that pool until a slot frees. At most `jobs` nodes run at once.
//
// Rate limits (rate_limit.h): with a RateLimiter set, a node also needs a token from its
// pool's bucket; without one it waits in the pool until NextTokenIn says a token is due. The
// limiter owns the clock, so the scheduler itself still reads none.
#include <map>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "comfyrun/core/dag.h"
#include "comfyrun/engine/rate_limit.h"

namespace comfyrun {

class Scheduler {
 public:
  enum class State {
    kWaiting,
    kReady,
    kRunning,
    kRetryWait,
    kFinishing,  ///< succeeded, waiting for its journal record to be durable; holds no slot
    kSucceeded,
    kFailed,
    kSkipped
  };

  /// `pools[i]` is node i's pool name ("" = none); `pool_depths` the limits of named pools
  /// (a pool without a limit is unbounded); `priority[i]` the remaining critical path.
  Scheduler(const DepLists& deps, std::vector<double> priority, std::vector<std::string> pools,
            const std::map<std::string, int>& pool_depths, int jobs);
  /// The same with the reverse edges (Dependents(deps)) already computed, which it keeps.
  Scheduler(const DepLists& deps, DepLists dependents, std::vector<double> priority, std::vector<std::string> pools,
            const std::map<std::string, int>& pool_depths, int jobs);

  /// Rate limits for named pools (null = none, the default). The limiter must outlive the
  /// scheduler.
  void SetRateLimiter(RateLimiter* limiter) {
    limiter_ = limiter;
    for (auto& [name, pool] : pools_) pool.rate = nullptr;
  }
  /// Seconds until a node that waits for a rate token may start; < 0 when none waits. The
  /// executor bounds its wait with it.
  double NextTokenIn() const;
  /// A node's attempt was answered 429: its pool's rate goes down (RateLimiter::OnRateLimited).
  void RateLimited(size_t node, double retry_after);
  /// Nodes ready but held back by their pool's rate.
  size_t rate_waiting() const { return rate_waiting_; }

  /// Before the first FindWork: node already succeeded (resume). Its dependents may be ready.
  void MarkSucceeded(size_t node);
  /// Starts scheduling: nodes with no pending dependencies become ready.
  void Start();

  /// The next node to start, or nullopt when none can start now. The node becomes kRunning
  /// and holds a job slot and a pool slot.
  std::optional<size_t> FindWork();

  /// A running node succeeded but its record is not yet durable: frees its slots, so other
  /// work can start, while its dependents keep waiting.
  void NodeFinishing(size_t node);
  /// A running or finishing node succeeded: frees its slots if still held; dependents whose
  /// dependencies have all succeeded become ready and are appended to *now_ready (optional).
  void NodeSucceeded(size_t node, std::vector<size_t>* now_ready = nullptr);
  /// A running node will be tried again later: frees its slots until Requeue.
  void NodeRetryWait(size_t node);
  /// A node waiting for a retry becomes ready again.
  void Requeue(size_t node);
  /// A running (or retry-waiting) node failed for good. Returns the nodes that depend on it,
  /// directly or not, that are now skipped.
  std::vector<size_t> NodeFailed(size_t node);
  /// Stops everything not yet started (--fail-fast, Ctrl-C): returns the nodes now skipped.
  /// Running nodes stay running until their outcome is reported.
  std::vector<size_t> SkipNotStarted();

  State state(size_t node) const { return state_[node]; }
  /// Whether any node waits for this one.
  bool has_dependents(size_t node) const { return !dependents_[node].empty(); }
  size_t running() const { return running_; }
  /// True when no node is waiting, ready, running or waiting for a retry.
  bool Finished() const;
  size_t count(State s) const;

 private:
  struct ReadyEntry {
    double priority;
    size_t node;
    bool operator<(const ReadyEntry& o) const {  // max-heap: higher priority, then lower index
      return priority != o.priority ? priority < o.priority : node > o.node;
    }
  };
  struct Pool {
    int depth = 0;  // 0 = unbounded
    int current = 0;
    std::priority_queue<ReadyEntry> delayed;
    std::vector<ReadyEntry> rate_waiting;  ///< ready, but no token in the bucket
    RateLimiter::PoolRef rate = nullptr;   ///< looked up once in limiter_
  };
  void SetState(size_t node, State s);
  void MakeReady(size_t node);
  void ReleaseSlots(size_t node);
  Pool* PoolOf(size_t node);
  void ReleaseRateWaiting();

  DepLists dependents_;
  std::vector<double> priority_;
  std::vector<std::string> pool_names_;
  std::map<std::string, Pool> pools_;
  std::vector<State> state_;
  std::vector<size_t> unfinished_deps_;
  std::priority_queue<ReadyEntry> ready_;
  int jobs_;
  RateLimiter* limiter_ = nullptr;
  size_t rate_waiting_ = 0;
  size_t running_ = 0;
  size_t counts_[8] = {};  // nodes per State, so Finished() and count() are O(1)
};

}  // namespace comfyrun
