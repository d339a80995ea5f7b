#include "comfyrun/engine/rate_limit.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "comfyrun/core/util.h"

namespace comfyrun {
namespace {

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Window over which an undeclared pool's actual start rate is measured.
constexpr double kObserveSeconds = 10;
/// 429s closer together than this come from one burst and lower the rate once.
constexpr double kDecreaseDebounce = 1;
/// Longest Retry-After honoured for the whole pool (a node's own retry may wait longer).
constexpr double kMaxBlock = 120;

}  // namespace

RateLimiter::RateLimiter() : RateLimiter(SteadySeconds) {}
RateLimiter::RateLimiter(Clock clock) : clock_(std::move(clock)) {}

double RateLimiter::Capacity(double rate) { return std::max(1.0, rate * 0.5); }

void RateLimiter::NoteStart(Pool* p, double now) {
  uint64_t n = p->next_start.fetch_add(1, std::memory_order_relaxed);
  p->starts[n % Pool::kRing].store(now, std::memory_order_relaxed);
}

size_t RateLimiter::StartsSince(const Pool& p, double since) {
  uint64_t n = std::min<uint64_t>(p.next_start.load(std::memory_order_relaxed), Pool::kRing);
  size_t count = 0;
  for (uint64_t i = 0; i < n; ++i)
    if (p.starts[i].load(std::memory_order_relaxed) >= since) ++count;
  return count;
}

void RateLimiter::Refill(Pool* p, double now) {
  if (p->last < 0) p->last = now;
  double dt = std::max(0.0, now - p->last);
  p->last = now;
  if (p->lowered && now >= p->blocked_until) {
    p->rate += p->step * dt;
    double target = p->ceiling > 0 ? p->ceiling : p->recover_to;
    if (p->rate >= target) {
      p->rate = p->ceiling;  // back to the ceiling, or to no limit
      p->lowered = false;
    }
  }
  if (p->rate > 0) p->tokens = std::min(Capacity(p->rate), p->tokens + p->rate * dt);
  p->limited.store(p->ceiling > 0 || p->lowered || now < p->blocked_until, std::memory_order_release);
}

void RateLimiter::Configure(const std::string& pool, double per_second) {
  std::lock_guard<std::mutex> lock(mu_);
  Pool& p = pools_[pool];
  Refill(&p, clock_());
  p.ceiling = per_second > 0 ? per_second : 0;
  if (!p.lowered) {
    p.rate = p.ceiling;
    p.tokens = std::min(p.tokens, Capacity(p.rate));
  } else if (p.ceiling > 0 && p.rate > p.ceiling) {
    p.rate = p.ceiling;
  }
  Refill(&p, clock_());  // updates `limited` for the new ceiling
}

RateLimiter::PoolRef RateLimiter::Ref(const std::string& pool) {
  std::lock_guard<std::mutex> lock(mu_);
  return &pools_[pool];  // std::map never moves its elements
}

bool RateLimiter::TryAcquire(PoolRef pool) {
  Pool& p = *pool;
  if (!p.limited.load(std::memory_order_acquire)) {
    // No rate and no 429 so far: nothing to wait for, only the start to note.
    NoteStart(&p, clock_());
    return true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  double now = clock_();
  Refill(&p, now);
  if (now < p.blocked_until) return false;
  if (p.rate > 0) {
    if (p.tokens < 1 - 1e-9) return false;
    p.tokens -= 1;
  }
  NoteStart(&p, now);
  return true;
}

double RateLimiter::SecondsUntilToken(const std::string& pool) {
  std::lock_guard<std::mutex> lock(mu_);
  double now = clock_();
  Pool& p = pools_[pool];
  Refill(&p, now);
  if (now < p.blocked_until) return p.blocked_until - now;
  if (p.rate <= 0 || p.tokens >= 1 - 1e-9) return 0;
  return (1 - p.tokens) / p.rate;
}

void RateLimiter::OnRateLimited(const std::string& pool, double retry_after) {
  std::lock_guard<std::mutex> lock(mu_);
  double now = clock_();
  Pool& p = pools_[pool];
  Refill(&p, now);
  if (retry_after > 0) p.blocked_until = std::max(p.blocked_until, now + std::min(retry_after, kMaxBlock));
  p.limited.store(true, std::memory_order_release);  // from now on every start takes the bucket path
  if (now - p.last_decrease < kDecreaseDebounce) return;
  p.last_decrease = now;
  double base = p.rate;
  if (base <= 0) {
    // Undeclared: what the pool actually started lately is above what the provider takes.
    base = std::max(kFloor, static_cast<double>(StartsSince(p, now - kObserveSeconds)) / kObserveSeconds);
    p.recover_to = base;
  }
  p.rate = std::max(kFloor, base / 2);
  double target = p.ceiling > 0 ? p.ceiling : p.recover_to;
  p.step = std::max(kFloor, target) / kRecoverySeconds;
  p.tokens = 0;
  p.lowered = true;
}

double RateLimiter::CurrentRate(const std::string& pool) {
  std::lock_guard<std::mutex> lock(mu_);
  Pool& p = pools_[pool];
  Refill(&p, clock_());
  return p.rate;
}

RateLimiter& ProcessRateLimiter() {
  static RateLimiter* limiter = new RateLimiter();  // never destroyed: threads may outlive main
  return *limiter;
}

void ConfigurePoolRates(const std::map<std::string, double>& declared, RateLimiter* limiter) {
  for (const auto& [name, rate] : DefaultPoolRates())
    if (!declared.count(name)) limiter->Configure(name, rate);
  for (const auto& [name, rate] : declared) limiter->Configure(name, rate);
}

}  // namespace comfyrun
