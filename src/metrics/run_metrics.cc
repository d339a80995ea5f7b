#include "comfyrun/metrics/run_metrics.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <future>
#include <map>
#include <string_view>
#include <unordered_map>

#include "comfyrun/core/dag.h"
#include "comfyrun/core/json_fast.h"
#include "comfyrun/core/template.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/workflow.h"

namespace comfyrun {

const char* JournalStatusName(JournalNode::Status status) {
  switch (status) {
    case JournalNode::Status::kPending:
      return "pending";
    case JournalNode::Status::kRunning:
      return "running";
    case JournalNode::Status::kCompleted:
      return "completed";
    case JournalNode::Status::kFailed:
      return "failed";
    case JournalNode::Status::kSkipped:
      return "skipped";
  }
  return "pending";
}

namespace {

/// The graph the metrics describe: node ids, types and dependency edges, in workflow order.
/// The strings are views into the header or the Workflow it was built from.
struct MetricsGraph {
  std::vector<std::string_view> ids, types;
  const DepLists* deps = &own_deps;  ///< indices, sorted, no duplicates, no self edges
  DepLists own_deps;                 ///< when they come from the header
  bool acyclic = false;              ///< known to be (a validated Workflow's)
  MetricsGraph() = default;
  MetricsGraph(const MetricsGraph&) = delete;  // `deps` may point into it
};

/// From the header's workflow (references and dependsOn), for readers of a journal alone.
void GraphOfHeader(const Json& header, MetricsGraph& g) {
  if (!header.is_object() || !header.contains("workflow") || !header["workflow"].contains("nodes")) return;
  std::vector<const Json*> nodes;
  for (const auto& n : header["workflow"]["nodes"]) {
    if (!n.is_object()) continue;
    auto id = n.find("id");
    if (id == n.end() || !id->is_string()) continue;
    auto type = n.find("type");
    g.ids.push_back(id->get_ref<const std::string&>());
    g.types.push_back(type != n.end() && type->is_string() ? std::string_view(type->get_ref<const std::string&>())
                                                           : std::string_view());
    nodes.push_back(&n);
  }
  std::unordered_map<std::string_view, size_t> index;
  index.reserve(g.ids.size());
  for (size_t i = 0; i < g.ids.size(); ++i) index.emplace(g.ids[i], i);
  g.own_deps.resize(g.ids.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Json& n = *nodes[i];
    auto add = [&](std::string_view id) {
      if (auto it = index.find(id); it != index.end() && it->second != i) g.own_deps[i].push_back(it->second);
    };
    std::vector<Reference> refs;
    std::vector<std::pair<std::string, std::string>> errors;
    if (n.contains("inputs")) FindReferences(n["inputs"], "", &refs, &errors);
    for (const auto& r : refs)
      if (r.root != "params" && r.root != "run") add(r.root);
    if (n.contains("dependsOn") && n["dependsOn"].is_array())
      for (const auto& d : n["dependsOn"])
        if (d.is_string()) add(d.get_ref<const std::string&>());
    std::sort(g.own_deps[i].begin(), g.own_deps[i].end());
    g.own_deps[i].erase(std::unique(g.own_deps[i].begin(), g.own_deps[i].end()), g.own_deps[i].end());
  }
}

/// From a Workflow already built and validated (run, resume): its edges are read where they
/// are, nothing is re-parsed.
void GraphOfWorkflow(const Workflow& wf, MetricsGraph& g) {
  g.ids.reserve(wf.nodes.size());
  g.types.reserve(wf.nodes.size());
  for (const auto& n : wf.nodes) {
    g.ids.push_back(n.id);
    g.types.push_back(n.type);
  }
  g.deps = &wf.deps;
  g.acyclic = true;
}

/// Largest number of node attempts running at the same time, from the attempt spans. An
/// attempt a crash cut short ends where the node's next attempt starts, or at the last event.
int PeakParallelism(const JournalReplay& replay) {
  // Starts and ends sorted apart, then merged (two sorts of n are cheaper than one of 2n
  // pairs); an end goes before a start at the same instant.
  std::vector<int64_t> starts, ends;
  starts.reserve(replay.nodes.size());
  ends.reserve(replay.nodes.size());
  for (const auto& [id, node] : replay.nodes) {
    for (size_t k = 0; k < node.spans.size(); ++k) {
      const AttemptSpan& s = node.spans[k];
      int64_t end = s.end;
      if (s.outcome == AttemptSpan::Outcome::kOpen)
        end = k + 1 < node.spans.size() ? node.spans[k + 1].start : replay.last_event_at;
      starts.push_back(s.start);
      ends.push_back(end);
    }
  }
  std::sort(starts.begin(), starts.end());
  std::sort(ends.begin(), ends.end());
  int current = 0, peak = 0;
  size_t e = 0;
  for (int64_t start : starts) {
    while (e < ends.size() && ends[e] <= start) {
      --current;
      ++e;
    }
    peak = std::max(peak, ++current);
  }
  return peak;
}

}  // namespace

namespace {

/// A node's status name in metrics: a node left running by a run that has finished was
/// interrupted.
const char* NodeStatusName(const JournalNode& n, bool run_finished) {
  if (n.status == JournalNode::Status::kRunning && run_finished) return "interrupted";
  return JournalStatusName(n.status);
}

/// Each node's journal state, looked up once (hash lookups of 100k ids add up); those already
/// in `found` (a resume looked them up for its seed) are not looked up again. A node the
/// journal never names is pending.
std::vector<const JournalNode*> JournalNodesOf(const JournalReplay& replay, const MetricsGraph& g,
                                               std::vector<const JournalNode*> found) {
  static const JournalNode kNever;
  FindJournalNodes(replay, g.ids, &found);
  for (auto& state : found)
    if (!state) state = &kNever;
  return found;
}

/// Everything but "nodes": the run's totals, counts, errors and critical path.
Json RunSummaryMetrics(const JournalReplay& replay, const MetricsGraph& g,
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

  // Counted by JournalNode::Status; an interrupted node (running when the run finished) is pending.
  int by_status[5] = {0, 0, 0, 0, 0};
  std::map<std::string, int> errors;
  int cached_nodes = 0;  // completed from the output cache (docs/cache.md), at cost 0
  for (const JournalNode* state : states) {
    const JournalNode& n = *state;
    bool interrupted = n.status == JournalNode::Status::kRunning && replay.finished;
    ++by_status[static_cast<int>(interrupted ? JournalNode::Status::kPending : n.status)];
    if (n.cached && n.status == JournalNode::Status::kCompleted) ++cached_nodes;
    for (const auto& span : n.spans)
      if (span.outcome == AttemptSpan::Outcome::kFailed) ++errors[span.error];
  }
  Json counts = Json::object();  // alphabetical, as the file has always had them
  for (auto s : {JournalNode::Status::kCompleted, JournalNode::Status::kFailed, JournalNode::Status::kPending,
                 JournalNode::Status::kRunning, JournalNode::Status::kSkipped})
    counts[JournalStatusName(s)] = by_status[static_cast<int>(s)];
  // Critical path of what happened: the chain of completed nodes with the longest total time.
  std::vector<double> weights(g.ids.size(), 0);
  for (size_t i = 0; i < g.ids.size(); ++i) weights[i] = static_cast<double>(states[i]->duration_ms);
  Json path = Json::array();
  double total = 0;
  if (g.acyclic || FindCycle(*g.deps).empty())
    for (size_t i : CriticalPath(*g.deps, weights, &total)) path.push_back(g.ids[i]);
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
      std::string iso = IsoTime(unix_ms);             // "YYYY-MM-DDTHH:MM:SS.mmmZ"
      seconds_text_ = iso.substr(0, iso.size() - 4);  // through ":SS"
    }
    int ms = static_cast<int>(unix_ms % 1000);
    char tail[6] = {static_cast<char>('0' + ms / 100),
                    static_cast<char>('0' + ms / 10 % 10),
                    static_cast<char>('0' + ms % 10),
                    'Z',
                    '"',
                    0};
    out->push_back('"');
    out->append(seconds_text_);
    out->append(tail, 5);
  }

