#include "comfyrun/abtest/runner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"

// Implementation details: a test is validated variant by variant with the ordinary workflow
// loader, so that every diagnostic points into the file the user wrote (the test file for
// inline nodes, the graph file otherwise) and carries the variant's name. The combined
// workflow is then built from the raw node JSON of each variant, renamed per run; it is
// validated again by the caller, which only fails on a bug here.

namespace comfyrun {
namespace {

const std::vector<std::string> kTestKeys = {"testId",       "description", "variants", "repeats", "quality",
                                            "qualityScale", "baseline",    "graph",    "params",  "metadata"};
const std::vector<std::string> kVariantKeys = {"variantId", "workflowId", "description", "nodes", "graph",   "params",
                                               "repeats",   "quality",    "defaults",    "pools", "metadata"};
/// Between the variant, the run and the node in a combined node id.
constexpr const char* kSeparator = "__";

std::string AbsolutePathOf(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

bool IsFileNameSafe(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  return true;
}

/// Diagnostics of one variant: "variant 'x': " in front, and inline paths made absolute.
void AddVariantDiagnostics(const std::vector<Diagnostic>& found, const AbVariantSpec& v, bool inline_nodes,
                           std::vector<Diagnostic>* diags) {
  for (Diagnostic d : found) {
    d.message = fmt::format("variant {}: {}", Quote(v.variant_id), d.message);
    if (inline_nodes && StartsWith(d.json_path, "$")) d.json_path = v.json_path + d.json_path.substr(1);
    diags->push_back(std::move(d));
  }
}

std::optional<int> ReadRepeats(const Json& value, const std::string& file, const std::string& path,
                               std::vector<Diagnostic>* diags) {
  if (!value.is_number_integer() || value.get<long long>() < 1 || value.get<long long>() > kMaxAbRepeats) {
    AddError(
        diags, file, "", path,
        fmt::format("repeats is a whole number from 1 to {}, got {}", kMaxAbRepeats, Abbreviate(value.dump(), 40)));
    return std::nullopt;
  }
  return value.get<int>();
}

std::optional<AbQualityRef> ReadQuality(const Json& value, const std::string& file, const std::string& path,
                                        std::vector<Diagnostic>* diags) {
  std::string err;
  std::optional<Reference> ref;
  if (value.is_string()) {
    std::string text = value.get<std::string>();
    // "<<judge.score>>" is accepted as well as the plain "judge.score".
    if (StartsWith(text, "<<") && EndsWith(text, ">>")) text = text.substr(2, text.size() - 4);
    ref = ParseReference(text, &err);
  } else {
    err = fmt::format("expected a string like \"judge.score\", got {}", value.type_name());
  }
  if (!ref || ref->steps.empty()) {
    AddError(diags, file, "", path,
             fmt::format("quality names a node output: {}", ref ? "add the output, e.g. \"judge.score\"" : err),
             "write \"NODE.OUTPUT\", e.g. \"check.qualityScore\"");
    return std::nullopt;
  }
  return AbQualityRef{ref->root, ref->steps, value.get<std::string>()};
}

/// The graph file of a variant: beside the test file first, then from the working directory.
std::string FindGraph(const std::string& graph, const std::string& test_file, std::vector<std::string>* tried) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p(graph);
  if (p.is_absolute()) {
    tried->push_back(graph);
    return fs::exists(p, ec) ? graph : "";
  }
  fs::path beside = fs::path(test_file).parent_path() / p;
  tried->push_back(beside.lexically_normal().string());
  if (fs::exists(beside, ec)) return beside.lexically_normal().string();
  if (tried->back() != p.lexically_normal().string()) tried->push_back(graph);  // (beside a test file in .)
  if (fs::exists(p, ec)) return graph;
  return "";
}

std::string ParamText(const Json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

void ParseVariant(const Json& raw, size_t position, const Json& test, int test_repeats, const std::string& file,
                  const AbLoadOptions& options, std::set<std::string>* ids, AbTestSpec* spec,
                  std::vector<Diagnostic>* diags) {
  AbVariantSpec v;
  v.json_path = fmt::format("$.variants[{}]", position);
  if (!raw.is_object()) {
    AddError(diags, file, "", v.json_path,
             fmt::format("a variant is an object with \"variantId\", got {}", raw.type_name()));
    return;
  }
  for (auto it = raw.begin(); it != raw.end(); ++it)
    if (std::find(kVariantKeys.begin(), kVariantKeys.end(), it.key()) == kVariantKeys.end()) {
      Diagnostic& d = AddError(diags, file, "", JsonPathMember(v.json_path, it.key()),
                               fmt::format("unknown key {} in a variant (ignored)", Quote(it.key())));
      d.severity = Severity::kWarning;
      std::string close = ClosestMatch(it.key(), kVariantKeys);
      if (!close.empty()) d.hint = fmt::format("did you mean '{}'?", close);
    }
  if (!raw.contains("variantId") || !raw["variantId"].is_string()) {
    AddError(diags, file, "", v.json_path + (raw.contains("variantId") ? ".variantId" : ""),
             "a variant needs a \"variantId\" string");
    return;
  }
  v.variant_id = raw["variantId"].get<std::string>();
  if (!IsValidNodeId(v.variant_id) || v.variant_id.find(kSeparator) != std::string::npos) {
    AddError(
        diags, file, "", v.json_path + ".variantId",
        fmt::format("variantId {} is used in node ids; use letters, digits, '-' and single '_'", Quote(v.variant_id)));
    return;
  }
  if (!ids->insert(v.variant_id).second) {
    AddError(diags, file, "", v.json_path + ".variantId", fmt::format("duplicate variantId {}", Quote(v.variant_id)));
    return;
  }
  const std::string vq = Quote(v.variant_id);

  // Repeats: --repeats, else the variant's, else the test's, else 1.
  v.repeats = test_repeats;
  if (raw.contains("repeats"))
    if (auto r = ReadRepeats(raw["repeats"], file, v.json_path + ".repeats", diags)) v.repeats = *r;
  if (options.repeats > 0) v.repeats = options.repeats;

  const bool has_nodes = raw.contains("nodes");
  const bool has_graph = raw.contains("graph") || (!has_nodes && test.contains("graph"));
  std::vector<Diagnostic> found;
  Workflow& wf = v.workflow;
  if (has_nodes && raw.contains("graph")) {
    AddError(diags, file, "", v.json_path, fmt::format("variant {} has both \"nodes\" and \"graph\"", vq),
             "give either the nodes inline or a workflow file");
    return;
  }
  if (has_nodes) {
    Json doc = Json::object();
    for (const char* key : {"nodes", "params", "defaults", "pools", "description", "metadata"})
      if (raw.contains(key)) doc[key] = raw[key];
    doc["workflowId"] = raw.contains("workflowId") ? raw["workflowId"] : Json(v.variant_id);
    if (BuildWorkflow(doc, file, {}, &wf, &found)) ValidateWorkflow(&wf, &found);
    AddVariantDiagnostics(found, v, /*inline_nodes=*/true, diags);
  } else if (has_graph) {
    const bool own = raw.contains("graph");
    const Json& g = own ? raw["graph"] : test["graph"];
    const std::string gpath = own ? v.json_path + ".graph" : "$.graph";
    if (!g.is_string() || g.get<std::string>().empty()) {
      AddError(diags, file, "", gpath, fmt::format("variant {}: graph is the path of a workflow file", vq));
      return;
    }
    std::vector<std::string> tried;
    v.graph = FindGraph(g.get<std::string>(), file, &tried);
    if (v.graph.empty()) {
      AddError(diags, file, "", gpath,
               fmt::format("variant {}: graph file {} not found", vq, Quote(g.get<std::string>())),
               fmt::format("looked for {} (paths are relative to the test file's folder, then to the "
                           "working directory)",
                           fmt::join(tried, " and ")));
      return;
    }
    Json doc;
    if (!LoadJsonFile(v.graph, &doc, &found)) {
      AddVariantDiagnostics(found, v, false, diags);
      return;
    }
    Json declared =
        doc.is_object() && doc.contains("params") && doc["params"].is_object() ? doc["params"] : Json::object();
    // The test's params apply to every graph variant; the variant's own params on top.
    std::vector<ParamOverride> overrides;
    std::map<std::string, std::string> values;
    for (const auto& [params, path] : {std::pair{test.value("params", Json()), std::string("$.params")},
                                       std::pair{raw.value("params", Json()), v.json_path + ".params"}}) {
      if (params.is_null()) continue;
      if (!params.is_object()) {
        AddError(diags, file, "", path,
                 fmt::format("params is an object: {{\"NAME\": value}}, got {}", params.type_name()));
        continue;
      }
      for (auto it = params.begin(); it != params.end(); ++it) {
        if (!declared.contains(it.key())) {
          std::vector<std::string> names;
          for (auto d = declared.begin(); d != declared.end(); ++d) names.push_back(d.key());
          std::string close = ClosestMatch(it.key(), names);
          AddError(diags, file, "", JsonPathMember(path, it.key()),
                   fmt::format("variant {}: {} declares no param {}{}", vq, v.graph, Quote(it.key()),
                               close.empty() ? "" : fmt::format("; did you mean '{}'?", close)),
                   names.empty() ? "declare it under \"params\" in the workflow"
                                 : fmt::format("declared params: {}", fmt::join(names, ", ")));
          continue;
        }
        values[it.key()] = ParamText(it.value());
      }
    }
    for (const auto& [name, value] : values) overrides.push_back({name, value});
    if (BuildWorkflow(doc, v.graph, overrides, &wf, &found)) ValidateWorkflow(&wf, &found);
    AddVariantDiagnostics(found, v, /*inline_nodes=*/false, diags);
  } else {
    AddError(diags, file, "", v.json_path, fmt::format("variant {} has neither \"nodes\" nor \"graph\"", vq),
             "give the workflow's nodes inline, or \"graph\": \"graphs/x.json\" with \"params\"");
    return;
  }
  v.workflow_id = raw.contains("workflowId") && raw["workflowId"].is_string() ? raw["workflowId"].get<std::string>()
                                                                              : wf.workflow_id;

  // Quality: the variant's, else the test's.
  const bool own_quality = raw.contains("quality");
  if (own_quality || test.contains("quality")) {
    std::string qpath = own_quality ? v.json_path + ".quality" : "$.quality";
    v.quality = ReadQuality(own_quality ? raw["quality"] : test["quality"], file, qpath, diags);
    if (v.quality && !wf.nodes.empty() && !wf.Find(v.quality->node)) {
      std::vector<std::string> names;
      for (const auto& n : wf.nodes) names.push_back(n.id);
      std::string close = ClosestMatch(v.quality->node, names);
      AddError(diags, file, "", qpath,
               fmt::format("variant {}: quality {} names no node of the workflow{}", vq, Quote(v.quality->text),
                           close.empty() ? "" : fmt::format("; did you mean '{}'?", close)));
    }
  }
  // Every node id of every run must stay a valid node id.
  for (const auto& n : wf.nodes) {
    std::string id = AbNodeId(v.variant_id, v.repeats - 1, n.id);
    if (!n.id.empty() && !IsValidNodeId(id)) {
      AddError(diags, v.graph.empty() ? file : v.graph, n.id, n.json_path,
               fmt::format("variant {}: the run's node id {} is longer than 128 characters", vq, Quote(id)),
               "shorten the variantId or the node id");
    }
  }
  spec->variants.push_back(std::move(v));
}

Json RetryJson(const RetryPolicy& r) {
  return {{"maximumAttempts", r.maximum_attempts},
          {"initialInterval", r.initial_interval},
          {"backoffCoefficient", r.backoff_coefficient},
          {"maximumInterval", r.maximum_interval},
          {"nonRetryableErrorTypes", r.non_retryable}};
}

}  // namespace

bool ParseAbTest(const Json& doc, const std::string& file, const AbLoadOptions& options, AbTestSpec* spec,
                 std::vector<Diagnostic>* diags) {
  size_t errors_before = CountErrors(*diags);
  spec->file = file;
  if (!doc.is_object()) {
    AddError(diags, file, "", "$",
             fmt::format("an A/B test is a JSON object with \"testId\" and \"variants\", got {}", doc.type_name()));
    return false;
  }
  if (doc.contains("nodes") && !doc.contains("variants")) {
    AddError(diags, file, "", "$", "this is a workflow, not an A/B test definition",
             "an A/B test has \"testId\" and \"variants\"; run a workflow with `comfyrun run`");
    return false;
  }
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (std::find(kTestKeys.begin(), kTestKeys.end(), it.key()) == kTestKeys.end()) {
      Diagnostic& d = AddError(diags, file, "", JsonPathMember("$", it.key()),
                               fmt::format("unknown key {} (ignored)", Quote(it.key())));
      d.severity = Severity::kWarning;
      std::string close = ClosestMatch(it.key(), kTestKeys);
      if (!close.empty()) d.hint = fmt::format("did you mean '{}'?", close);
    }
  if (!doc.contains("testId") || !doc["testId"].is_string() || !IsFileNameSafe(doc["testId"].get<std::string>())) {
    AddError(diags, file, "", doc.contains("testId") ? "$.testId" : "$",
             "testId is a name used in file names: letters, digits, '.', '_' and '-' (at most 128)");
  } else {
    spec->test_id = doc["testId"].get<std::string>();
  }
  if (doc.contains("description") && doc["description"].is_string())
    spec->description = doc["description"].get<std::string>();
  if (doc.contains("qualityScale")) {
    const Json& s = doc["qualityScale"];
    if (!s.is_number() || !(s.get<double>() > 0) || !std::isfinite(s.get<double>()))
      AddError(diags, file, "", "$.qualityScale", "qualityScale is the value of a perfect score, a number above 0");
    else
      spec->quality_scale = s.get<double>();
  }
  if (!doc.contains("variants") || !doc["variants"].is_array() || doc["variants"].empty()) {
    AddError(diags, file, "", doc.contains("variants") ? "$.variants" : "$",
             "an A/B test needs \"variants\": a list of at least one variant");
    return false;
  }
  int repeats = 1;
  if (doc.contains("repeats"))
    if (auto r = ReadRepeats(doc["repeats"], file, "$.repeats", diags)) repeats = *r;
  std::set<std::string> ids;
  const Json& variants = doc["variants"];
  for (size_t i = 0; i < variants.size(); ++i)
    ParseVariant(variants[i], i, doc, repeats, file, options, &ids, spec, diags);
  if (doc.contains("baseline")) {
    if (!doc["baseline"].is_string() || !ids.count(doc["baseline"].get<std::string>()))
      AddError(diags, file, "", "$.baseline", "baseline names one of the variantIds");
    else
      spec->baseline = doc["baseline"].get<std::string>();
  }
  return CountErrors(*diags) == errors_before;
}

bool LoadAbTest(const std::string& path, const AbLoadOptions& options, AbTestSpec* spec,
                std::vector<Diagnostic>* diags) {
  Json doc;
  if (!LoadJsonFile(path, &doc, diags)) return false;
  return ParseAbTest(doc, path, options, spec, diags);
}

std::string AbNodeId(const std::string& variant_id, int repeat, const std::string& node_id) {
  return fmt::format("{}{}r{}{}{}", variant_id, kSeparator, repeat, kSeparator, node_id);
}

std::vector<AbRunSlot> InterleavedRuns(const AbTestSpec& spec) {
  std::vector<AbRunSlot> runs;
  int most = 0;
  for (const auto& v : spec.variants) most = std::max(most, v.repeats);
  for (int k = 0; k < most; ++k)
    for (const auto& v : spec.variants)
      if (k < v.repeats) runs.push_back({v.variant_id, k});
  return runs;
}

bool CombineAbTest(const AbTestSpec& spec, AbCombined* combined, std::vector<Diagnostic>* diags) {
  combined->runs = InterleavedRuns(spec);
  std::map<std::string, const AbVariantSpec*> by_id;
  for (const auto& v : spec.variants) by_id[v.variant_id] = &v;

  Json doc = {{"workflowId", spec.test_id},
              {"description", spec.description.empty() ? "A/B test " + spec.test_id : "A/B test: " + spec.description},
              {"metadata", {{"abtest", spec.test_id}}}};
  Json params = Json::object();
  std::map<std::string, int> depths;
  std::map<std::string, double> rates;
  for (const auto& v : spec.variants) {
    for (auto it = v.workflow.params.begin(); it != v.workflow.params.end(); ++it)
      params[v.variant_id + kSeparator + it.key()] = it.value();
    // Pools are shared by the whole test; where variants disagree the smaller limit holds,
    // for the concurrency and for the rate alike.
    for (const auto& [name, depth] : v.workflow.pools)
      depths[name] = depths.count(name) ? std::min(depths[name], depth) : depth;
    for (const auto& [name, rate] : v.workflow.pool_rates)
      rates[name] = rates.count(name) ? std::min(rates[name], rate) : rate;
  }
  Json pools = Json::object();
  for (const auto& [name, depth] : depths) pools[name] = depth;
  for (const auto& [name, rate] : rates) {
    Json pool = Json::object();
    if (depths.count(name)) pool["concurrency"] = depths[name];
    pool["rate"] = fmt::format("{}/s", rate);  // shortest form that reads back exactly
    pools[name] = pool;
  }
  if (!params.empty()) doc["params"] = params;
  if (!pools.empty()) doc["pools"] = pools;

  Json nodes = Json::array();
  for (const AbRunSlot& run : combined->runs) {
    const AbVariantSpec& v = *by_id.at(run.variant_id);
    const Workflow& wf = v.workflow;
    const Json& raw_nodes = wf.document.at("nodes");
    const Json defaults = wf.document.value("defaults", Json::object());
    auto rename = [&](Reference* ref) {
      if (ref->root == "params" && !ref->steps.empty() && !ref->steps[0].is_index()) {
        ref->steps[0].key = v.variant_id + kSeparator + ref->steps[0].field();
        return true;
      }
      if (!wf.Find(ref->root)) return false;
      ref->root = AbNodeId(v.variant_id, run.repeat, ref->root);
      return true;
    };
    for (size_t i = 0; i < raw_nodes.size(); ++i) {
      Json node = raw_nodes[i];
      const WorkflowNode& built = wf.nodes[i];
      node["id"] = AbNodeId(v.variant_id, run.repeat, built.id);
      if (node.contains("inputs")) node["inputs"] = RewriteTemplates(node["inputs"], rename);
      if (node.contains("dependsOn")) {
        Json deps = Json::array();
        for (const auto& d : built.depends_on) deps.push_back(AbNodeId(v.variant_id, run.repeat, d));
        node["dependsOn"] = deps;
      }
      // The combined workflow has one "defaults" for everyone: inline the variant's, as they
      // applied to this node.
      if (defaults.contains("retry")) node["retry"] = RetryJson(built.retry);
      if (defaults.contains("timeout")) {
        Json t = Json::object();
        if (built.timeout.attempt > 0) t["attempt"] = built.timeout.attempt;
        if (built.timeout.total > 0) t["total"] = built.timeout.total;
        if (!t.empty()) node["timeout"] = t;
      }
      // Every run of a test is a sample: a cache hit would copy another run's (or an earlier
      // test's) output, and repeats would agree perfectly. An explicit false also wins over
      // --cache (docs/cache.md).
      node["cache"] = false;
      nodes.push_back(std::move(node));
    }
  }
  doc["nodes"] = std::move(nodes);
  combined->document = std::move(doc);

  Json manifest_variants = Json::array();
  for (const auto& v : spec.variants) {
    Json node_list = Json::array();
    for (const auto& n : v.workflow.nodes)
      node_list.push_back({{"id", n.id}, {"type", n.spec ? n.spec->name : n.type}});
    manifest_variants.push_back({{"variantId", v.variant_id},
                                 {"workflowId", v.workflow_id},
                                 {"graph", v.graph.empty() ? Json() : Json(AbsolutePathOf(v.graph))},
                                 {"repeats", v.repeats},
                                 {"quality", v.quality ? Json(v.quality->text) : Json()},
                                 {"nodes", node_list}});
  }
  Json runs = Json::array();
  for (const auto& r : combined->runs) runs.push_back({{"variantId", r.variant_id}, {"repeat", r.repeat}});
  combined->manifest = {{"testId", spec.test_id},
                        {"description", spec.description},
                        {"file", AbsolutePathOf(spec.file)},
                        {"baseline", spec.baseline},
                        {"qualityScale", spec.quality_scale ? Json(*spec.quality_scale) : Json()},
                        {"variants", manifest_variants},
                        {"runs", runs}};
  (void)diags;
  return true;
}

std::optional<double> ExtractQuality(const Json& variant, const Json& outputs, std::optional<double> scale,
                                     std::string* source) {
  auto normalise = [&](double q, double default_scale) -> std::optional<double> {
    double s = scale.value_or(default_scale);
    if (!std::isfinite(q)) return std::nullopt;
    return q * 10.0 / s;
  };
  const Json quality = variant.value("quality", Json());
  if (quality.is_string()) {
    std::string text = quality.get<std::string>();
    if (StartsWith(text, "<<") && EndsWith(text, ">>")) text = text.substr(2, text.size() - 4);
    std::string err;
    auto ref = ParseReference(text, &err);
    if (!ref) {
      *source = fmt::format("none: bad quality reference {}: {}", Quote(quality.get<std::string>()), err);
      return std::nullopt;
    }
    const Json* value = LookupReference(
        *ref, [&](const std::string& root) { return outputs.contains(root) ? &outputs[root] : nullptr; }, &err);
    if (!value || !value->is_number()) {
      *source =
          value ? fmt::format("none: {} is not a number", quality.get<std::string>()) : fmt::format("none: {}", err);
      return std::nullopt;
    }
    std::string type;
    for (const auto& n : variant.value("nodes", Json::array()))
      if (n.value("id", "") == ref->root) type = n.value("type", "");
    bool probe = type == "media_probe" && ref->steps.size() == 1 && !ref->steps[0].is_index() &&
                 ref->steps[0].field() == "qualityScore";
    *source = quality.get<std::string>();
    return normalise(value->get<double>(), probe ? 1.0 : 10.0);
  }
  // No quality named: the last node (in file order) with a number "qualityScore".
  const Json nodes = variant.value("nodes", Json::array());
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    std::string id = it->value("id", "");
    if (!outputs.contains(id) || !outputs[id].is_object()) continue;
    const Json& out = outputs[id];
    if (out.contains("qualityScore") && out["qualityScore"].is_number()) {
      bool probe = it->value("type", "") == "media_probe";
      *source = id + ".qualityScore";
      return normalise(out["qualityScore"].get<double>(), probe ? 1.0 : 10.0);
    }
  }
  *source = "none: the test names no quality output and no node output is named qualityScore";
  return std::nullopt;
}

AbCollected CollectAbRuns(const Json& manifest, const Workflow& combined, const JournalReplay& replay) {
  AbCollected c;
  std::optional<double> scale;
  if (manifest.contains("qualityScale") && manifest["qualityScale"].is_number())
    scale = manifest["qualityScale"].get<double>();
  std::map<std::string, Json> variants;
  for (const auto& v : manifest.value("variants", Json::array())) {
    std::string id = v.value("variantId", "");
    variants[id] = v;
    c.variants.push_back({id, v.value("workflowId", id)});
  }
  std::map<std::string, std::set<std::string>> sources;  // variant -> distinct quality sources
  for (const auto& slot : manifest.value("runs", Json::array())) {
    const std::string vid = slot.value("variantId", "");
    const int repeat = slot.value("repeat", 0);
    auto vit = variants.find(vid);
    if (vit == variants.end()) continue;
    const Json& variant = vit->second;

    AbRun run;
    run.variant_id = vid;
    run.repeat = repeat;
    run.outputs = Json::object();
    bool all_completed = true, failed = false, refused = false;
    std::map<size_t, double> own;  // combined index -> execution time, ms
    for (const auto& n : variant.value("nodes", Json::array())) {
      const std::string id = n.value("id", "");
      const std::string full = AbNodeId(vid, repeat, id);
      auto it = replay.nodes.find(full);
      auto index = combined.index.find(full);
      if (it == replay.nodes.end() || index == combined.index.end()) {
        all_completed = false;
        continue;
      }
      const JournalNode& jn = it->second;
      run.cost += jn.cost;
      if (jn.status == JournalNode::Status::kCompleted) {
        run.outputs[id] = jn.outputs;
        own[index->second] = static_cast<double>(jn.duration_ms);
        continue;
      }
      all_completed = false;
      if (jn.status != JournalNode::Status::kFailed) continue;
      if (jn.finished_at > 0 && jn.started_at > 0)
        own[index->second] = static_cast<double>(std::max<int64_t>(0, jn.finished_at - jn.started_at));
      // A node refused by --max-cost says nothing about the variant: its run did not happen.
      if (jn.last_error == ErrorType::kCancelled && StartsWith(jn.last_message, "not started")) {
        refused = true;
      } else if (!failed) {
        failed = true;
        run.error = fmt::format("{}: {}: {}", id, ErrorTypeName(jn.last_error), jn.last_message);
      }
    }
    if (!failed && (!all_completed || refused)) {
      ++c.unfinished;
      continue;
    }
    // Critical path over the run's own nodes (memoised longest path; the graph is a DAG).
    std::map<size_t, double> end;
    std::function<double(size_t)> finish = [&](size_t i) -> double {
      if (auto e = end.find(i); e != end.end()) return e->second;
      double start = 0;
      for (size_t d : combined.deps[i])
        if (own.count(d)) start = std::max(start, finish(d));
      return end[i] = start + own[i];
    };
    double span = 0;
    for (const auto& [i, ms] : own) span = std::max(span, finish(i));
    run.success = !failed;
    run.duration_seconds = span / 1000.0;
    if (run.success) {
      std::string source;
      run.quality = ExtractQuality(variant, run.outputs, scale, &source);
      sources[vid].insert(source);
    }
    c.runs.push_back(std::move(run));
  }
  for (const auto& v : c.variants) {
    const auto& s = sources[v.variant_id];
    if (s.empty())
      c.quality_sources[v.variant_id] = "none: no successful run";
    else if (s.size() == 1)
      c.quality_sources[v.variant_id] = *s.begin();
    else
      c.quality_sources[v.variant_id] = Json(std::vector<std::string>(s.begin(), s.end()));
  }
  return c;
}

}  // namespace comfyrun
