// The node-type table and the node-kind lookup: the built-in types in one small table here,
// the providers' from the provider registry. Declarations (inputs, outputs) live in the
// specs; these tables say who runs each type.
#include <string>

#include "comfyrun/core/node_registry.h"
#include "comfyrun/engine/node_kind.h"
#include "comfyrun/media/media_nodes.h"
#include "comfyrun/nodes/builtin_nodes.h"
#include "comfyrun/nodes/node_table.h"
#include "comfyrun/providers/provider.h"

namespace comfyrun {
namespace {

struct BuiltinType {
  NodeTypeSpec (*spec)();
  NodeKind* (*kind)();
};

// The types that need no provider, in the order `comfyrun nodes` lists them.
const BuiltinType kBuiltins[] = {
    {VideoStitchSpec, VideoStitchNodeKind},
    {MediaProbeSpec, MediaProbeNodeKind},
    {ShellSpec, ShellNodeKind},
    {HttpSpec, HttpNodeKind},
    {ValueSpec, ValueNodeKind},
};

struct Installed {
  std::vector<NodeTypeSpec> specs;
  std::vector<std::pair<std::string, NodeKind*>> kinds;  // canonical type name -> kind
};

const Installed& TheTable() {
  static const Installed kTable = [] {
    Installed t;
    for (const ProviderDescriptor& p : Providers())
      for (const ProviderNodeType& type : p.node_types) {
        NodeTypeSpec spec = type.spec();
        spec.default_pool = p.name;
        spec.default_pool_depth = p.pool_depth;
        spec.default_pool_rate = p.pool_rate;
        spec.estimate_cost = p.estimate_cost;
        t.kinds.emplace_back(spec.name, type.kind());
        t.specs.push_back(std::move(spec));
      }
    for (const BuiltinType& b : kBuiltins) {
      t.specs.push_back(b.spec());
      t.kinds.emplace_back(t.specs.back().name, b.kind());
    }
    return t;
  }();
  return kTable;
}

}  // namespace

const std::vector<NodeTypeSpec>& InstalledNodeTypes() { return TheTable().specs; }

void InstallNodeTypes() { SetNodeTypeTable(&InstalledNodeTypes()); }

NodeKind* FindNodeKind(const std::string& type) {
  for (const auto& [name, kind] : TheTable().kinds)
    if (name == type) return kind;
  return nullptr;
}

}  // namespace comfyrun
