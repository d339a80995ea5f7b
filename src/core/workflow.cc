#include "comfyrun/core/workflow.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <string_view>

#include "comfyrun/core/json_fast.h"
#include "comfyrun/core/rate.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/validate.h"
#include "workflow_loading.h"

// Implementation details: every check appends to `diags` and carries on, so that a user sees
// all problems at once. JSON paths are JSONPath-like ("$.nodes[1].inputs.prompt") because
// that is what people type into jq. This file: parsing the document, its top level and
// params; the nodes are read by workflow_nodes.cc, retry and timeout settings by
// workflow_fields.cc (workflow_loading.h).

namespace comfyrun {
using workflow_loading::CheckKnownKeys;
using workflow_loading::Context;
using workflow_loading::NodeDefaults;
using workflow_loading::ReadAllNodes;
using workflow_loading::ReadRetry;
using workflow_loading::ReadTimeout;
namespace {

// "$schema" lets an editor find `comfyrun schema`'s output from inside the file (docs/schema.md).
const std::vector<std::string> kTopLevelKeys = {"workflowId", "description", "metadata", "nodes",   "params",
                                                "defaults",   "pools",       "name",     "version", "$schema"};

/// 1-based line and column of a byte offset.
std::pair<size_t, size_t> LineColumn(const std::string& text, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

/// Offset at which nesting first exceeds kMaxJsonDepth, or npos. Checked before parsing so
/// that hostile input cannot exhaust the stack in the parser or in the value's destructor.
size_t FindExcessiveDepth(const std::string& text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string::npos;
}

/// Reports keys given twice in one object (a JSON reader keeps the last one silently): an
/// error inside a node, where it changes what runs; a warning elsewhere.
void ReportDuplicateKeys(const std::string& text, const Json& doc, Context& ctx) {
  std::vector<DuplicateKey> found;
  FindDuplicateKeys(text, &found);
  for (const DuplicateKey& d : found) {
    std::string path = JsonPathMember(d.object_path, d.key);
    std::string message = fmt::format(
        "key {} is given more than once in this object; only the last value would be "
        "used",
        Quote(d.key));
    const char* hint = "keep one of them";
    size_t index = 0;
    if (std::sscanf(d.object_path.c_str(), "$.nodes[%zu]", &index) == 1) {
      std::string node;
      if (doc.is_object() && doc.contains("nodes") && doc["nodes"].is_array() && index < doc["nodes"].size()) {
        const Json& n = doc["nodes"][index];
        if (n.is_object() && n.contains("id") && n["id"].is_string()) node = n["id"].get<std::string>();
      }
      ctx.Error(node, path, message, hint);
    } else {
      ctx.Warning("", path, message, hint);
    }
  }
}

/// Converts a --param value to the type of the param's default.
bool ConvertParam(const std::string& text, const Json& default_value, Json* out, std::string* err) {
  if (default_value.is_string() || default_value.is_null()) {
    if (default_value.is_null()) {
      // No default to follow: numbers, booleans, arrays and objects as JSON, else a string.
      Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      *out = parsed.is_discarded() || parsed.is_string() ? Json(text) : parsed;
    } else {
      *out = text;
    }
    return true;
  }
  Json parsed = Json::parse(text, nullptr, false);
  if (parsed.is_discarded() || (default_value.is_number() && !parsed.is_number()) ||
      (default_value.is_boolean() && !parsed.is_boolean()) || (default_value.is_array() && !parsed.is_array()) ||
      (default_value.is_object() && !parsed.is_object())) {
    *err = fmt::format("expected {} like its default {}, got {}", default_value.type_name(),
                       Abbreviate(default_value.dump(), 60), Quote(text));
    return false;
  }
  *out = parsed;
  return true;
}

void ReadParams(const Json& doc, const std::vector<ParamOverride>& overrides, Workflow* wf, Context& ctx) {
  Json defaults = Json::object();
  if (doc.contains("params")) {
    if (!doc["params"].is_object())
      ctx.Error("", "$.params", "params is an object: {\"NAME\": default value}");
    else
      defaults = doc["params"];
  }
  for (auto it = defaults.begin(); it != defaults.end(); ++it) wf->params[it.key()] = it.value();
  for (const auto& o : overrides) {
    if (!defaults.contains(o.name)) {
      std::vector<std::string> names;
      for (auto it = defaults.begin(); it != defaults.end(); ++it) names.push_back(it.key());
      std::string close = ClosestMatch(o.name, names);
      ctx.Error("", "",
                fmt::format("--param {}: the workflow declares no param {}{}", o.name, Quote(o.name),
                            close.empty() ? "" : fmt::format("; did you mean '{}'?", close)),
                names.empty() ? "declare it under \"params\" in the workflow"
                              : fmt::format("declared params: {}", fmt::join(names, ", ")));
      continue;
    }
    std::string err;
    Json value;
    if (!ConvertParam(o.value, defaults[o.name], &value, &err))
      ctx.Error("", "", fmt::format("--param {}: {}", o.name, err));
    else
      wf->params[o.name] = value;
  }
  for (auto it = wf->params.begin(); it != wf->params.end(); ++it)
    if (it.value().is_null())
      ctx.Error("", JsonPathMember("$.params", it.key()), fmt::format("param {} has no value", Quote(it.key())),
                fmt::format("pass --param {}=VALUE", it.key()));
}

}  // namespace

bool IsValidNodeId(const std::string& id) {
  if (id.empty() || id.size() > kMaxNodeIdLength) return false;
  for (char c : id)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  return true;
}

std::vector<std::string_view> NodeIdViews(const Workflow& wf) {
  std::vector<std::string_view> ids;
  ids.reserve(wf.nodes.size());
  for (const auto& n : wf.nodes) ids.push_back(n.id);
  return ids;
}

const WorkflowNode* Workflow::Find(const std::string& id) const {
  auto it = index.find(id);
  return it == index.end() ? nullptr : &nodes[it->second];
}

bool ParseJsonDocument(const std::string& text, const std::string& file, Json* doc, std::vector<Diagnostic>* diags) {
  Context ctx{file, diags};
  if (text.size() > kMaxWorkflowBytes) {
    ctx.Error("", "",
              fmt::format("file is {:.1f} MiB; the limit is {} MiB", text.size() / 1048576.0, kMaxWorkflowBytes >> 20),
              "keep large data in files and refer to their paths");
    return false;
  }
  if (Trim(text).empty()) {
    ctx.Error("", "", "file is empty", "a workflow is a JSON object: {\"workflowId\": ..., \"nodes\": [...]}");
    return false;
  }
  size_t nul = text.find('\0');
  if (nul != std::string::npos) {
    auto [line, column] = LineColumn(text, nul);
    ctx.Error("", "", fmt::format("not a JSON text: binary data (a NUL byte) at line {}, column {}", line, column));
    return false;
  }
  size_t deep = FindExcessiveDepth(text);
  if (deep != std::string::npos) {
    auto [line, column] = LineColumn(text, deep);
    ctx.Error("", "",
              fmt::format("JSON nested deeper than {} levels at line {}, column {}", kMaxJsonDepth, line, column));
    return false;
  }
  bool duplicates = false;
  if (ParseJsonFast(text, doc, &duplicates)) {  // else nlohmann parses it again and says what is wrong
    if (duplicates) ReportDuplicateKeys(text, *doc, ctx);
    return true;
  }
  try {
    *doc = Json::parse(text);
    ReportDuplicateKeys(text, *doc, ctx);  // (rare: text simdjson refused, such as a 70-bit integer)
  } catch (const nlohmann::json::parse_error& e) {
    size_t offset = e.byte > 0 ? e.byte - 1 : 0;
    auto [line, column] = LineColumn(text, offset);
    std::string what = e.what();
    // nlohmann's message is "[json.exception.parse_error.101] parse error at line 1, column 2: ...";
    // keep only the part after the position, which says what was wrong.
    size_t colon = what.find(": ", what.find("parse error"));
    std::string reason = colon == std::string::npos ? what : what.substr(colon + 2);
    ctx.Error("", "", fmt::format("not valid JSON at line {}, column {}: {}", line, column, reason));
    return false;
  } catch (const nlohmann::json::exception& e) {
    // out_of_range.406 "number overflow parsing '1e400'": no offset, so find the number.
    std::string what = e.what();
    size_t bracket = what.find("] ");
    std::string reason = bracket == std::string::npos ? what : what.substr(bracket + 2);
    size_t open = reason.find('\''), close = reason.rfind('\'');
    size_t at = open < close ? text.find(reason.substr(open + 1, close - open - 1)) : std::string::npos;
    if (at != std::string::npos) {
      auto [line, column] = LineColumn(text, at);
      ctx.Error("", "", fmt::format("not valid JSON at line {}, column {}: {}", line, column, reason));
    } else {
      ctx.Error("", "", fmt::format("not valid JSON: {}", reason));
    }
    return false;
  }
  return true;
}

bool LoadJsonFile(const std::string& path, Json* doc, std::vector<Diagnostic>* diags) {
  std::string text, err;
  // Read no more than the limit: /dev/zero or a FIFO named as a workflow is refused, not read.
  if (!ReadUserFile(path, kMaxWorkflowBytes, &text, &err)) {
    if (StartsWith(err, "file is "))
      AddError(diags, path, "", "", err, "keep large data in files and refer to their paths");
    else
      AddError(diags, path, "", "", fmt::format("cannot read file: {}", err));
    return false;
  }
  return ParseJsonDocument(text, path, doc, diags);
}

namespace {
/// One pool: a concurrency (a whole number), or an object with any of "concurrency" (or its
/// synonym "slots"), "rate" ("COUNT/UNIT"), and for a pool that runs on a cluster
/// "executor": "slurm", "partition" and "sbatch" (docs/slurm.md).
void ReadPool(const std::string& name, const Json& v, const std::string& path, Workflow* wf, Context& ctx) {
  auto concurrency = [&](const Json& c, const std::string& at, const char* what) {
    if (!c.is_number_integer() || c.get<long long>() < 1 || c.get<long long>() > 100000)
      ctx.Error("", at,
                fmt::format("pool {}: {} is a whole number from 1 to 100000, got {}", Quote(name), what,
                            Abbreviate(c.dump(), 60)));
    else
      wf->pools[name] = c.get<int>();
  };
  if (!v.is_object()) {
    concurrency(v, path, "concurrency");
    return;
  }
  static const std::vector<std::string> kKeys = {"concurrency", "slots", "rate", "executor", "partition", "sbatch"};
  for (auto it = v.begin(); it != v.end(); ++it)
    if (std::find(kKeys.begin(), kKeys.end(), it.key()) == kKeys.end())
      ctx.Error("", JsonPathMember(path, it.key()),
                fmt::format("pool {}: unknown field {}; a pool has concurrency (or slots), rate, executor, partition, "
                            "sbatch",
                            Quote(name), Quote(it.key())));
  if (v.contains("concurrency") && v.contains("slots"))
    ctx.Error("", JsonPathMember(path, "slots"),
              fmt::format("pool {}: slots and concurrency are the same setting; give one", Quote(name)));
  else if (v.contains("concurrency"))
    concurrency(v["concurrency"], JsonPathMember(path, "concurrency"), "concurrency");
  else if (v.contains("slots"))
    concurrency(v["slots"], JsonPathMember(path, "slots"), "slots");
  if (v.contains("rate")) {
    const Json& rate = v["rate"];
    double per_second = 0;
    std::string err;
    if (!rate.is_string() || !ParseRate(rate.get<std::string>(), &per_second, &err))
      ctx.Error("", JsonPathMember(path, "rate"),
                fmt::format("pool {}: {}", Quote(name),
                            rate.is_string() ? err : "rate is a string such as \"60/min\" or \"2/s\""));
    else
      wf->pool_rates[name] = per_second;
  }
  PoolExecutor ex;
  if (v.contains("executor")) {
    if (!v["executor"].is_string() || (v["executor"] != "slurm" && v["executor"] != "local")) {
      ctx.Error("", path + ".executor",
                fmt::format("pool {}: executor is \"local\" or \"slurm\", got {}", Quote(name),
                            Abbreviate(v["executor"].dump(), 60)));
      return;
    }
    ex.executor = v["executor"].get<std::string>();
  }
  if (v.contains("partition")) {
    if (!v["partition"].is_string() || v["partition"].get_ref<const std::string&>().empty())
      ctx.Error("", path + ".partition",
                fmt::format("pool {}: partition is the name of a Slurm partition, got {}", Quote(name),
                            Abbreviate(v["partition"].dump(), 60)));
    else
      ex.partition = v["partition"].get<std::string>();
  }
  if (v.contains("sbatch")) {
    if (!v["sbatch"].is_array()) {
      ctx.Error("", path + ".sbatch",
                fmt::format("pool {}: sbatch is a list of options such as [\"--time=30:00\"]", Quote(name)));
    } else {
      for (size_t k = 0; k < v["sbatch"].size(); ++k) {
        const Json& a = v["sbatch"][k];
        if (!a.is_string() || !StartsWith(a.get_ref<const std::string&>(), "-"))
          ctx.Error("", fmt::format("{}.sbatch[{}]", path, k),
                    fmt::format("pool {}: each sbatch entry is one option starting with '-', got {}", Quote(name),
                                Abbreviate(a.dump(), 60)));
        else
          ex.sbatch.push_back(a.get<std::string>());
      }
    }
  }
  if ((!ex.partition.empty() || !ex.sbatch.empty()) && ex.executor != "slurm")
    ctx.Error("", path, fmt::format("pool {}: partition and sbatch need \"executor\": \"slurm\"", Quote(name)));
  if (ex.executor == "slurm") wf->pool_executors[name] = std::move(ex);
}

/// Everything of a workflow but its nodes: id, description, metadata, params, pools and the
/// nodes' defaults. False when the document cannot be a workflow at all.
bool ReadTopLevel(const Json& doc, bool has_nodes, const std::string& file, const std::vector<ParamOverride>& overrides,
                  Workflow* wf, NodeDefaults* defaults_out, Context& ctx) {
  if (!doc.is_object()) {
    ctx.Error("", "$", fmt::format("a workflow is a JSON object with \"nodes\", got {}", doc.type_name()));
    return false;
  }
  if (doc.contains("variants") && !has_nodes) {
    ctx.Error("", "$.variants", "this is an A/B test definition, not a workflow",
              fmt::format("run it with `comfyrun abtest {}`", file));
    return false;
  }
  CheckKnownKeys(doc, kTopLevelKeys, "", "$", ctx, /*as_error=*/false);

  if (doc.contains("workflowId")) {
    if (!doc["workflowId"].is_string() || doc["workflowId"].get<std::string>().empty())
      ctx.Error("", "$.workflowId", "workflowId is a non-empty string");
    else
      wf->workflow_id = doc["workflowId"].get<std::string>();
  } else {
    // Files of the older system always have one; for new ones the file name will do.
    std::string stem = file.substr(file.find_last_of('/') + 1);
    wf->workflow_id = stem.substr(0, stem.find('.'));
  }
  const std::string& wid = wf->workflow_id;
  if (wid.size() > kMaxNodeIdLength) {
    ctx.Error("", "$.workflowId",
              fmt::format("workflowId {} is too long: {} characters, the limit is {}", Quote(wid), wid.size(),
                          kMaxNodeIdLength),
              "it names files and folders; use a shorter id");
  } else if (std::any_of(wid.begin(), wid.end(), [](char c) {
               return !isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.';
             })) {
    ctx.Error("", "$.workflowId",
              fmt::format("workflowId {} is used in file names; use letters, digits, '.', '_' and '-'", Quote(wid)));
  }
  if (doc.contains("description") && doc["description"].is_string())
    wf->description = doc["description"].get<std::string>();
  if (doc.contains("metadata") && doc["metadata"].is_object()) wf->metadata = doc["metadata"];

  ReadParams(doc, overrides, wf, ctx);

  if (doc.contains("pools")) {
    if (!doc["pools"].is_object()) {
      ctx.Error("", "$.pools",
                "pools is an object: {\"NAME\": concurrency} or {\"NAME\": {\"concurrency\": N, \"rate\": "
                "\"60/min\", \"executor\": \"slurm\", ...}}");
    } else {
      for (auto it = doc["pools"].begin(); it != doc["pools"].end(); ++it)
        ReadPool(it.key(), it.value(), JsonPathMember("$.pools", it.key()), wf, ctx);
    }
  }
  NodeDefaults& defaults = *defaults_out;
  if (doc.contains("defaults")) {
    if (!doc["defaults"].is_object())
      ctx.Error("", "$.defaults", "defaults is an object with retry, timeout, cache");
    else {
      const Json& given = doc["defaults"];
      CheckKnownKeys(given, {"retry", "timeout", "cache"}, "", "$.defaults", ctx, true);
      if (given.contains("cache")) {
        if (!given["cache"].is_boolean())
          ctx.Error("", "$.defaults.cache", "cache is true or false");
        else
          defaults.cache = given["cache"].get<bool>();
      }
      if (given.contains("retry")) ReadRetry(given["retry"], "", "$.defaults.retry", &defaults.retry, ctx);
      if (given.contains("timeout")) ReadTimeout(given["timeout"], "", "$.defaults.timeout", &defaults.timeout, ctx);
    }
  }

  return true;
}

/// The nodes of an array in the document: read where they are, and copied from (the document
/// is kept for the journal header).
class DocumentNodes : public NodeList {
 public:
  explicit DocumentNodes(Json& nodes) : nodes_(nodes) {}
  size_t size() const override { return nodes_.size(); }
  Json& At(size_t i, Json*) const override { return nodes_[i]; }
  bool may_take() const override { return false; }

