#pragma once
// Two nodes with the same cache key (same type, model and inputs: two equal rows of a batch)
// that become ready together would both miss the output cache and both pay. The gate lets
// the first run and parks the others until it ends; they then ask the cache again and take
// its result, or, when it failed, the next one runs. Internal to src/engine; executor thread.
#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace comfyrun {

class SameInputsGate {
 public:
  using Attempt = std::pair<size_t, int>;  ///< node, attempt number

  /// Node `node` is about to run attempt `attempt` for `key`: true when it may (no other node
  /// runs that key; it now does), false when it was parked behind the one that does.
  bool Admit(const std::string& key, size_t node, int attempt) {
    auto [it, inserted] = leaders_.try_emplace(key, node);
    if (inserted || it->second == node) return true;
    parked_[key].emplace_back(node, attempt);
    return false;
  }
  /// The attempt that ran `key` for `node` ended (any outcome): the nodes parked behind it are
  /// due (TakeDue), after the result is in the cache.
  void Ended(const std::string& key, size_t node) {
    auto it = leaders_.find(key);
    if (it == leaders_.end() || it->second != node) return;
    leaders_.erase(it);
    auto waiting = parked_.find(key);
    if (waiting == parked_.end()) return;
    due_.insert(due_.end(), waiting->second.begin(), waiting->second.end());
    parked_.erase(waiting);
  }
  std::vector<Attempt> TakeDue() { return std::exchange(due_, {}); }
  /// Every parked attempt, for a run that stops.
  std::vector<Attempt> TakeAllParked() {
    std::vector<Attempt> all = TakeDue();
    for (auto& [key, list] : parked_) all.insert(all.end(), list.begin(), list.end());
    parked_.clear();
    return all;
  }

 private:
  std::unordered_map<std::string, size_t> leaders_;               // key -> the node running it
  std::unordered_map<std::string, std::vector<Attempt>> parked_;  // key -> parked, in order
  std::vector<Attempt> due_;
};

}  // namespace comfyrun
