#include "comfyrun/workflow.h"

#include <algorithm>
#include <exception>
#include <set>
#include <string_view>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "comfyrun/json_fast.h"
#include "comfyrun/node_registry.h"
#include "comfyrun/util.h"
#include "comfyrun/validate.h"

// Implementation details: every check appends to `diags` and carries on, so that a user sees
// all problems at once. JSON paths are JSONPath-like ("$.nodes[1].inputs.prompt") because
// that is what people type into jq.

namespace comfyrun {
namespace {

// "$schema" lets an editor find `comfyrun schema`'s output from inside the file (docs/schema.md).
const std::vector<std::string> kTopLevelKeys = {"workflowId", "description", "metadata", "nodes", "params",
                                                "defaults", "pools", "name", "version", "$schema"};
const std::vector<std::string> kNodeKeys = {"id", "type", "inputs", "outputs", "dependsOn", "retry",
                                            "timeout", "pool", "cache", "description", "name", "metadata"};
/// Error type names a retry policy can list (error_type.h), for messages and hints.
const std::vector<std::string> kErrorTypeNames = {"InvalidInput", "Auth", "RateLimited", "Unavailable",
                                                  "Timeout", "ContentBlocked", "NoImage", "NoFace",
                                                  "OutputInvalid", "Cancelled", "Execution", "Internal"};
constexpr long long kMaxAttempts = 1000000;
const std::vector<std::string> kRetryKeys = {"maximumAttempts", "initialInterval", "backoffCoefficient",
                                             "maximumInterval", "nonRetryableErrorTypes"};

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
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
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

struct Context {
  const std::string& file;
  std::vector<Diagnostic>* diags;
  void Error(const std::string& node, const std::string& path, std::string message,
             std::string hint = "") {
    AddError(diags, file, node, path, std::move(message), std::move(hint));
  }
  void Warning(const std::string& node, const std::string& path, std::string message,
               std::string hint = "") {
    AddError(diags, file, node, path, std::move(message), std::move(hint)).severity = Severity::kWarning;
  }
};

void CheckKnownKeys(const Json& object, const std::vector<std::string>& known, const std::string& node,
                    const std::string& path, Context& ctx, bool as_error) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
    std::string close = ClosestMatch(it.key(), known);
    std::string message = fmt::format("unknown key {}", Quote(it.key()));
    if (!as_error) message += " (ignored)";
    if (!close.empty()) message += fmt::format("; did you mean '{}'?", close);
    std::string hint = fmt::format("known keys: {}", fmt::join(known, ", "));
    if (as_error) ctx.Error(node, JsonPathMember(path, it.key()), message, hint);
    else ctx.Warning(node, JsonPathMember(path, it.key()), message, hint);
  }
}

std::optional<double> ReadDuration(const Json& value, const std::string& node, const std::string& path,
                                   Context& ctx) {
  if (value.is_number()) {
    double seconds = value.get<double>();
    if (seconds < 0) {
      ctx.Error(node, path, fmt::format("duration {} is negative", value.dump()));
      return std::nullopt;
    }
    return seconds;
  }
  if (value.is_string()) {
    std::string err;
    auto seconds = ParseDuration(value.get<std::string>(), &err);
    if (!seconds) ctx.Error(node, path, err);
    return seconds;
  }
  ctx.Error(node, path, fmt::format("a duration is a number of seconds or a string like \"10s\", got {}",
                                    value.type_name()));
  return std::nullopt;
}

