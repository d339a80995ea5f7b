// What a batch did, row by row (batch/results.h).
#include "comfyrun/batch/results.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "comfyrun/batch/expand.h"
#include "comfyrun/core/template.h"
#include "comfyrun/core/util.h"
#include "comfyrun/metrics/run_metrics.h"
#include "comfyrun/run/header.h"

namespace comfyrun {
namespace {

bool IsPathKey(const std::string& key) { return EndsWith(key, "Path") || EndsWith(key, "path") || key == "files"; }

/// File paths among a node's outputs: strings under keys ending in "Path"/"path" (or arrays
/// of them, "Paths"), each once (an image node names its file as imagePath and as
/// characterImagePath).
void AddOutputPaths(const Json& outputs, std::vector<std::string>* paths) {
  if (!outputs.is_object()) return;
  auto add = [&](const std::string& p) {
    if (!p.empty() && std::find(paths->begin(), paths->end(), p) == paths->end()) paths->push_back(p);
  };
  for (auto it = outputs.begin(); it != outputs.end(); ++it) {
    const std::string& key = it.key();
    bool many = EndsWith(key, "Paths") || EndsWith(key, "paths") || key == "files";
    if (it->is_string() && IsPathKey(key)) add(it->get<std::string>());
    if (it->is_array() && many)
      for (const auto& p : *it)
        if (p.is_string()) add(p.get<std::string>());
  }
}

}  // namespace

std::vector<RowResult> CollectRowResults(const std::vector<BatchRow>& rows, const std::vector<std::string>& node_ids,
                                         const std::vector<std::string>& sinks, const JournalReplay& replay) {
  std::vector<RowResult> results;
  results.reserve(rows.size());
  for (const auto& row : rows) {
    RowResult r;
    r.row = &row;
    size_t completed = 0, started = 0;
    bool failed = false;
    int64_t first = 0, last = 0;
    for (const auto& id : node_ids) {
      auto it = replay.nodes.find(BatchNodeId(row.key, id));
      if (it == replay.nodes.end()) continue;
      const JournalNode& node = it->second;
      r.cost += node.cost;
      if (node.started_at > 0 && (first == 0 || node.started_at < first)) first = node.started_at;
      last = std::max(last, node.finished_at);
      started += node.attempts > 0 || node.status != JournalNode::Status::kPending;
      if (node.status == JournalNode::Status::kCompleted) {
        ++completed;
        if (std::find(sinks.begin(), sinks.end(), id) != sinks.end()) AddOutputPaths(node.outputs, &r.outputs);
      } else if (node.status == JournalNode::Status::kFailed || node.status == JournalNode::Status::kSkipped) {
        if (!failed && node.status == JournalNode::Status::kFailed)
          r.error = fmt::format("{}: {}: {}", id, ErrorTypeName(node.last_error), node.last_message);
        failed = true;
      }
    }
    r.status = completed == node_ids.size() ? "succeeded" : failed ? "failed" : started > 0 ? "running" : "pending";
    if (failed && r.error.empty()) r.error = "skipped";
    r.duration_ms = first > 0 && last >= first ? last - first : 0;
    results.push_back(std::move(r));
  }
  return results;
}

std::vector<RowResult> CollectRowResults(const std::vector<BatchRow>& rows, const Workflow& wf,
                                         const JournalReplay& replay) {
  std::vector<std::string> ids, sinks;
  if (!rows.empty()) {
    const size_t n = wf.nodes.size() / rows.size();
    const size_t cut = rows[0].key.size() + 1;  // "<key>/"
    std::vector<bool> has_dependent(n, false);
    for (size_t k = 0; k < n; ++k)
      for (size_t d : wf.deps[k])
        if (d < n) has_dependent[d] = true;
    for (size_t k = 0; k < n; ++k) {
      ids.push_back(wf.nodes[k].id.substr(cut));
      if (!has_dependent[k]) sinks.push_back(ids.back());
    }
  }
  return CollectRowResults(rows, ids, sinks, replay);
}

std::string CsvField(const std::string& value) {
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

bool WriteBatchResults(const std::string& out_dir, const std::string& run_id, const std::string& journal,
                       const std::vector<RowResult>& results, const Json& base_params,
                       const std::vector<std::string>& param_names, std::string* json_path, std::string* csv_path,
                       std::string* err) {
  const std::string dir = out_dir + "/batches";
  if (!MakeDirs(dir, err)) return false;
  *json_path = fmt::format("{}/{}.json", dir, run_id);
  *csv_path = fmt::format("{}/{}.csv", dir, run_id);
  size_t succeeded = 0;
  for (const auto& r : results) succeeded += r.status == "succeeded";
  // JSON: one line per row, so that grep and head work on it as on the CSV.
  Json head = {{"runId", run_id},
               {"journal", journal},
               {"rows", results.size()},
               {"succeeded", succeeded},
               {"failed", results.size() - succeeded}};
  std::string json = head.dump();
  json.pop_back();  // the closing brace: the rows follow
  json += ",\"results\":[\n";
  std::string csv = "row,key,status,cost,durationMs,error,outputs";
  for (const auto& name : param_names) csv += "," + CsvField(name);
  csv += "\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const RowResult& r = results[i];
    Json params = base_params.is_object() ? base_params : Json::object();
    for (auto it = r.row->params.begin(); it != r.row->params.end(); ++it) params[it.key()] = it.value();
    Json line = {{"row", r.row->number}, {"key", r.row->key},           {"params", params}, {"status", r.status},
                 {"cost", r.cost},       {"durationMs", r.duration_ms}, {"error", r.error}, {"outputs", r.outputs}};
    json += line.dump(-1, ' ', false, Json::error_handler_t::replace);
    json += i + 1 < results.size() ? ",\n" : "\n";
    std::string outputs;
    for (const auto& p : r.outputs) outputs += (outputs.empty() ? "" : ";") + p;
    csv += fmt::format("{},{},{},{:.4f},{},{},{}", r.row->number, CsvField(r.row->key), r.status, r.cost, r.duration_ms,
                       CsvField(r.error), CsvField(outputs));
    for (const auto& name : param_names)
      csv += "," + (params.contains(name) ? CsvField(TemplateText(params[name])) : std::string());
    csv += "\n";
  }
  json += "]}\n";
  return WriteFileAtomic(*json_path, json, err) && WriteFileAtomic(*csv_path, csv, err);
}

bool BatchRunMetrics(const JournalReplay& replay, Json* metrics) {
  if (!replay.header.is_object() || !replay.header.contains("batch")) return false;
  JournalHeader header;
  std::string err, hash_error;
  if (!DecodeHeader(replay.header, false, &header, &err)) return false;
  Workflow wf;
  std::vector<Diagnostic> diags;
  if (!BatchResumeWorkflow(replay.header, header.file, header.params, &wf, &diags, &hash_error)) return false;
  *metrics = Json::parse(RunMetricsText(replay, wf), nullptr, /*allow_exceptions=*/false);
  return !metrics->is_discarded();
}

Json BatchRowCounts(const JournalReplay& replay) {
  std::vector<BatchRow> rows;
  std::string err;
  if (!DecodeBatchRows(replay.header, &rows, &err)) return nullptr;
  std::vector<std::string> ids;
  const Json& workflow = replay.header.contains("workflow") ? replay.header["workflow"] : Json();
  if (workflow.is_object() && workflow.contains("nodes") && workflow["nodes"].is_array())
    for (const auto& n : workflow["nodes"])
      if (n.is_object() && n.contains("id") && n["id"].is_string()) ids.push_back(n["id"].get<std::string>());
  Json counts = {{"rows", rows.size()}, {"succeeded", 0}, {"failed", 0}, {"running", 0}, {"pending", 0}};
  double cost = 0;
  for (const auto& r : CollectRowResults(rows, ids, {}, replay)) {
    counts[r.status] = counts[r.status].get<int>() + 1;
    cost += r.cost;
  }
  counts["cost"] = cost;
  return counts;
}

std::string BatchStatusLine(const JournalReplay& replay) {
  Json c = BatchRowCounts(replay);
  if (c.is_null()) return "";
  return fmt::format("rows: {} succeeded, {} failed, {} running, {} pending (of {}); cost ${:.2f}",
                     c["succeeded"].get<int>(), c["failed"].get<int>(), c["running"].get<int>(),
                     c["pending"].get<int>(), c["rows"].get<size_t>(), c["cost"].get<double>());
}

}  // namespace comfyrun
