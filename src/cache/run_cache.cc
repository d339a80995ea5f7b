#include "comfyrun/cache/run_cache.h"

#include <fmt/format.h>

#include "comfyrun/providers/models.h"

namespace comfyrun {

const char* CacheModeName(CacheMode mode) {
  switch (mode) {
    case CacheMode::kWorkflow:
      return "workflow";
    case CacheMode::kOn:
      return "on";
    case CacheMode::kOff:
      return "off";
  }
  return "workflow";
}

bool ParseCacheMode(const std::string& name, CacheMode* out) {
  for (CacheMode m : {CacheMode::kWorkflow, CacheMode::kOn, CacheMode::kOff})
    if (name == CacheModeName(m)) {
      *out = m;
      return true;
    }
  return false;
}

RunCache::RunCache(std::string cache_root, CacheMode mode, bool offline, std::string run_dir, Warn warn)
    : store_(std::move(cache_root)),
      mode_(mode),
      offline_(offline),
      run_dir_(std::move(run_dir)),
      warn_(std::move(warn)) {}

bool RunCache::Enabled(const WorkflowNode& node, const NodeKind& kind) const {
  if (mode_ == CacheMode::kOff || kind.runs_inline() || !node.spec) return false;
  if (node.cache.has_value()) return *node.cache;
  return mode_ == CacheMode::kOn;
}

std::optional<NodeResult> RunCache::Lookup(const WorkflowNode& node, const RootLookup& lookup,
                                           const std::string& node_dir, Use use, std::string* key) {
  key->clear();
  CacheKeyInputs in;
  in.spec = node.spec;
  in.inputs = &node.inputs;
  in.lookup = lookup;
  in.run_dir = run_dir_;
  in.offline = offline_;
  in.resolve_model = [](const std::string& alias) {
    std::string err;
    const ModelInfo* info = ActiveModelCatalog().Resolve(alias, &err);
    return info ? info->id : alias;
  };
  Json doc;
  std::string err;
  if (!BuildCacheKeyDocument(in, &hasher_, &doc, &err)) return std::nullopt;  // the attempt fails on it too
  *key = CacheKeyOf(doc);
  if (use == Use::kKeyOnly) return std::nullopt;
  std::string warning;
  std::optional<CacheHit> hit = store_.Fetch(*key, node_dir, run_dir_, &hasher_, &warning);
  if (!warning.empty()) warn_(fmt::format("{}: {}", node.id, warning));
  if (!hit) return std::nullopt;
  NodeResult r = NodeResult::Success(std::move(hit->outputs));
  r.provider = hit->provider;
  r.model = hit->model;
  r.cost = 0;
  // Generation types report what they charged as an output too; a hit charged nothing.
  if (node.spec->HasOutput("cost") && r.outputs.contains("cost") && r.outputs["cost"].is_number())
    r.outputs["cost"] = 0;
  return r;
}

void RunCache::Store(const std::string& key, const WorkflowNode& node, const NodeResult& result,
                     const std::string& node_dir) {
  CacheRecord record;
  record.type = node.spec->name;
  record.type_version = node.spec->version;
  record.node = node.id;
  record.provider = result.provider;
  record.model = result.model;
  record.cost = result.cost;
  record.outputs = result.outputs;
  std::string err;
  if (!store_.Put(key, record, node_dir, run_dir_, &hasher_, &err))
    warn_(fmt::format("{}: its result was not stored in the cache: {}", node.id, err));
}

}  // namespace comfyrun
