#pragma once
// Graph algorithms over a workflow's dependency edges. Every function is iterative, so a
// chain of 100,000 nodes does not exhaust the stack.
//
// The graph is given as `deps[i]` = the nodes node i waits for.
#include <string>
#include <vector>

namespace comfyrun {

using DepLists = std::vector<std::vector<size_t>>;

/// A cycle as node indices with the first repeated at the end (a -> b -> a), or empty.
std::vector<size_t> FindCycle(const DepLists& deps);

/// Nodes grouped by stage: stage k holds the nodes whose longest chain of dependencies has k
/// links, so everything in a stage can run at the same time. Requires an acyclic graph.
std::vector<std::vector<size_t>> TopologicalStages(const DepLists& deps);

/// For each node, the longest weighted path from it to the end of the graph, itself
/// included: the scheduler's priority (ninja's critical path). Requires an acyclic graph.
std::vector<double> RemainingCriticalPath(const DepLists& deps, const std::vector<double>& weights);
/// The same with the reverse edges (Dependents) already at hand: 100,000 nodes' cost 10 ms.
std::vector<double> RemainingCriticalPath(const DepLists& deps, const DepLists& dependents,
                                          const std::vector<double>& weights);

/// The critical path itself, first node to last, and its total weight.
std::vector<size_t> CriticalPath(const DepLists& deps, const std::vector<double>& weights, double* total);

/// The reverse edges: dependents[i] = nodes that wait for i.
DepLists Dependents(const DepLists& deps);

}  // namespace comfyrun
