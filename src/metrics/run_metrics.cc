#include "comfyrun/metrics/run_metrics.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <string_view>
#include <unordered_map>

#include <fmt/format.h>

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

/// Largest number of node attempts running at the same time, from the attempt spans. An
/// attempt a crash cut short ends where the node's next attempt starts, or at the last event.
int PeakParallelism(const JournalReplay& replay) {
  std::vector<std::pair<int64_t, int>> edges;  // (time, +1 start / -1 end)
  for (const auto& [id, node] : replay.nodes) {
    for (size_t k = 0; k < node.spans.size(); ++k) {
      const AttemptSpan& s = node.spans[k];
      int64_t end = s.end;
      if (s.outcome == AttemptSpan::Outcome::kOpen)
        end = k + 1 < node.spans.size() ? node.spans[k + 1].start : replay.last_event_at;
      edges.push_back({s.start, +1});
      edges.push_back({end, -1});
    }
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

namespace {

/// A node's status name in metrics: a node left running by a run that has finished was
/// interrupted.
std::string NodeStatusName(const JournalNode& n, bool run_finished) {
  if (n.status == JournalNode::Status::kRunning && run_finished) return "interrupted";
  return JournalStatusName(n.status);
}

const JournalNode& NodeOf(const JournalReplay& replay, const std::string& id) {
  static const JournalNode kNever;
  auto it = replay.nodes.find(id);
  return it == replay.nodes.end() ? kNever : it->second;
}

/// Each header node's journal state, looked up once (hash lookups of 100k ids add up).
std::vector<const JournalNode*> JournalNodesOf(const JournalReplay& replay, const std::vector<NodeInfo>& infos) {
  std::vector<const JournalNode*> out;
  out.reserve(infos.size());
  for (const auto& info : infos) out.push_back(&NodeOf(replay, info.id));
  return out;
}

/// Everything but "nodes": the run's totals, counts, errors and critical path.
Json RunSummaryMetrics(const JournalReplay& replay, const std::vector<NodeInfo>& infos,
                       const std::vector<const JournalNode*>& states) {
  const Json& header = replay.header;
  Json m = Json::object();
  m["schemaVersion"] = 1;
  m["runId"] = header.value("runId", "");
  m["workflowId"] = header.value("workflowId", "");
  m["status"] = replay.finished ? replay.final_status : "running";
  m["startedAt"] = replay.first_started_at ? IsoTime(replay.first_started_at) : "";
  m["finishedAt"] = replay.finished ? IsoTime(replay.last_event_at) : "";
  m["durationMs"] = replay.last_event_at - replay.first_started_at;
  m["totalCost"] = replay.total_cost;
  m["runs"] = replay.runs;

  std::map<std::string, int> counts = {{"completed", 0}, {"failed", 0}, {"skipped", 0}, {"running", 0}, {"pending", 0}};
  std::map<std::string, int> errors;
  int cached_nodes = 0;  // completed from the output cache (docs/cache.md), at cost 0
  for (const JournalNode* state : states) {
    const JournalNode& n = *state;
    std::string node_status = NodeStatusName(n, replay.finished);
    counts[node_status == "interrupted" ? "pending" : node_status]++;
    if (n.cached && n.status == JournalNode::Status::kCompleted) ++cached_nodes;
    for (const auto& span : n.spans)
      if (span.outcome == AttemptSpan::Outcome::kFailed) ++errors[span.error];
  }
  // Critical path of what happened: the chain of completed nodes with the longest total time.
  std::unordered_map<std::string_view, size_t> index;
  index.reserve(infos.size());
  for (size_t i = 0; i < infos.size(); ++i) index.emplace(infos[i].id, i);
  DepLists deps(infos.size());
  std::vector<double> weights(infos.size(), 0);
  for (size_t i = 0; i < infos.size(); ++i) {
    for (const auto& d : infos[i].deps)
      if (auto it = index.find(d); it != index.end() && it->second != i) deps[i].push_back(it->second);
    std::sort(deps[i].begin(), deps[i].end());
    deps[i].erase(std::unique(deps[i].begin(), deps[i].end()), deps[i].end());
    weights[i] = static_cast<double>(states[i]->duration_ms);
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
  return m;
}

}  // namespace


namespace {

/// Appends `s` as a JSON string. Plain printable ASCII (ids, types, statuses, times) is
/// copied as is; anything else goes through nlohmann, which escapes and repairs bad UTF-8.
void AppendJsonString(std::string* out, std::string_view s) {
  bool plain = true;
  for (unsigned char c : s)
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  if (plain) {
    out->push_back('"');
    out->append(s);
    out->push_back('"');
    return;
  }
  *out += Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// A double as nlohmann writes it (shortest round-trip form, ".0" on whole numbers), so the
/// file reads back to the same numbers and types as the metrics document of nlohmann values.
void AppendDouble(std::string* out, double v) {
  if (!std::isfinite(v)) {
    *out += "null";
    return;
  }
  size_t before = out->size();
  fmt::format_to(std::back_inserter(*out), "{}", v);
  if (out->find_first_of(".eE", before) == std::string::npos) *out += ".0";
}

/// IsoTime for many stamps in the same few seconds: the date part is formatted once per second.
class IsoTimeCache {
 public:
  void Append(std::string* out, int64_t unix_ms) {
    if (unix_ms == 0) {
      *out += "\"\"";
      return;
    }
    int64_t secs = unix_ms / 1000;
    if (secs != secs_ || seconds_text_.empty()) {
      secs_ = secs;
      std::string iso = IsoTime(unix_ms);                // "YYYY-MM-DDTHH:MM:SS.mmmZ"
      seconds_text_ = iso.substr(0, iso.size() - 4);     // through ":SS"
    }
    fmt::format_to(std::back_inserter(*out), "\"{}{:03}Z\"", seconds_text_, unix_ms % 1000);
  }

 private:
  int64_t secs_ = 0;
  std::string seconds_text_;
};

/// One entry of "nodes", written straight into the text: no document per node (100,000
/// nodes: 0.5 s less). The only list of a node's metrics fields; BuildRunMetrics parses this.
void AppendNodeMetrics(std::string* out, const NodeInfo& info, const JournalNode& n, bool run_finished,
                       IsoTimeCache* times) {
  *out += "{\"id\":";
  AppendJsonString(out, info.id);
  *out += ",\"type\":";
  AppendJsonString(out, info.type);
  *out += ",\"provider\":";
  AppendJsonString(out, n.provider);
  *out += ",\"model\":";
  AppendJsonString(out, n.model);
  *out += ",\"status\":";
  AppendJsonString(out, NodeStatusName(n, run_finished));
  fmt::format_to(std::back_inserter(*out), ",\"attempts\":{},\"start\":", n.attempts);
  times->Append(out, n.started_at);
  *out += ",\"end\":";
  times->Append(out, n.finished_at);
  fmt::format_to(std::back_inserter(*out), ",\"durationMs\":{},\"queueWaitMs\":{},\"cost\":", n.duration_ms,
                 n.queue_wait_ms);
  AppendDouble(out, n.cost);
  *out += n.cached ? ",\"cached\":true,\"outputs\":" : ",\"cached\":false,\"outputs\":";
  *out += n.outputs.is_null() ? "{}" : n.outputs.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (n.last_error != ErrorType::kNone && n.status != JournalNode::Status::kCompleted) {
    *out += ",\"error\":{\"type\":";
    AppendJsonString(out, ErrorTypeName(n.last_error));
    *out += ",\"message\":";
    AppendJsonString(out, n.last_message);
    *out += '}';
  }
  *out += '}';
}

}  // namespace

std::string RunMetricsText(const JournalReplay& replay) {
  std::vector<NodeInfo> infos = NodesOfHeader(replay.header);
  std::vector<const JournalNode*> states = JournalNodesOf(replay, infos);
  std::string text = RunSummaryMetrics(replay, infos, states).dump(2);
  // The summary ends with "\n}"; "nodes" goes before that closing brace, one node per line.
  text.resize(text.size() - 2);
  text.reserve(text.size() + infos.size() * 256);
  text += ",\n  \"nodes\": [";
  IsoTimeCache times;
  for (size_t i = 0; i < infos.size(); ++i) {
    text += i ? ",\n    " : "\n    ";
    AppendNodeMetrics(&text, infos[i], *states[i], replay.finished, &times);
  }
  text += infos.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return text;
}

Json BuildRunMetrics(const JournalReplay& replay) {
  // One writer of the metrics fields (RunMetricsText): the document is its text, parsed.
  return Json::parse(RunMetricsText(replay));
}

}  // namespace comfyrun
