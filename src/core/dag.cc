#include "comfyrun/core/dag.h"

#include <algorithm>

namespace comfyrun {

DepLists Dependents(const DepLists& deps) {
  // Counted first, so each list is allocated once at its size (a fan-out of 100 would
  // otherwise grow its list 8 times).
  std::vector<size_t> count(deps.size(), 0);
  for (const auto& list : deps)
    for (size_t d : list) ++count[d];
  DepLists out(deps.size());
  for (size_t i = 0; i < deps.size(); ++i) out[i].reserve(count[i]);
  for (size_t i = 0; i < deps.size(); ++i)
    for (size_t d : deps[i]) out[d].push_back(i);
  return out;
}

std::vector<size_t> FindCycle(const DepLists& deps) {
  enum Color : char { kWhite, kGray, kBlack };
  std::vector<Color> color(deps.size(), kWhite);
  std::vector<size_t> parent(deps.size(), SIZE_MAX);
  // Explicit stack of (node, next edge to follow).
  std::vector<std::pair<size_t, size_t>> stack;
  for (size_t start = 0; start < deps.size(); ++start) {
    if (color[start] != kWhite) continue;
    stack.push_back({start, 0});
    color[start] = kGray;
    while (!stack.empty()) {
      auto& [node, edge] = stack.back();
      if (edge == deps[node].size()) {
        color[node] = kBlack;
        stack.pop_back();
        continue;
      }
      size_t next = deps[node][edge++];
      if (color[next] == kGray) {
        // Found: next is on the stack. Walk the stack from next to node.
        std::vector<size_t> cycle;
        size_t k = 0;
        while (stack[k].first != next) ++k;
        for (; k < stack.size(); ++k) cycle.push_back(stack[k].first);
        cycle.push_back(next);
        // Edges point at dependencies; show the order in which data flows (a -> b: b uses a).
        std::reverse(cycle.begin(), cycle.end());
        return cycle;
      }
      if (color[next] == kWhite) {
        color[next] = kGray;
        stack.push_back({next, 0});
      }
    }
  }
  return {};
}

namespace {
/// Kahn's order: dependencies before dependents.
std::vector<size_t> TopologicalOrder(const DepLists& deps, const DepLists& dependents) {
  std::vector<size_t> waiting(deps.size());
  std::vector<size_t> order;
  order.reserve(deps.size());
  for (size_t i = 0; i < deps.size(); ++i) {
    waiting[i] = deps[i].size();
    if (waiting[i] == 0) order.push_back(i);
  }
  for (size_t k = 0; k < order.size(); ++k)
    for (size_t d : dependents[order[k]])
      if (--waiting[d] == 0) order.push_back(d);
  return order;
}
}  // namespace

std::vector<std::vector<size_t>> TopologicalStages(const DepLists& deps) {
  DepLists dependents = Dependents(deps);
  std::vector<size_t> level(deps.size(), 0);
  std::vector<std::vector<size_t>> stages;
  for (size_t node : TopologicalOrder(deps, dependents)) {
    for (size_t d : deps[node]) level[node] = std::max(level[node], level[d] + 1);
    if (stages.size() <= level[node]) stages.resize(level[node] + 1);
    stages[level[node]].push_back(node);
  }
  for (auto& stage : stages) std::sort(stage.begin(), stage.end());
  return stages;
}

std::vector<double> RemainingCriticalPath(const DepLists& deps, const DepLists& dependents,
                                          const std::vector<double>& weights) {
  std::vector<size_t> order = TopologicalOrder(deps, dependents);
  std::vector<double> remaining(deps.size(), 0);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    double longest_after = 0;
    for (size_t d : dependents[*it]) longest_after = std::max(longest_after, remaining[d]);
    remaining[*it] = weights[*it] + longest_after;
  }
  return remaining;
}

std::vector<double> RemainingCriticalPath(const DepLists& deps, const std::vector<double>& weights) {
  return RemainingCriticalPath(deps, Dependents(deps), weights);
}

std::vector<size_t> CriticalPath(const DepLists& deps, const std::vector<double>& weights, double* total) {
  DepLists dependents = Dependents(deps);  // once: 100,000 nodes' reverse edges are not free
  std::vector<double> remaining = RemainingCriticalPath(deps, dependents, weights);
  std::vector<size_t> path;
  *total = 0;
  size_t current = SIZE_MAX;
  for (size_t i = 0; i < deps.size(); ++i)
    if (deps[i].empty() && (current == SIZE_MAX || remaining[i] > remaining[current])) current = i;
  if (current == SIZE_MAX) return path;
  *total = remaining[current];
  while (current != SIZE_MAX) {
    path.push_back(current);
    size_t next = SIZE_MAX;
    for (size_t d : dependents[current])
      if (next == SIZE_MAX || remaining[d] > remaining[next]) next = d;
    current = next;
  }
  return path;
}

}  // namespace comfyrun