void ReadRetry(const Json& value, const std::string& node, const std::string& path, RetryPolicy* retry,
               Context& ctx) {
  if (value.is_number_integer()) {  // shorthand: "retry": 5 = maximumAttempts
    if (value.get<long long>() < 0 || value.get<long long>() > kMaxAttempts)
      ctx.Error(node, path, fmt::format("retry {} is not a number of attempts from 0 to {}", value.dump(), kMaxAttempts),
                "\"retry\": 3 means at most 3 attempts; 0 means no limit");
    else
      retry->maximum_attempts = value.get<int>();
    return;
  }
  if (!value.is_object()) {
    ctx.Error(node, path, fmt::format("retry is an object like {{\"maximumAttempts\": 3}}, got {}", value.type_name()));
    return;
  }
  CheckKnownKeys(value, kRetryKeys, node, path, ctx, /*as_error=*/true);
  bool max_interval_given = false;
  if (value.contains("maximumAttempts")) {
    const Json& v = value["maximumAttempts"];
    if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > kMaxAttempts)
      ctx.Error(node, path + ".maximumAttempts",
                fmt::format("maximumAttempts is a whole number from 0 to {} (0 = unlimited), got {}", kMaxAttempts,
                            v.dump()));
    else
      retry->maximum_attempts = v.get<int>();
  }
  if (value.contains("initialInterval"))
    if (auto d = ReadDuration(value["initialInterval"], node, path + ".initialInterval", ctx))
      retry->initial_interval = *d;
  if (value.contains("backoffCoefficient")) {
    const Json& v = value["backoffCoefficient"];
    if (!v.is_number() || v.get<double>() < 1 || v.get<double>() > 100)
      ctx.Error(node, path + ".backoffCoefficient",
                fmt::format("backoffCoefficient is a number from 1 to 100, got {}", v.dump()));
    else
      retry->backoff_coefficient = v.get<double>();
  }
  if (value.contains("maximumInterval"))
    if (auto d = ReadDuration(value["maximumInterval"], node, path + ".maximumInterval", ctx)) {
      retry->maximum_interval = *d;
      max_interval_given = true;
    }
  if (!max_interval_given) retry->maximum_interval = 100 * retry->initial_interval;
  if (max_interval_given && retry->maximum_interval < retry->initial_interval)
    ctx.Error(node, path + ".maximumInterval",
              fmt::format("maximumInterval ({}) is shorter than initialInterval ({})",
                          FormatDuration(retry->maximum_interval), FormatDuration(retry->initial_interval)));
  if (value.contains("nonRetryableErrorTypes")) {
    const Json& v = value["nonRetryableErrorTypes"];
    if (!v.is_array()) {
      ctx.Error(node, path + ".nonRetryableErrorTypes",
                fmt::format("nonRetryableErrorTypes is a list of error type names, got {}", v.type_name()));
    } else {
      retry->non_retryable.clear();
      for (size_t i = 0; i < v.size(); ++i) {
        std::string p = fmt::format("{}.nonRetryableErrorTypes[{}]", path, i);
        if (!v[i].is_string() || !ParseErrorType(v[i].get<std::string>())) {
          std::string close = v[i].is_string() ? ClosestMatch(v[i].get<std::string>(), kErrorTypeNames) : "";
          ctx.Error(node, p,
                    fmt::format("unknown error type {}{}", v[i].dump(),
                                close.empty() ? "" : fmt::format("; did you mean '{}'?", close)),
                    fmt::format("error types: {}", fmt::join(kErrorTypeNames, ", ")));
        } else {
          retry->non_retryable.push_back(v[i].get<std::string>());
        }
      }
    }
  }
}