 private:
  int64_t secs_ = 0;
  std::string seconds_text_;
};

/// A whole number in decimal (fmt through a back_inserter is several times slower per node).
void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out->append(buf, end);
}

/// Appends a string literal: its length is known (`+=` measured each one with strlen, ~15
/// literals a node).
template <size_t N>
void Lit(std::string* out, const char (&text)[N]) {
  out->append(text, N - 1);
}

/// A node's "where": each attempt that says where it ran (the journal's "where", from its
/// backend: {"executor": "slurm", "jobId": "42", "host": "gpu07"}, or {"executor": "local"}),
/// in order, with its attempt number first. Left out when no attempt says (value nodes, cache
/// hits, journals older than the field), so 100,000 value nodes write nothing more.
void AppendWhere(std::string* out, const JournalNode& n) {
  bool any = false;
  for (const AttemptSpan& s : n.spans) {
    if (!s.where.is_object() || s.where.empty()) continue;
    if (any)
      *out += ',';
    else
      Lit(out, ",\"where\":[");
    any = true;
    Lit(out, "{\"attempt\":");
    AppendInt(out, s.attempt);
    for (auto it = s.where.begin(); it != s.where.end(); ++it) {
      if (it.key() == "attempt") continue;
      *out += ',';
      AppendJsonString(out, it.key());
      *out += ':';
      AppendJson(out, it.value());
    }
    *out += '}';
  }
  if (any) *out += ']';
}

