#include "comfyrun/metrics/run_metrics.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "comfyrun/dag.h"
#include "comfyrun/template.h"
#include "comfyrun/util.h"

namespace comfyrun {

const char* JournalStatusName(JournalNode::Status status) {
  switch (status) {
    case JournalNode::Status::kPending: return "pending";
    case JournalNode::Status::kRunning: return "running";
    case JournalNode::Status::kCompleted: return "completed";
    case JournalNode::Status::kFailed: return "failed";
    case JournalNode::Status::kSkipped: return "skipped";
  }
  return "pending";
}

namespace {

struct NodeInfo {
  std::string id, type;
  std::vector<std::string> deps;  // ids
};

/// Node ids, types and dependency ids from the header's workflow (references and dependsOn).
std::vector<NodeInfo> NodesOfHeader(const Json& header) {
  std::vector<NodeInfo> out;
  if (!header.is_object() || !header.contains("workflow") || !header["workflow"].contains("nodes")) return out;
  for (const auto& n : header["workflow"]["nodes"]) {
    if (!n.is_object() || !n.contains("id") || !n["id"].is_string()) continue;
    NodeInfo info;
    info.id = n["id"].get<std::string>();
    info.type = n.value("type", "");
    std::vector<Reference> refs;
    std::vector<std::pair<std::string, std::string>> errors;
    if (n.contains("inputs")) FindReferences(n["inputs"], "", &refs, &errors);
    for (const auto& r : refs)
      if (r.root != "params" && r.root != "run") info.deps.push_back(r.root);
    if (n.contains("dependsOn") && n["dependsOn"].is_array())
      for (const auto& d : n["dependsOn"])
        if (d.is_string()) info.deps.push_back(d.get<std::string>());
    out.push_back(std::move(info));
  }
  return out;
}

/// Largest number of node attempts running at the same time, from start/end events.
int PeakParallelism(const JournalReplay& replay) {
  std::vector<std::pair<int64_t, int>> edges;  // (time, +1 start / -1 end)
  for (const auto& [id, node] : replay.nodes) {
    int64_t open = -1;
    for (const auto& e : node.events) {
      std::string type = e.value("type", "");
      int64_t t = e.value("t", int64_t{0});
      if (type == "node_started") {
        if (open >= 0) edges.push_back({t, -1});
        open = t;
        edges.push_back({t, +1});
      } else if ((type == "completed" || type == "attempt_failed" || type == "node_failed") && open >= 0) {
        edges.push_back({t, -1});
        open = -1;
      }
    }
    if (open >= 0) edges.push_back({replay.last_event_at, -1});
  }
  std::sort(edges.begin(), edges.end());  // ends (-1) before starts at the same instant
  int current = 0, peak = 0;
  for (const auto& [t, delta] : edges) {
    current += delta;
    peak = std::max(peak, current);
  }
  return peak;
}

}  // namespace

Json BuildRunMetrics(const JournalReplay& replay) {
  const Json& header = replay.header;
  Json m = Json::object();
  m["schemaVersion"] = 1;
  m["runId"] = header.value("runId", "");
  m["workflowId"] = header.value("workflowId", "");
  std::string status = replay.finished ? replay.final_status : "running";
  m["status"] = status;
  m["startedAt"] = replay.first_started_at ? IsoTime(replay.first_started_at) : "";
  m["finishedAt"] = replay.finished ? IsoTime(replay.last_event_at) : "";
  m["durationMs"] = replay.last_event_at - replay.first_started_at;
  m["totalCost"] = replay.total_cost;
  m["runs"] = replay.runs;

  std::vector<NodeInfo> infos = NodesOfHeader(header);
  std::map<std::string, int> counts = {{"completed", 0}, {"failed", 0}, {"skipped", 0}, {"running", 0}, {"pending", 0}};
  std::map<std::string, int> errors;
  int cached_nodes = 0;  // completed from the output cache (docs/cache.md), at cost 0
  Json nodes = Json::array();
  static const JournalNode kNever;
  for (const auto& info : infos) {
    auto it = replay.nodes.find(info.id);
    const JournalNode& n = it == replay.nodes.end() ? kNever : it->second;
    std::string node_status = JournalStatusName(n.status);
    // A node left running by a run that has finished was interrupted.
    if (n.status == JournalNode::Status::kRunning && replay.finished) node_status = "interrupted";
    counts[node_status == "interrupted" ? "pending" : node_status]++;
    if (n.cached && n.status == JournalNode::Status::kCompleted) ++cached_nodes;
    Json j = {{"id", info.id}, {"type", info.type}, {"provider", n.provider}, {"model", n.model},
              {"status", node_status}, {"attempts", n.attempts},
              {"start", n.started_at ? IsoTime(n.started_at) : ""}, {"end", n.finished_at ? IsoTime(n.finished_at) : ""},
              {"durationMs", n.duration_ms}, {"queueWaitMs", n.queue_wait_ms}, {"cost", n.cost}, {"cached", n.cached},
              {"outputs", n.outputs.is_null() ? Json::object() : n.outputs}};
    for (const auto& e : n.events) {
      std::string type = e.value("type", "");
      if (type == "attempt_failed" || type == "node_failed") errors[e.value("error", "Internal")] += type == "attempt_failed";
    }
    if (n.last_error != ErrorType::kNone && n.status != JournalNode::Status::kCompleted)
      j["error"] = {{"type", ErrorTypeName(n.last_error)}, {"message", n.last_message}};
    nodes.push_back(j);
  }
  // Critical path of what happened: the chain of completed nodes with the longest total time.
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < infos.size(); ++i) index[infos[i].id] = i;
  DepLists deps(infos.size());
  std::vector<double> weights(infos.size(), 0);
  for (size_t i = 0; i < infos.size(); ++i) {
    for (const auto& d : infos[i].deps)
      if (auto it = index.find(d); it != index.end() && it->second != i) deps[i].push_back(it->second);
    std::sort(deps[i].begin(), deps[i].end());
    deps[i].erase(std::unique(deps[i].begin(), deps[i].end()), deps[i].end());
    auto it = replay.nodes.find(infos[i].id);
    if (it != replay.nodes.end()) weights[i] = static_cast<double>(it->second.duration_ms);
  }
  Json path = Json::array();
  double total = 0;
  if (FindCycle(deps).empty())
    for (size_t i : CriticalPath(deps, weights, &total)) path.push_back(infos[i].id);
  m["criticalPath"] = path;
  m["criticalPathMs"] = static_cast<int64_t>(total);
  m["peakParallelism"] = PeakParallelism(replay);
  m["counts"] = counts;
  m["cachedNodes"] = cached_nodes;
  m["errors"] = errors;
  m["nodes"] = nodes;
  return m;
}

}  // namespace comfyrun
