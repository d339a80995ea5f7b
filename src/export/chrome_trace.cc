// Chrome trace export of a journal (export/chrome_trace.h has the layout).
//
// Implementation details: each node's records are turned into attempts (with their waits and
// instant events) first; then attempts are sorted by the start of their whole interval and
// given lanes greedily (interval partitioning: the lowest free lane, else a new one), which
// uses the fewest lanes possible and never puts two overlapping attempts in one lane.
#include "comfyrun/export/chrome_trace.h"

#include <algorithm>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <unordered_map>

#include "comfyrun/core/util.h"

namespace comfyrun {
namespace {

constexpr int kPid = 1;

int64_t IntOf(const Json& rec, const char* key, int64_t dflt = 0) {
  auto it = rec.find(key);
  if (it == rec.end() || !it->is_number()) return dflt;
  return it->is_number_float() ? static_cast<int64_t>(it->get<double>()) : it->get<int64_t>();
}

std::string StrOf(const Json& rec, const char* key) {
  auto it = rec.find(key);
  return it != rec.end() && it->is_string() ? it->get<std::string>() : "";
}

struct Attempt {
  std::string node, type;
  int number = 0;
  int64_t wait_from = -1;  ///< retry wait start (previous failure), or -1
  int64_t ready = 0;       ///< start - queue wait
  int64_t start = 0, end = 0;
  std::string outcome;  ///< completed, failed, running, interrupted, lost
  Json args = Json::object();
  std::vector<Json> instants;  ///< submitted events (lane filled in later)
  int lane = 0;
  int64_t lane_from() const { return wait_from >= 0 ? wait_from : ready; }
};

/// Node id -> type, from the header's workflow.
std::unordered_map<std::string, std::string> NodeTypes(const Json& header) {
  std::unordered_map<std::string, std::string> out;
  if (!header.is_object()) return out;
  auto wf = header.find("workflow");
  if (wf == header.end() || !wf->is_object() || !wf->contains("nodes") || !(*wf)["nodes"].is_array()) return out;
  for (const auto& n : (*wf)["nodes"])
    if (n.is_object()) out[StrOf(n, "id")] = StrOf(n, "type");
  return out;
}

/// Turns one node's records into attempts; adds process-wide instants (skipped, failed
/// before any attempt) and cost changes to the given lists.
void NodeAttempts(const std::string& id, const std::string& type, const JournalNode& node, const JournalReplay& replay,
                  std::vector<Attempt>* attempts, std::vector<Json>* globals,
                  std::vector<std::pair<int64_t, double>>* costs) {
  std::optional<Attempt> open;
  int64_t last_t = 0;         // this node's latest record time so far
  int64_t last_failure = -1;  // time of the last failed attempt that a retry followed
  bool any_attempt = false;
  auto close = [&](int64_t end, const std::string& outcome) {
    open->end = std::max(end, open->start);
    open->outcome = outcome;
    open->args["outcome"] = outcome;
    attempts->push_back(std::move(*open));
    open.reset();
  };
  for (const Json& e : node.events) {
    const std::string rtype = StrOf(e, "type");
    const int64_t t = IntOf(e, "t");
    if (rtype == "node_started") {
      if (open) close(last_t, "lost");
      any_attempt = true;
      Attempt a;
      a.node = id;
      a.type = type;
      a.number = static_cast<int>(IntOf(e, "attempt"));
      a.start = t;
      a.ready = t - std::max<int64_t>(0, IntOf(e, "queueWaitMs"));
      if (last_failure >= 0 && last_failure < a.ready) a.wait_from = last_failure;
      last_failure = -1;
      a.args = {{"node", id}, {"type", type}, {"attempt", a.number}};
      if (a.ready < t) a.args["queueWaitMs"] = t - a.ready;
      open = std::move(a);
    } else if (rtype == "submitted" && open) {
      Json instant = {{"name", "submitted"},
                      {"cat", "submission"},
                      {"ph", "i"},
                      {"s", "t"},
                      {"ts", t},
                      {"args", {{"node", id}, {"attempt", open->number}}}};
      if (auto s = e.find("submission"); s != e.end()) instant["args"]["submission"] = *s;
      open->instants.push_back(std::move(instant));
    } else if (rtype == "completed") {
      double cost = e.value("cost", 0.0);
      if (!open) {
        // No start recorded (e.g. a cached result): the record's own timing places it.
        any_attempt = true;
        Attempt a;
        a.node = id;
        a.type = type;
        a.number = static_cast<int>(IntOf(e, "attempt"));
        a.start = IntOf(e, "startedAt", t - IntOf(e, "durationMs"));
        a.ready = a.start;
        a.args = {{"node", id}, {"type", type}, {"attempt", a.number}};
        open = std::move(a);
      }
      open->args["cost"] = cost;
      open->args["provider"] = StrOf(e, "provider");
      open->args["model"] = StrOf(e, "model");
      if (e.value("cached", false)) open->args["cached"] = true;
      if (auto w = e.find("where"); w != e.end() && w->is_object()) open->args["where"] = *w;
      if (cost != 0) costs->push_back({t, cost});
      close(t, "completed");
    } else if (rtype == "attempt_failed") {
      double cost = e.value("cost", 0.0);
      if (cost != 0) costs->push_back({t, cost});
      if (open) {
        open->args["cost"] = cost;
        open->args["error"] = StrOf(e, "error");
        open->args["message"] = StrOf(e, "message");
        if (auto w = e.find("where"); w != e.end() && w->is_object()) open->args["where"] = *w;
        if (e.contains("retryIn")) {
          open->args["retryIn"] = e["retryIn"];
          last_failure = t;
        }
        close(t, "failed");
      }
    } else if (rtype == "node_failed" || rtype == "node_skipped") {
      // A node that never started (skipped, or refused by --max-cost) has no slice: it is
      // marked on the process track instead.
      if (rtype == "node_skipped" || !any_attempt) {
        Json args = {{"node", id}};
        if (rtype == "node_skipped")
          args["because"] = StrOf(e, "because");
        else
          args["error"] = StrOf(e, "error"), args["message"] = StrOf(e, "message");
        globals->push_back({{"name", (rtype == "node_skipped" ? "skipped: " : "failed: ") + id},
                            {"cat", rtype == "node_skipped" ? "skipped" : "failed"},
                            {"ph", "i"},
                            {"s", "p"},
                            {"pid", kPid},
                            {"tid", 0},
                            {"ts", t},
                            {"args", args}});
      }
    }
    last_t = std::max(last_t, t);
  }
  if (open) close(replay.last_event_at, replay.finished ? "interrupted" : "running");
}

/// Interval partitioning: sets Attempt::lane (1-based); returns the number of lanes.
int AssignLanes(std::vector<Attempt>* attempts) {
  std::stable_sort(attempts->begin(), attempts->end(), [](const Attempt& a, const Attempt& b) {
    return a.lane_from() != b.lane_from() ? a.lane_from() < b.lane_from() : a.start < b.start;
  });
  std::set<int> free_lanes;
  using Busy = std::pair<int64_t, int>;  // (end, lane)
  std::priority_queue<Busy, std::vector<Busy>, std::greater<Busy>> busy;
  int lanes = 0;
  for (Attempt& a : *attempts) {
    // A lane is free again once its attempt ended at or before this one's interval starts.
    while (!busy.empty() && busy.top().first <= a.lane_from()) {
      free_lanes.insert(busy.top().second);
      busy.pop();
    }
    if (free_lanes.empty()) {
      a.lane = ++lanes;
    } else {
      a.lane = *free_lanes.begin();
      free_lanes.erase(free_lanes.begin());
    }
    busy.push({a.end, a.lane});
  }
  return lanes;
}

Json Complete(const std::string& name, const std::string& cat, int tid, int64_t from_ms, int64_t to_ms, int64_t t0,
              Json args, int pid = kPid) {
  Json e = {{"name", name},
            {"cat", cat},
            {"ph", "X"},
            {"pid", pid},
            {"tid", tid},
            {"ts", (from_ms - t0) * 1000},
            {"dur", std::max<int64_t>(0, to_ms - from_ms) * 1000},
            {"args", std::move(args)}};
  return e;
}

/// One process per machine that attempts said they ran on ("where" with a "host": a cluster
/// node), after the run's own, with that machine's attempts in lanes of their own: the trace
/// then shows what each cluster node was doing. Attempts that name no host (local ones) are
/// on the run's lanes only.
void HostTracks(const std::vector<Attempt>& attempts, int64_t t0, Json* events) {
  std::map<std::string, std::vector<Attempt>> by_host;  // "executor host" -> its attempts
  for (const Attempt& a : attempts) {
    auto w = a.args.find("where");
    if (w == a.args.end() || !w->is_object() || StrOf(*w, "host").empty()) continue;
    Attempt copy;
    copy.node = a.node;
    copy.number = a.number;
    copy.ready = copy.start = a.start;
    copy.end = a.end;
    copy.outcome = a.outcome;
    copy.args = {{"node", a.node}, {"attempt", a.number}, {"outcome", a.outcome}, {"where", *w}};
    std::string executor = StrOf(*w, "executor");
    by_host[(executor.empty() ? "" : executor + " ") + StrOf(*w, "host")].push_back(std::move(copy));
  }
  int pid = kPid;
  for (auto& [host, list] : by_host) {
    ++pid;
    int lanes = AssignLanes(&list);
    events->push_back(
        {{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"tid", 0}, {"args", {{"name", "host " + host}}}});
    events->push_back(
        {{"name", "process_sort_index"}, {"ph", "M"}, {"pid", pid}, {"tid", 0}, {"args", {{"sort_index", pid}}}});
    for (int lane = 1; lane <= lanes; ++lane)
      events->push_back({{"name", "thread_name"},
                         {"ph", "M"},
                         {"pid", pid},
                         {"tid", lane},
                         {"args", {{"name", "slot " + std::to_string(lane)}}}});
    for (Attempt& a : list) {
      Json slice = Complete(a.node, "host", a.lane, a.start, a.end, t0, std::move(a.args), pid);
      if (a.outcome == "failed") slice["cname"] = "terrible";
      events->push_back(std::move(slice));
    }
  }
}

}  // namespace

Json BuildChromeTrace(const JournalReplay& replay) {
  const Json& header = replay.header;
  const std::string run_id = header.is_object() ? StrOf(header, "runId") : "";
  const std::string workflow_id = header.is_object() ? StrOf(header, "workflowId") : "";
  const auto types = NodeTypes(header);

  std::vector<Attempt> attempts;
  std::vector<Json> globals;
  std::vector<std::pair<int64_t, double>> costs;
  for (const auto& id : replay.node_order) {
    auto it = replay.nodes.find(id);
    if (it == replay.nodes.end()) continue;
    auto ty = types.find(id);
    NodeAttempts(id, ty == types.end() ? "" : ty->second, it->second, replay, &attempts, &globals, &costs);
  }
  int lanes = AssignLanes(&attempts);

  // Time zero: the earliest moment anything shows (the header, or a record written before it
  // by a clock that stepped back).
  int64_t t0 = header.is_object() ? IntOf(header, "t", replay.first_started_at) : replay.first_started_at;
  if (replay.first_started_at > 0) t0 = std::min(t0, replay.first_started_at);
  for (const Attempt& a : attempts) t0 = std::min(t0, a.wait_from >= 0 ? a.wait_from : a.ready);

  Json events = Json::array();
  events.push_back({{"name", "process_name"},
                    {"ph", "M"},
                    {"pid", kPid},
                    {"tid", 0},
                    {"args", {{"name", "comfyrun " + (run_id.empty() ? workflow_id : run_id)}}}});
  events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", kPid}, {"tid", 0}, {"args", {{"name", "run"}}}});
  events.push_back(
      {{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", kPid}, {"tid", 0}, {"args", {{"sort_index", 0}}}});
  for (int lane = 1; lane <= lanes; ++lane) {
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", kPid},
                      {"tid", lane},
                      {"args", {{"name", "lane " + std::to_string(lane)}}}});
    events.push_back(
        {{"name", "thread_sort_index"}, {"ph", "M"}, {"pid", kPid}, {"tid", lane}, {"args", {{"sort_index", lane}}}});
  }

  const std::string status = replay.finished ? replay.final_status : "running";
  events.push_back(Complete(workflow_id.empty() ? "run" : workflow_id, "run", 0, replay.first_started_at,
                            replay.last_event_at, t0,
                            {{"runId", run_id},
                             {"status", status},
                             {"totalCost", replay.total_cost},
                             {"runs", replay.runs},
                             {"nodes", replay.nodes.size()}}));

  HostTracks(attempts, t0, &events);  // before the loop below moves each attempt's args away
  for (Attempt& a : attempts) {
    if (a.wait_from >= 0)
      events.push_back(
          Complete("retry wait", "wait", a.lane, a.wait_from, a.ready, t0, {{"node", a.node}, {"attempt", a.number}}));
    if (a.ready < a.start)
      events.push_back(
          Complete("queued", "wait", a.lane, a.ready, a.start, t0, {{"node", a.node}, {"attempt", a.number}}));
    bool failed = a.outcome == "failed";
    std::string name = failed ? a.node + " (failed: " + a.args.value("error", "") + ")" : a.node;
    Json slice = Complete(name, failed ? "attempt,failed" : "attempt", a.lane, a.start, a.end, t0, std::move(a.args));
    // Chrome's reserved colour names; Perfetto colours by name instead.
    if (failed)
      slice["cname"] = "terrible";
    else if (a.outcome != "completed")
      slice["cname"] = "grey";
    events.push_back(std::move(slice));
    for (Json& i : a.instants) {
      i["pid"] = kPid;
      i["tid"] = a.lane;
      i["ts"] = (i["ts"].get<int64_t>() - t0) * 1000;
      events.push_back(std::move(i));
    }
  }
  for (Json& g : globals) {
    g["ts"] = (g["ts"].get<int64_t>() - t0) * 1000;
    events.push_back(std::move(g));
  }
  std::stable_sort(costs.begin(), costs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  double spent = 0;
  if (!costs.empty())
    events.push_back({{"name", "cost"},
                      {"ph", "C"},
                      {"pid", kPid},
                      {"tid", 0},
                      {"ts", (replay.first_started_at - t0) * 1000},
                      {"args", {{"usd", 0}}}});
  for (const auto& [t, cost] : costs) {
    spent += cost;
    events.push_back({{"name", "cost"},
                      {"ph", "C"},
                      {"pid", kPid},
                      {"tid", 0},
                      {"ts", (t - t0) * 1000},
                      {"args", {{"usd", spent}}}});
  }

  Json other = {{"runId", run_id},  {"workflowId", workflow_id},
                {"status", status}, {"startedAt", t0 > 0 ? IsoTime(t0) : ""},
                {"lanes", lanes},   {"comfyrun", COMFYRUN_VERSION}};
  return {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}, {"otherData", std::move(other)}};
}

}  // namespace comfyrun
