#pragma once
// The table of node types: type name (or alias) -> declaration. Built once, read-only after.
#include <map>
#include <string>
#include <vector>

#include "comfyrun/core/node_type.h"

namespace comfyrun {

/// Every built-in node type, in the order `nodes` lists them.
const std::vector<NodeTypeSpec>& AllNodeTypes();

/// The type named `name` or one of its aliases; nullptr when unknown.
const NodeTypeSpec* FindNodeType(const std::string& name);

/// Each named pool's depth: `declared` (a workflow's "pools"), else what the node types
/// declare for their default pool (a provider's documented concurrency). A pool in neither
/// is bounded by -j only.
std::map<std::string, int> PoolDepths(const std::map<std::string, int>& declared);

/// Every accepted type name and alias (for "did you mean" hints).
std::vector<std::string> AllNodeTypeNames();

// Declarations, one per node type; each lives beside the type's implementation in src/nodes/.
NodeTypeSpec ImageGenerationSpec();
NodeTypeSpec VideoGenerationSpec();
NodeTypeSpec Sora2VideoSpec();
NodeTypeSpec ComfyuiSpec();
NodeTypeSpec VideoStitchSpec();
NodeTypeSpec MediaProbeSpec();
NodeTypeSpec ShellSpec();
NodeTypeSpec HttpSpec();
NodeTypeSpec ValueSpec();
NodeTypeSpec FalSpec();        // src/nodes/queue_specs.cc
NodeTypeSpec ReplicateSpec();  // src/nodes/queue_specs.cc

}  // namespace comfyrun