/// One entry of "nodes", written straight into the text: no document per node (100,000
/// nodes: 0.5 s less). The only list of a node's metrics fields; BuildRunMetrics parses this.
void AppendNodeMetrics(std::string* out, std::string_view id, std::string_view type, const JournalNode& n,
                       bool run_finished, IsoTimeCache* times) {
  Lit(out, "{\"id\":");
  AppendJsonString(out, id);
  Lit(out, ",\"type\":");
  AppendJsonString(out, type);
  Lit(out, ",\"provider\":");
  AppendJsonString(out, n.provider);
  Lit(out, ",\"model\":");
  AppendJsonString(out, n.model);
  Lit(out, ",\"status\":");
  AppendJsonString(out, NodeStatusName(n, run_finished));
  Lit(out, ",\"attempts\":");
  AppendInt(out, n.attempts);
  Lit(out, ",\"start\":");
  times->Append(out, n.started_at);
  Lit(out, ",\"end\":");
  times->Append(out, n.finished_at);
  Lit(out, ",\"durationMs\":");
  AppendInt(out, n.duration_ms);
  Lit(out, ",\"queueWaitMs\":");
  AppendInt(out, n.queue_wait_ms);
  Lit(out, ",\"cost\":");
  AppendJsonDouble(out, n.cost);
  if (n.cached)
    Lit(out, ",\"cached\":true,\"outputs\":");
  else
    Lit(out, ",\"cached\":false,\"outputs\":");
  if (n.outputs.is_null())
    Lit(out, "{}");
  else
    AppendJson(out, n.outputs);
  AppendWhere(out, n);
  if (n.last_error != ErrorType::kNone && n.status != JournalNode::Status::kCompleted) {
    Lit(out, ",\"error\":{\"type\":");
    AppendJsonString(out, ErrorTypeName(n.last_error));
    Lit(out, ",\"message\":");
    AppendJsonString(out, n.last_message);
    *out += '}';
  }
  *out += '}';
}

}  // namespace

namespace {
/// Room left in front of the node lines for the summary, so that it can be put there
/// without copying 24 MB of lines into a new string (100,000 nodes).
constexpr size_t kSummaryRoom = 64 << 10;

/// The "nodes" lines of nodes [begin, end), one per node; `room` bytes reserved beyond them.
std::string NodeLines(const JournalReplay& replay, const MetricsGraph& g, const std::vector<const JournalNode*>& states,
                      size_t begin, size_t end, size_t room) {
  std::string text;
  text.reserve((end - begin) * 256 + room);
  IsoTimeCache times;
  for (size_t i = begin; i < end; ++i) {
    if (i)
      Lit(&text, ",\n    ");
    else
      Lit(&text, "\n    ");
    AppendNodeMetrics(&text, g.ids[i], g.types[i], *states[i], replay.finished, &times);
  }
  return text;
}

std::string MetricsText(const JournalReplay& replay, const MetricsGraph& g,
                        std::vector<const JournalNode*> found = {}) {
  std::vector<const JournalNode*> states = JournalNodesOf(replay, g, std::move(found));
  // The node lines and the summary (critical path, peak parallelism) read the same state
  // and write nothing shared: for a big run the lines are written on a second core meanwhile
  // (100,000 nodes: ~60 ms of lines, ~35 ms of summary). Two threads of lines instead of one
  // measured no faster (the summary and the copy of the second half take the core back).
  constexpr size_t kLinesOnAnotherThread = 5000;
  const size_t n = g.ids.size();
  std::future<std::string> lines;
  if (n >= kLinesOnAnotherThread)
    lines = std::async(std::launch::async, NodeLines, std::cref(replay), std::cref(g), std::cref(states), 0, n,
                       kSummaryRoom);
  std::string head = RunSummaryMetrics(replay, g, states).dump(2);
  // The summary ends with "\n}"; "nodes" goes before that closing brace, one node per line.
  head.resize(head.size() - 2);
  head += ",\n  \"nodes\": [";
  std::string text = lines.valid() ? lines.get() : NodeLines(replay, g, states, 0, n, kSummaryRoom);
  text.insert(0, head);  // within the room NodeLines reserved: a move, not a new string
  text += g.ids.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return text;
}
}  // namespace

std::string RunMetricsText(const JournalReplay& replay) {
  MetricsGraph g;
  GraphOfHeader(replay.header, g);
  return MetricsText(replay, g);
}

std::string RunMetricsText(const JournalReplay& replay, const Workflow& workflow,
                           std::vector<const JournalNode*> found) {
  MetricsGraph g;
  GraphOfWorkflow(workflow, g);
  return MetricsText(replay, g, std::move(found));
}

Json BuildRunMetrics(const JournalReplay& replay) {
  // One writer of the metrics fields (RunMetricsText): the document is its text, parsed.
  return Json::parse(RunMetricsText(replay));
}

}  // namespace comfyrun
