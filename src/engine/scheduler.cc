#include "comfyrun/engine/scheduler.h"

#include <algorithm>

namespace comfyrun {

Scheduler::Scheduler(const DepLists& deps, std::vector<double> priority, std::vector<std::string> pools,
                     const std::map<std::string, int>& pool_depths, int jobs)
    : Scheduler(deps, Dependents(deps), std::move(priority), std::move(pools), pool_depths, jobs) {}

Scheduler::Scheduler(const DepLists& deps, DepLists dependents, std::vector<double> priority,
                     std::vector<std::string> pools, const std::map<std::string, int>& pool_depths, int jobs)
    : dependents_(std::move(dependents)),
      priority_(std::move(priority)),
      pool_names_(std::move(pools)),
      state_(deps.size(), State::kWaiting),
      unfinished_deps_(deps.size()),
      jobs_(std::max(1, jobs)) {
  for (size_t i = 0; i < deps.size(); ++i) unfinished_deps_[i] = deps[i].size();
  counts_[static_cast<int>(State::kWaiting)] = deps.size();
  for (const auto& name : pool_names_)
    if (!name.empty()) pools_[name];
  for (const auto& [name, depth] : pool_depths) pools_[name].depth = depth;
}

void Scheduler::SetState(size_t node, State s) {
  --counts_[static_cast<int>(state_[node])];
  ++counts_[static_cast<int>(s)];
  state_[node] = s;
}

Scheduler::Pool* Scheduler::PoolOf(size_t node) {
  const std::string& name = pool_names_[node];
  if (name.empty()) return nullptr;
  return &pools_[name];
}

void Scheduler::MarkSucceeded(size_t node) {
  SetState(node, State::kSucceeded);
  for (size_t d : dependents_[node]) --unfinished_deps_[d];
}

void Scheduler::Start() {
  for (size_t i = 0; i < state_.size(); ++i)
    if (state_[i] == State::kWaiting && unfinished_deps_[i] == 0) MakeReady(i);
}

void Scheduler::MakeReady(size_t node) {
  SetState(node, State::kReady);
  ready_.push({priority_[node], node});
}

void Scheduler::ReleaseRateWaiting() {
  if (rate_waiting_ == 0 || !limiter_) return;
  for (auto& [name, pool] : pools_) {
    if (pool.rate_waiting.empty() || limiter_->SecondsUntilToken(name) > 0) continue;
    for (const ReadyEntry& e : pool.rate_waiting) ready_.push(e);
    rate_waiting_ -= pool.rate_waiting.size();
    pool.rate_waiting.clear();
  }
}

double Scheduler::NextTokenIn() const {
  if (rate_waiting_ == 0 || !limiter_) return -1;
  double next = -1;
  for (const auto& [name, pool] : pools_) {
    if (pool.rate_waiting.empty()) continue;
    double t = limiter_->SecondsUntilToken(name);
    if (next < 0 || t < next) next = t;
  }
  return next;
}

void Scheduler::RateLimited(size_t node, double retry_after) {
  if (limiter_ && !pool_names_[node].empty()) limiter_->OnRateLimited(pool_names_[node], retry_after);
}

std::optional<size_t> Scheduler::FindWork() {
  ReleaseRateWaiting();
  while (running_ < static_cast<size_t>(jobs_) && !ready_.empty()) {
    ReadyEntry top = ready_.top();
    ready_.pop();
    if (state_[top.node] != State::kReady) continue;  // stale entry (skipped meanwhile)
    Pool* pool = PoolOf(top.node);
    if (pool && pool->depth > 0 && pool->current >= pool->depth) {
      pool->delayed.push(top);  // ninja's Pool::DelayEdge
      continue;
    }
    if (pool && limiter_ && !pool->rate) pool->rate = limiter_->Ref(pool_names_[top.node]);
    // Lock-free for a pool without a rate that never met a 429 (rate_limit.h).
    if (pool && limiter_ && !limiter_->TryAcquire(pool->rate)) {
      pool->rate_waiting.push_back(top);  // back in ready_ once a token is due
      ++rate_waiting_;
      continue;
    }
    if (pool) ++pool->current;
    ++running_;
    SetState(top.node, State::kRunning);
    return top.node;
  }
  return std::nullopt;
}

void Scheduler::ReleaseSlots(size_t node) {
  --running_;
  Pool* pool = PoolOf(node);
  if (!pool) return;
  --pool->current;
  // ninja's Pool::RetrieveReadyEdges: hand the freed slot to the best delayed node.
  while (!pool->delayed.empty()) {
    ReadyEntry next = pool->delayed.top();
    pool->delayed.pop();
    if (state_[next.node] == State::kReady) {
      ready_.push(next);
      break;
    }
  }
}

void Scheduler::NodeFinishing(size_t node) {
  ReleaseSlots(node);
  SetState(node, State::kFinishing);
}

void Scheduler::NodeSucceeded(size_t node, std::vector<size_t>* now_ready) {
  if (state_[node] == State::kRunning) ReleaseSlots(node);
  SetState(node, State::kSucceeded);
  for (size_t d : dependents_[node])
    if (--unfinished_deps_[d] == 0 && state_[d] == State::kWaiting) {
      MakeReady(d);
      if (now_ready) now_ready->push_back(d);
    }
}

void Scheduler::NodeRetryWait(size_t node) {
  ReleaseSlots(node);
  SetState(node, State::kRetryWait);
}

void Scheduler::Requeue(size_t node) {
  if (state_[node] == State::kRetryWait) MakeReady(node);
}

std::vector<size_t> Scheduler::NodeFailed(size_t node) {
  if (state_[node] == State::kRunning) ReleaseSlots(node);
  SetState(node, State::kFailed);
  std::vector<size_t> skipped;
  std::vector<size_t> stack(dependents_[node].begin(), dependents_[node].end());
  while (!stack.empty()) {
    size_t d = stack.back();
    stack.pop_back();
    if (state_[d] == State::kSkipped || state_[d] == State::kSucceeded || state_[d] == State::kFailed) continue;
    SetState(d, State::kSkipped);
    skipped.push_back(d);
    stack.insert(stack.end(), dependents_[d].begin(), dependents_[d].end());
  }
  std::sort(skipped.begin(), skipped.end());
  return skipped;
}

std::vector<size_t> Scheduler::SkipNotStarted() {
  std::vector<size_t> skipped;
  for (size_t i = 0; i < state_.size(); ++i) {
    if (state_[i] == State::kWaiting || state_[i] == State::kReady || state_[i] == State::kRetryWait) {
      SetState(i, State::kSkipped);
      skipped.push_back(i);
    }
  }
  return skipped;
}

bool Scheduler::Finished() const {
  return count(State::kWaiting) + count(State::kReady) + count(State::kRunning) + count(State::kRetryWait) +
             count(State::kFinishing) ==
         0;
}

size_t Scheduler::count(State s) const { return counts_[static_cast<int>(s)]; }

}  // namespace comfyrun
