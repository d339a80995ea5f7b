#include "comfyrun/core/node_registry.h"

namespace comfyrun {

namespace {
// Written once at program start, before any thread that reads it exists.
const std::vector<NodeTypeSpec>* installed_table = nullptr;
}  // namespace

void SetNodeTypeTable(const std::vector<NodeTypeSpec>* table) { installed_table = table; }

const std::vector<NodeTypeSpec>& AllNodeTypes() {
  static const std::vector<NodeTypeSpec> kNone;
  return installed_table ? *installed_table : kNone;
}

const NodeTypeSpec* FindNodeType(const std::string& name) {
  for (const auto& type : AllNodeTypes()) {
    if (type.name == name) return &type;
    for (const auto& alias : type.aliases)
      if (alias == name) return &type;
  }
  return nullptr;
}

std::vector<std::string> AllNodeTypeNames() {
  std::vector<std::string> names;
  for (const auto& type : AllNodeTypes()) {
    names.push_back(type.name);
    names.insert(names.end(), type.aliases.begin(), type.aliases.end());
  }
  return names;
}

std::map<std::string, int> PoolDepths(const std::map<std::string, int>& declared) {
  std::map<std::string, int> depths = declared;
  for (const NodeTypeSpec& spec : AllNodeTypes())
    if (spec.default_pool_depth > 0 && !spec.default_pool.empty())
      depths.emplace(spec.default_pool, spec.default_pool_depth);
  return depths;
}

}  // namespace comfyrun
