#pragma once
// Rate limits per pool: a token bucket with AIMD (additive increase, multiplicative decrease).
//
// A pool may declare a rate ("pools": {"fal": {"concurrency": 10, "rate": "60/min"}}); the
// scheduler (scheduler.h) starts a node of that pool only when the pool's bucket holds a token.
// A 429 from a provider halves the pool's current rate (an undeclared pool gets a rate from
// what it actually started in the last seconds) and empties its bucket; the pool then waits
// the provider's Retry-After, and the rate rises back linearly to the declared ceiling (or to
// no limit) over about a minute without another 429. A large batch so converges on the
// provider's real limit instead of retrying in a storm.
//
// One limiter serves the whole process (ProcessRateLimiter): runs of an abtest, or two
// executors in one process, share what a 429 taught. Thread-safe.
//
// Cost: most pools have no rate and never see a 429. For them TryAcquire(PoolRef) takes no
// lock and looks nothing up: it reads one atomic flag and notes the start in a lock-free ring
// (what a first 429 measures the pool's actual rate from). The flag goes up as soon as the
// pool is declared a rate or meets a 429, and from then on every start takes the bucket path.
#include <array>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "comfyrun/core/rate.h"

namespace comfyrun {

class RateLimiter {
 public:
  /// Seconds on a monotonic clock.
  using Clock = std::function<double()>;

  /// One pool's state, at a stable address for the limiter's life. The atomics are read
  /// without the lock; the rest is guarded by the limiter's mutex.
  struct Pool {
    /// Whether starts must go through the bucket: a declared rate, a lowered rate or a
    /// Retry-After block. Written under the mutex.
    std::atomic<bool> limited{false};
    /// The times of the last kRing starts, lock-free: what a first 429 on an undeclared pool
    /// measures the pool's actual rate from.
    static constexpr size_t kRing = 1024;
    std::array<std::atomic<double>, kRing> starts{};
    std::atomic<uint64_t> next_start{0};

    double ceiling = 0;  ///< declared; 0 = none
    double rate = 0;     ///< now; 0 = unlimited
    double tokens = 1;
    double last = -1;  ///< time of the last refill
    double blocked_until = 0;
    double last_decrease = -1e9;
    bool lowered = false;   ///< recovering from a 429
    double recover_to = 0;  ///< undeclared pools: the rate at which the limit is lifted
    double step = 0;        ///< additive increase, per second per second
  };
  /// Look a pool up once, then TryAcquire(ref) needs no map lookup, and no lock while the
  /// pool is unlimited.
  using PoolRef = Pool*;

  RateLimiter();  ///< steady_clock
  explicit RateLimiter(Clock clock);

  /// Declares a pool's ceiling (starts per second; <= 0 = none). A lowered rate stays
  /// lowered until it recovers; a higher ceiling than the current one takes effect at once.
  void Configure(const std::string& pool, double per_second);
  PoolRef Ref(const std::string& pool);
  /// Takes a token when the pool may start now. A pool never configured and never limited
  /// always may.
  bool TryAcquire(const std::string& pool) { return TryAcquire(Ref(pool)); }
  bool TryAcquire(PoolRef pool);
  /// Seconds until TryAcquire may succeed: 0 when now.
  double SecondsUntilToken(const std::string& pool);
  /// A provider answered 429 (to a submission, or to a poll of a running job): see the file
  /// comment. `retry_after` < 0 when it gave no hint.
  void OnRateLimited(const std::string& pool, double retry_after);
  /// The pool's rate now (starts per second), 0 when it has none.
  double CurrentRate(const std::string& pool);
  double Now() const { return clock_(); }

  /// Slowest rate a 429 can push a pool down to: one start a minute.
  static constexpr double kFloor = 1.0 / 60;
  /// Seconds a lowered rate takes to climb back by the rate it had before the 429.
  static constexpr double kRecoverySeconds = 60;

 private:
  void Refill(Pool* p, double now);  // mu_ held; also updates p->limited
  static double Capacity(double rate);
  static void NoteStart(Pool* p, double now);
  static size_t StartsSince(const Pool& p, double since);

  Clock clock_;
  std::mutex mu_;
  std::map<std::string, Pool> pools_;
};

/// The limiter every executor in this process uses.
RateLimiter& ProcessRateLimiter();

/// Configures `limiter` with the default rates, then the workflow's (pool -> starts per second).
void ConfigurePoolRates(const std::map<std::string, double>& declared, RateLimiter* limiter);

}  // namespace comfyrun