 private:
  Json& nodes_;
};

}  // namespace

bool BuildWorkflow(Json document, const std::string& file, const std::vector<ParamOverride>& overrides, Workflow* wf,
                   std::vector<Diagnostic>* diags) {
  size_t errors_before = CountErrors(*diags);
  Context ctx{file, diags};
  wf->file = file;
  wf->document = std::move(document);  // kept for the journal header; read from there below
  const Json& doc = wf->document;
  NodeDefaults defaults;
  if (!ReadTopLevel(doc, doc.is_object() && doc.contains("nodes"), file, overrides, wf, &defaults, ctx)) return false;
  if (!doc.contains("nodes")) {
    std::vector<std::string> keys;
    for (auto it = doc.begin(); it != doc.end(); ++it) keys.push_back(it.key());
    std::string close;
    for (auto& k : keys)
      if (EditDistance(k, "nodes") <= 2) close = k;
    ctx.Error("", "$", "workflow has no \"nodes\"",
              close.empty() ? "add \"nodes\": [ {\"id\": ..., \"type\": ..., \"inputs\": {...}} ]"
                            : fmt::format("rename '{}' to 'nodes'", close));
    return false;
  }
  if (!doc["nodes"].is_array()) {
    ctx.Error("", "$.nodes", fmt::format("nodes is a list, got {}", doc["nodes"].type_name()));
    return false;
  }
  if (doc["nodes"].empty()) ctx.Error("", "$.nodes", "workflow has no nodes");

  ReadAllNodes(DocumentNodes(wf->document["nodes"]), defaults, file, wf, ctx);
  return CountErrors(*diags) == errors_before;
}

bool BuildWorkflow(Json document_without_nodes, const NodeList& nodes, const std::string& file,
                   const std::vector<ParamOverride>& overrides, Workflow* wf, std::vector<Diagnostic>* diags) {
  size_t errors_before = CountErrors(*diags);
  Context ctx{file, diags};
  wf->file = file;
  wf->document = std::move(document_without_nodes);
  NodeDefaults defaults;
  if (!ReadTopLevel(wf->document, /*has_nodes=*/true, file, overrides, wf, &defaults, ctx)) return false;
  if (nodes.size() == 0) ctx.Error("", "$.nodes", "workflow has no nodes");
  ReadAllNodes(nodes, defaults, file, wf, ctx);
  return CountErrors(*diags) == errors_before;
}

namespace {
bool BuildAndValidate(Json doc, const std::string& file, const std::vector<ParamOverride>& overrides, Workflow* wf,
                      std::vector<Diagnostic>* diags) {
  bool built = BuildWorkflow(std::move(doc), file, overrides, wf, diags);
  const Json& kept = wf->document;
  if (!kept.is_object() || !kept.contains("nodes") || !kept["nodes"].is_array()) return false;
  bool valid = ValidateWorkflow(wf, diags);
  return built && valid;
}
}  // namespace

bool LoadWorkflow(const std::string& path, const std::vector<ParamOverride>& overrides, Workflow* wf,
                  std::vector<Diagnostic>* diags) {
  Json doc;
  size_t errors_before = CountErrors(*diags);
  if (!LoadJsonFile(path, &doc, diags)) return false;
  // (parsed, but perhaps with errors such as a key given twice in a node)
  return BuildAndValidate(std::move(doc), path, overrides, wf, diags) && CountErrors(*diags) == errors_before;
}

bool LoadWorkflowText(const std::string& text, const std::string& file, const std::vector<ParamOverride>& overrides,
                      Workflow* wf, std::vector<Diagnostic>* diags) {
  Json doc;
  size_t errors_before = CountErrors(*diags);
  if (!ParseJsonDocument(text, file, &doc, diags)) return false;
  return BuildAndValidate(std::move(doc), file, overrides, wf, diags) && CountErrors(*diags) == errors_before;
}

bool ParseParamArgument(const std::string& arg, ParamOverride* out, std::string* err) {
  size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0) {
    *err = fmt::format("--param {}: {}; write --param NAME=VALUE", Quote(arg),
                       eq == 0 ? "the name is missing" : "the value is missing");
    return false;
  }
  out->name = arg.substr(0, eq);
  out->value = arg.substr(eq + 1);
  return true;
}

}  // namespace comfyrun
