#pragma once
// What `comfyrun plan` shows before anything runs: the stages (what runs in parallel), the
// critical path, and the estimated cost of every paid node.
#include <string>
#include <vector>

#include "comfyrun/core/json.h"
#include "comfyrun/core/workflow.h"

namespace comfyrun {

struct NodeEstimate {
  size_t node = 0;
  std::string model;   ///< resolved model id, "" for unpaid nodes
  double cost = 0;     ///< USD
  double seconds = 0;  ///< expected duration
};

/// The least time a pool's rate limit ("rate" in pools, or the provider's default) takes to
/// start all of the pool's nodes.
struct PoolRateBound {
  std::string pool;
  size_t nodes = 0;
  double per_second = 0;
  double seconds = 0;
};

struct PlanReport {
  std::vector<std::vector<size_t>> stages;
  std::vector<size_t> critical_path;
  double critical_seconds = 0;
  std::vector<NodeEstimate> estimates;  ///< one per node, in workflow order
  double total_cost = 0;
  std::vector<PoolRateBound> rate_bounds;  ///< pools with a rate and more than one node
};

/// Requires a validated (acyclic) workflow. `offline` prices every generation at 0.
PlanReport BuildPlanReport(const Workflow& workflow, bool offline);

/// Expected cost of one node (0 for unpaid or offline nodes, or when the model is a template).
NodeEstimate EstimateNode(const Workflow& workflow, size_t node, bool offline);

std::string FormatPlanText(const Workflow& workflow, const PlanReport& report);
Json PlanToJson(const Workflow& workflow, const PlanReport& report);
/// Graphviz DOT: one box per node (type, cost), edges from dependency to dependent, the
/// critical path in bold.
std::string PlanToDot(const Workflow& workflow, const PlanReport& report);

}  // namespace comfyrun
