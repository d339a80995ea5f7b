#include "comfyrun/core/plan_report.h"

#include <fmt/format.h>

#include <map>
#include <set>

#include "comfyrun/core/dag.h"
#include "comfyrun/core/rate.h"
#include "comfyrun/core/util.h"

namespace comfyrun {

NodeEstimate EstimateNode(const Workflow& wf, size_t index, bool offline) {
  const WorkflowNode& node = wf.nodes[index];
  NodeEstimate e;
  e.node = index;
  e.seconds = node.spec ? node.spec->expected_seconds : 1;
  if (!node.spec || !node.spec->paid) return e;
  // The model tables are the providers' (the registry sets estimate_cost on their types).
  if (node.spec->estimate_cost) e.cost = node.spec->estimate_cost(*node.spec, node.inputs, &e.model);
  if (offline) e.cost = 0;
  return e;
}

PlanReport BuildPlanReport(const Workflow& wf, bool offline) {
  PlanReport report;
  const DepLists& deps = wf.deps;
  std::vector<double> weights;
  for (size_t i = 0; i < wf.nodes.size(); ++i) {
    report.estimates.push_back(EstimateNode(wf, i, offline));
    weights.push_back(report.estimates.back().seconds);
    report.total_cost += report.estimates.back().cost;
  }
  report.stages = TopologicalStages(deps);
  report.critical_path = CriticalPath(deps, weights, &report.critical_seconds);
  std::map<std::string, size_t> per_pool;
  for (const auto& node : wf.nodes)
    if (!node.pool.empty()) ++per_pool[node.pool];
  const std::map<std::string, double> default_rates = DefaultPoolRates();
  for (const auto& [pool, n] : per_pool) {
    double rate = 0;
    if (auto it = wf.pool_rates.find(pool); it != wf.pool_rates.end())
      rate = it->second;
    else if (auto d = default_rates.find(pool); d != default_rates.end())
      rate = d->second;
    if (rate > 0 && n > 1) report.rate_bounds.push_back({pool, n, rate, RateBoundSeconds(n, rate)});
  }
  return report;
}

std::string FormatPlanText(const Workflow& wf, const PlanReport& report) {
  std::string out =
      fmt::format("workflow {}: {} nodes in {} stages\n", wf.workflow_id, wf.nodes.size(), report.stages.size());
  for (size_t s = 0; s < report.stages.size(); ++s) {
    out += fmt::format("stage {} ({} in parallel)\n", s + 1, report.stages[s].size());
    size_t shown = 0;
    for (size_t i : report.stages[s]) {
      if (++shown > 50) {
        out += fmt::format("  ... and {} more\n", report.stages[s].size() - 50);
        break;
      }
      const auto& e = report.estimates[i];
      out += fmt::format("  {:<28} {:<18}", wf.nodes[i].id, wf.nodes[i].type);
      if (!e.model.empty()) out += fmt::format(" {:<30} ${:.3f}", e.model, e.cost);
      out += "\n";
    }
  }
  // A long path shows its first and last nodes: a chain of 100,000 nodes stays one readable line.
  std::vector<std::string> path;
  const auto& critical = report.critical_path;
  constexpr size_t kShown = 10;
  for (size_t k = 0; k < critical.size(); ++k) {
    if (critical.size() > 2 * kShown && k == kShown) {
      path.push_back(fmt::format("... ({} more)", critical.size() - 2 * kShown));
      k = critical.size() - kShown;
    }
    path.push_back(wf.nodes[critical[k]].id);
  }
  out += fmt::format("critical path (~{}, {} node{}): {}\n", FormatDuration(report.critical_seconds), critical.size(),
                     critical.size() == 1 ? "" : "s", fmt::join(path, " -> "));
  for (const auto& b : report.rate_bounds)
    out += fmt::format("rate limit: pool {} starts {} nodes at {}: at least {}\n", b.pool, b.nodes,
                       FormatRate(b.per_second), FormatDuration(b.seconds));
  out += fmt::format("estimated cost: ${:.2f}\n", report.total_cost);
  return out;
}

Json PlanToJson(const Workflow& wf, const PlanReport& report) {
  Json out = Json::object();
  out["workflowId"] = wf.workflow_id;
  out["nodes"] = wf.nodes.size();
  Json stages = Json::array();
  for (const auto& stage : report.stages) {
    Json ids = Json::array();
    for (size_t i : stage) ids.push_back(wf.nodes[i].id);
    stages.push_back(ids);
  }
  out["stages"] = stages;
  Json path = Json::array();
  for (size_t i : report.critical_path) path.push_back(wf.nodes[i].id);
  out["criticalPath"] = path;
  out["criticalPathSeconds"] = report.critical_seconds;
  Json estimates = Json::array();
  for (const auto& e : report.estimates) {
    Json item = {{"id", wf.nodes[e.node].id},
                 {"type", wf.nodes[e.node].type},
                 {"expectedSeconds", e.seconds},
                 {"estimatedCost", e.cost}};
    if (!e.model.empty()) item["model"] = e.model;
    estimates.push_back(item);
  }
  out["estimates"] = estimates;
  out["estimatedCost"] = report.total_cost;
  Json bounds = Json::array();
  for (const auto& b : report.rate_bounds)
    bounds.push_back({{"pool", b.pool}, {"nodes", b.nodes}, {"ratePerSecond", b.per_second}, {"seconds", b.seconds}});
  out["rateLimits"] = bounds;
  return out;
}

std::string PlanToDot(const Workflow& wf, const PlanReport& report) {
  std::set<std::pair<size_t, size_t>> critical_edges;
  std::set<size_t> critical(report.critical_path.begin(), report.critical_path.end());
  for (size_t k = 1; k < report.critical_path.size(); ++k)
    critical_edges.insert({report.critical_path[k - 1], report.critical_path[k]});
  auto escape = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out;
  };
  std::string out = fmt::format("digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
                                escape(wf.workflow_id));
  for (size_t i = 0; i < wf.nodes.size(); ++i) {
    const auto& e = report.estimates[i];
    std::string label = escape(wf.nodes[i].id) + "\\n" + escape(wf.nodes[i].type);
    if (e.cost > 0) label += fmt::format("\\n${:.2f}", e.cost);
    out += fmt::format("  n{} [label=\"{}\"{}];\n", i, label,
                       critical.count(i) ? ", penwidth=2.5, color=\"#c0392b\"" : "");
  }
  for (size_t i = 0; i < wf.nodes.size(); ++i)
    for (size_t d : wf.deps[i])
      out += fmt::format("  n{} -> n{}{};\n", d, i,
                         critical_edges.count({d, i}) ? " [penwidth=2.5, color=\"#c0392b\"]" : "");
  out += "}\n";
  return out;
}

}  // namespace comfyrun