void ReadTimeout(const Json& value, const std::string& node, const std::string& path, NodeTimeouts* timeout,
                 Context& ctx) {
  if (value.is_object()) {
    CheckKnownKeys(value, {"attempt", "total"}, node, path, ctx, true);
    if (value.contains("attempt"))
      if (auto d = ReadDuration(value["attempt"], node, path + ".attempt", ctx)) timeout->attempt = *d;
    if (value.contains("total"))
      if (auto d = ReadDuration(value["total"], node, path + ".total", ctx)) timeout->total = *d;
    return;
  }
  if (auto d = ReadDuration(value, node, path, ctx)) timeout->attempt = *d;  // shorthand
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
      (default_value.is_boolean() && !parsed.is_boolean()) ||
      (default_value.is_array() && !parsed.is_array()) ||
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

/// What the workflow's "defaults" give every node, read once (errors in it were reported once
/// by BuildWorkflow): a node starts from these and its own settings go on top.
struct NodeDefaults {
  RetryPolicy retry;                 ///< the default policy with $.defaults.retry applied
  NodeTimeouts timeout{-1, -1};      ///< -1: not given in $.defaults.timeout
  std::optional<bool> cache;
};

/// A node object's members, found in one pass over it. Looking each key up by name cost a
/// temporary string and a linear search per key, ~15 per node: 2,000 instructions a node.
struct NodeMembers {
  const Json* id = nullptr;
  const Json* type = nullptr;
  Json* inputs = nullptr;  // not const: taken (moved) when the node list allows
  const Json* outputs = nullptr;
  const Json* depends_on = nullptr;
  const Json* retry = nullptr;
  const Json* timeout = nullptr;
  const Json* pool = nullptr;
  const Json* cache = nullptr;
  bool unknown_key = false;

  explicit NodeMembers(Json& raw) {
    for (auto it = raw.begin(); it != raw.end(); ++it) {
      const std::string& key = it.key();
      Json* v = &it.value();
      if (key == "id") id = v;
      else if (key == "type") type = v;
      else if (key == "inputs") inputs = v;
      else if (key == "outputs") outputs = v;
      else if (key == "dependsOn") depends_on = v;
      else if (key == "retry") retry = v;
      else if (key == "timeout") timeout = v;
      else if (key == "pool") pool = v;
      else if (key == "cache") cache = v;
      else if (std::find(kNodeKeys.begin(), kNodeKeys.end(), key) == kNodeKeys.end()) unknown_key = true;
    }
  }
};

/// Reads one node into `*out`; false (with an error) when it is not an object. Duplicate ids
/// are found afterwards, by MergeNodeRanges. With `take_inputs`, the inputs are moved out of
/// `raw` instead of copied.
bool ReadNode(Json& raw, size_t position, bool take_inputs, const NodeDefaults& defaults, WorkflowNode* out,
              Context& ctx) {
  std::string path = "$.nodes[";
  path += std::to_string(position);
  path += ']';
  if (!raw.is_object()) {
    ctx.Error("", path, fmt::format("a node is an object with \"id\", \"type\" and \"inputs\", got {}", raw.type_name()));
    return false;
  }
  const NodeMembers m(raw);
  WorkflowNode& node = *out;
  node.json_path = path;
  if (!m.id) {
    ctx.Error("", path, "node has no \"id\"", "give every node a unique id, e.g. \"id\": \"video_1\"");
  } else if (!m.id->is_string()) {
    ctx.Error("", path + ".id", fmt::format("id is a string, got {}", m.id->type_name()));
  } else {
    node.id = m.id->get_ref<const std::string&>();
    if (!IsValidNodeId(node.id)) {
      ctx.Error("", path + ".id", fmt::format("node id {} has characters a template cannot name", Quote(node.id)),
                "use letters, digits, '_' and '-' (at most 128)");
      node.id.clear();
    } else if (node.id == "params" || node.id == "run") {
      ctx.Error(node.id, path + ".id", fmt::format("{} is reserved for templates", Quote(node.id)),
                "choose another id");
      node.id.clear();
    }
  }
  const std::string& id = node.id;
  if (m.unknown_key) CheckKnownKeys(raw, kNodeKeys, id, path, ctx, /*as_error=*/true);

  if (!m.type) {
    ctx.Error(id, path, "node has no \"type\"", "run `comfyrun nodes` to list the types");
  } else if (!m.type->is_string()) {
    ctx.Error(id, path + ".type", fmt::format("type is a string, got {}", m.type->type_name()));
  } else {
    node.type = m.type->get_ref<const std::string&>();
    node.spec = FindNodeType(node.type);
    if (!node.spec) {
      std::string close = ClosestMatch(node.type, AllNodeTypeNames());
      ctx.Error(id, path + ".type",
                fmt::format("unknown node type {}{}", Quote(node.type),
                            close.empty() ? "" : fmt::format("; did you mean '{}'?", close)),
                "run `comfyrun nodes` to list the types");
    }
  }
  if (m.inputs && !m.inputs->is_object())
    ctx.Error(id, path + ".inputs", fmt::format("inputs is an object, got {}", m.inputs->type_name()));
  if (m.inputs && m.inputs->is_object()) node.inputs = take_inputs ? std::move(*m.inputs) : *m.inputs;
  else node.inputs = Json::object();
  if (m.outputs) {
    const Json& outputs = *m.outputs;
    if (!outputs.is_array()) {
      ctx.Error(id, path + ".outputs", fmt::format("outputs is a list of output names, got {}", outputs.type_name()));
    } else {
      for (size_t i = 0; i < outputs.size(); ++i) {
        if (!outputs[i].is_string()) ctx.Error(id, fmt::format("{}.outputs[{}]", path, i), "an output name is a string");
        else node.declared_outputs.push_back(outputs[i].get<std::string>());
      }
    }
  }
  if (m.depends_on) {
    const Json& deps = *m.depends_on;
    if (deps.is_string()) {
      node.depends_on.push_back(deps.get<std::string>());
    } else if (!deps.is_array()) {
      ctx.Error(id, path + ".dependsOn", fmt::format("dependsOn is a list of node ids, got {}", deps.type_name()));
    } else {
      for (size_t i = 0; i < deps.size(); ++i) {
        if (!deps[i].is_string()) ctx.Error(id, fmt::format("{}.dependsOn[{}]", path, i), "a node id is a string");
        else node.depends_on.push_back(deps[i].get<std::string>());
      }
    }
  }
  // Defaults first, then the node's own settings on top.
  if (node.spec && node.spec->default_attempt_timeout > 0) node.timeout.attempt = node.spec->default_attempt_timeout;
  node.retry = defaults.retry;
  if (defaults.timeout.attempt >= 0) node.timeout.attempt = defaults.timeout.attempt;
  if (defaults.timeout.total >= 0) node.timeout.total = defaults.timeout.total;
  node.cache = defaults.cache;
  if (m.retry) ReadRetry(*m.retry, id, path + ".retry", &node.retry, ctx);
  if (m.timeout) ReadTimeout(*m.timeout, id, path + ".timeout", &node.timeout, ctx);
  if (m.cache) {
    if (!m.cache->is_boolean())
      ctx.Error(id, path + ".cache", fmt::format("cache is true or false, got {}", m.cache->type_name()));
    else node.cache = m.cache->get<bool>();
  }
  node.pool = node.spec ? node.spec->default_pool : "";
  if (m.pool) {
    if (!m.pool->is_string() || m.pool->get_ref<const std::string&>().empty())
      ctx.Error(id, path + ".pool", fmt::format("pool is the name of a pool, got {}", Abbreviate(m.pool->dump(), 60)));
    else node.pool = m.pool->get<std::string>();
  }
  std::vector<std::pair<std::string, std::string>> template_errors;
  path += ".inputs";
  FindReferences(node.inputs, path, &node.references, &template_errors);
  for (auto& [p, message] : template_errors)
    ctx.Error(id, p, message, "a reference is <<node.output>>; for a literal '<<' or '{{' write \\\\<< or \\\\{{ in the JSON string");
  return true;
}

/// Nodes [begin, end) of the document, read by one thread into their slots of wf->nodes, and
/// what was wrong with each.
struct NodeRange {
  size_t begin = 0, end = 0;
  std::vector<char> is_node;       ///< per position: whether it became a node (an object)
  std::vector<Diagnostic> diags;
  std::vector<size_t> diag_start;  ///< per position: where its diagnostics start in diags
};

void ReadNodeRange(const NodeList& nodes, const NodeDefaults& defaults, const std::string& file,
                   std::vector<WorkflowNode>* slots, NodeRange* range) {
  Context ctx{file, &range->diags};
  Json scratch;  // this thread's: a node converted on the way, when the list does that
  for (size_t i = range->begin; i < range->end; ++i) {
    range->diag_start.push_back(range->diags.size());
    Json& raw = nodes.At(i, &scratch);
    range->is_node.push_back(ReadNode(raw, i, nodes.may_take(), defaults, &(*slots)[i], ctx));
  }
}

/// Joins the ranges' messages in document order, finding duplicate ids on the way, and drops
/// the slots of positions that were not nodes. Messages come out as one pass over the nodes
/// would give them: a duplicate's error first among its node's, and that node's other
/// messages name no node (its id is dropped).
void MergeNodeRanges(std::vector<NodeRange>& ranges, Workflow* wf, Context& ctx) {
  std::unordered_set<std::string_view> seen_ids;  // views into wf->nodes, not resized meanwhile
  seen_ids.reserve(wf->nodes.size());
  bool all_nodes = true;
  for (auto& range : ranges) {
    for (size_t i = range.begin; i < range.end; ++i) {
      size_t k = i - range.begin;
      size_t from = range.diag_start[k];
      size_t to = k + 1 < range.diag_start.size() ? range.diag_start[k + 1] : range.diags.size();
      std::string dropped_id;
      WorkflowNode& node = wf->nodes[i];
      all_nodes = all_nodes && range.is_node[k];
      if (range.is_node[k] && !node.id.empty() && !seen_ids.insert(node.id).second) {
        ctx.Error(node.id, node.json_path + ".id", fmt::format("duplicate node id {}", Quote(node.id)),
                  "node ids must be unique");
        dropped_id = std::move(node.id);
        node.id.clear();
      }
      for (size_t d = from; d < to; ++d) {
        Diagnostic& diag = range.diags[d];
        if (!dropped_id.empty() && diag.node_id == dropped_id) diag.node_id.clear();
        ctx.diags->push_back(std::move(diag));
      }
    }
  }
  if (all_nodes) return;
  std::vector<WorkflowNode> kept;  // an invalid workflow: no need to be quick
  for (auto& range : ranges)
    for (size_t i = range.begin; i < range.end; ++i)
      if (range.is_node[i - range.begin]) kept.push_back(std::move(wf->nodes[i]));
  wf->nodes = std::move(kept);
}

/// From this many nodes on, two threads read them (100,000 nodes: ~150 ms of one core).
constexpr size_t kNodesForTwoThreads = 4096;

}  // namespace

