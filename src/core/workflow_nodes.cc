// Reading a workflow's nodes (BuildWorkflow, workflow.cc): each node's members, settings and
// templates into a WorkflowNode; from 4,096 nodes on by two threads, each into its own slots,
// with duplicate ids found afterwards so that messages come out in document order.
#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <string_view>
#include <thread>
#include <unordered_set>

#include "comfyrun/core/node_registry.h"
#include "comfyrun/core/util.h"
#include "workflow_loading.h"

namespace comfyrun::workflow_loading {
namespace {

const std::vector<std::string> kNodeKeys = {"id",      "type", "inputs", "outputs",     "dependsOn", "retry",
                                            "timeout", "pool", "cache",  "description", "name",      "metadata"};

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
      if (key == "id")
        id = v;
      else if (key == "type")
        type = v;
      else if (key == "inputs")
        inputs = v;
      else if (key == "outputs")
        outputs = v;
      else if (key == "dependsOn")
        depends_on = v;
      else if (key == "retry")
        retry = v;
      else if (key == "timeout")
        timeout = v;
      else if (key == "pool")
        pool = v;
      else if (key == "cache")
        cache = v;
      else if (std::find(kNodeKeys.begin(), kNodeKeys.end(), key) == kNodeKeys.end())
        unknown_key = true;
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
    ctx.Error("", path,
              fmt::format("a node is an object with \"id\", \"type\" and \"inputs\", got {}", raw.type_name()));
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
      // Characters first: an id of letters and digits only is just too long (and then bytes
      // are characters, so the count is right).
      bool bad_chars = std::any_of(node.id.begin(), node.id.end(), [](char c) {
        return !isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-';
      });
      std::string message = node.id.empty() ? std::string("node id is empty")
                            : bad_chars
                                ? fmt::format("node id {} has characters a template cannot name", Quote(node.id))
                                : fmt::format("node id {} is too long: {} characters, the limit is {}", Quote(node.id),
                                              node.id.size(), kMaxNodeIdLength);
      ctx.Error("", path + ".id", std::move(message),
                fmt::format("use letters, digits, '_' and '-' (at most {})", kMaxNodeIdLength));
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
  if (m.inputs && m.inputs->is_object())
    node.inputs = take_inputs ? std::move(*m.inputs) : *m.inputs;
  else
    node.inputs = Json::object();
  if (m.outputs) {
    const Json& outputs = *m.outputs;
    if (!outputs.is_array()) {
      ctx.Error(id, path + ".outputs", fmt::format("outputs is a list of output names, got {}", outputs.type_name()));
    } else {
      for (size_t i = 0; i < outputs.size(); ++i) {
        if (!outputs[i].is_string())
          ctx.Error(id, fmt::format("{}.outputs[{}]", path, i), "an output name is a string");
        else
          node.declared_outputs.push_back(outputs[i].get<std::string>());
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
        if (!deps[i].is_string())
          ctx.Error(id, fmt::format("{}.dependsOn[{}]", path, i), "a node id is a string");
        else
          node.depends_on.push_back(deps[i].get<std::string>());
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
    else
      node.cache = m.cache->get<bool>();
  }
  node.pool = node.spec ? node.spec->default_pool : "";
  if (m.pool) {
    if (!m.pool->is_string() || m.pool->get_ref<const std::string&>().empty())
      ctx.Error(id, path + ".pool", fmt::format("pool is the name of a pool, got {}", Abbreviate(m.pool->dump(), 60)));
    else
      node.pool = m.pool->get<std::string>();
  }
  std::vector<std::pair<std::string, std::string>> template_errors;
  path += ".inputs";
  FindReferences(node.inputs, path, &node.references, &template_errors);
  for (auto& [p, message] : template_errors)
    ctx.Error(id, p, message,
              "a reference is <<node.output>>; for a literal '<<' or '{{' write \\\\<< or \\\\{{ in the JSON string");
  return true;
}

/// Nodes [begin, end) of the document, read by one thread into their slots of wf->nodes, and
/// what was wrong with each.
struct NodeRange {
  size_t begin = 0, end = 0;
  std::vector<char> is_node;  ///< per position: whether it became a node (an object)
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

}  // namespace comfyrun::workflow_loading