bool IsValidNodeId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
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

bool ParseJsonDocument(const std::string& text, const std::string& file, Json* doc,
                       std::vector<Diagnostic>* diags) {
  Context ctx{file, diags};
  if (text.size() > kMaxWorkflowBytes) {
    ctx.Error("", "", fmt::format("file is {:.1f} MB; the limit is {} MB", text.size() / 1048576.0,
                                  kMaxWorkflowBytes >> 20),
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
    ctx.Error("", "", fmt::format("JSON nested deeper than {} levels at line {}, column {}", kMaxJsonDepth, line, column));
    return false;
  }
  if (ParseJsonFast(text, doc)) return true;  // else nlohmann parses it again and says what is wrong
  try {
    *doc = Json::parse(text);
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
  if (!ReadFile(path, &text, &err)) {
    AddError(diags, path, "", "", fmt::format("cannot read file: {}", err));
    return false;
  }
  return ParseJsonDocument(text, path, doc, diags);
}

namespace {
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
  for (char c : wf->workflow_id)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      ctx.Error("", "$.workflowId", fmt::format("workflowId {} is used in file names; use letters, digits, '.', '_' and '-'",
                                                Quote(wf->workflow_id)));
      break;
    }
  if (doc.contains("description") && doc["description"].is_string())
    wf->description = doc["description"].get<std::string>();
  if (doc.contains("metadata") && doc["metadata"].is_object()) wf->metadata = doc["metadata"];

  ReadParams(doc, overrides, wf, ctx);

  if (doc.contains("pools")) {
    if (!doc["pools"].is_object()) {
      ctx.Error("", "$.pools", "pools is an object: {\"NAME\": concurrency}");
    } else {
      for (auto it = doc["pools"].begin(); it != doc["pools"].end(); ++it) {
        const Json& v = it.value();
        if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 100000)
          ctx.Error("", JsonPathMember("$.pools", it.key()),
                    fmt::format("pool {}: concurrency is a whole number from 1 to 100000, got {}", Quote(it.key()),
                                Abbreviate(v.dump(), 60)));
        else
          wf->pools[it.key()] = v.get<int>();
      }
    }
  }
  NodeDefaults& defaults = *defaults_out;
  if (doc.contains("defaults")) {
    if (!doc["defaults"].is_object()) ctx.Error("", "$.defaults", "defaults is an object with retry, timeout, cache");
    else {
      const Json& given = doc["defaults"];
      CheckKnownKeys(given, {"retry", "timeout", "cache"}, "", "$.defaults", ctx, true);
      if (given.contains("cache")) {
        if (!given["cache"].is_boolean()) ctx.Error("", "$.defaults.cache", "cache is true or false");
        else defaults.cache = given["cache"].get<bool>();
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

/// Reads the nodes (two threads from kNodesForTwoThreads on), then their ids and edges.
void ReadAllNodes(const NodeList& nodes, const NodeDefaults& defaults, const std::string& file, Workflow* wf,
                  Context& ctx) {
  std::vector<NodeRange> ranges(nodes.size() >= kNodesForTwoThreads ? 2 : 1);
  for (size_t r = 0; r < ranges.size(); ++r) {
    ranges[r].begin = nodes.size() * r / ranges.size();
    ranges[r].end = nodes.size() * (r + 1) / ranges.size();
  }
  // Slots that cost no allocation (a node's inputs start null; ReadNode makes them an object).
  wf->nodes.resize(nodes.size());
  {
    // Each thread reads its own range of the list into its own range of slots.
    std::thread helper;
    std::exception_ptr helper_failure;  // rethrown here, as a single pass would have thrown
    if (ranges.size() > 1)
      helper = std::thread([&] {
        try {
          ReadNodeRange(nodes, defaults, file, &wf->nodes, &ranges[1]);
        } catch (...) {
          helper_failure = std::current_exception();
        }
      });
    ReadNodeRange(nodes, defaults, file, &wf->nodes, &ranges[0]);
    if (helper.joinable()) helper.join();
    if (helper_failure) std::rethrow_exception(helper_failure);
  }
  MergeNodeRanges(ranges, wf, ctx);
  wf->index.reserve(wf->nodes.size());
  for (size_t i = 0; i < wf->nodes.size(); ++i)
    if (!wf->nodes[i].id.empty()) wf->index.emplace(wf->nodes[i].id, i);

  // Edges: references to nodes, and dependsOn. Unknown targets are reported by validation.
  wf->deps.assign(wf->nodes.size(), {});
  for (size_t i = 0; i < wf->nodes.size(); ++i) {
    const WorkflowNode& node = wf->nodes[i];
    std::vector<size_t>& deps = wf->deps[i];
    // A node naming itself is reported once by validation, not a second time as a cycle.
    for (const auto& ref : node.references) {
      auto it = wf->index.find(ref.root);
      if (it != wf->index.end() && it->first != node.id) deps.push_back(it->second);
    }
    for (const auto& dep : node.depends_on) {
      auto it = wf->index.find(dep);
      if (it != wf->index.end() && it->first != node.id) deps.push_back(it->second);
    }
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
  }
}
}  // namespace

bool BuildWorkflow(Json document, const std::string& file, const std::vector<ParamOverride>& overrides,
                   Workflow* wf, std::vector<Diagnostic>* diags) {
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
  if (!LoadJsonFile(path, &doc, diags)) return false;
  return BuildAndValidate(std::move(doc), path, overrides, wf, diags);
}

bool LoadWorkflowText(const std::string& text, const std::string& file, const std::vector<ParamOverride>& overrides,
                      Workflow* wf, std::vector<Diagnostic>* diags) {
  Json doc;
  if (!ParseJsonDocument(text, file, &doc, diags)) return false;
  return BuildAndValidate(std::move(doc), file, overrides, wf, diags);
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
