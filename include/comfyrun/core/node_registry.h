#pragma once
// The table of node types: type name (or alias) -> declaration. Core knows no node type by
// name: the program installs the table once at start (SetNodeTypeTable; the CLI and the test
// mains install InstalledNodeTypes() from nodes/node_table.h, which joins the built-in types
// with the provider registry's), and everything here reads it.
#include <map>
#include <string>
#include <vector>

#include "comfyrun/core/node_type.h"

namespace comfyrun {

/// Installs the table every lookup below reads. Call once, before any workflow is loaded;
/// the table must outlive every lookup (a function-local static in practice).
void SetNodeTypeTable(const std::vector<NodeTypeSpec>* table);

/// Every node type of the installed table, in the order `nodes` lists them (empty when none
/// is installed).
const std::vector<NodeTypeSpec>& AllNodeTypes();

/// The type named `name` or one of its aliases; nullptr when unknown.
const NodeTypeSpec* FindNodeType(const std::string& name);

/// Each named pool's depth: `declared` (a workflow's "pools"), else what the node types
/// declare for their default pool (a provider's documented concurrency). A pool in neither
/// is bounded by -j only.
std::map<std::string, int> PoolDepths(const std::map<std::string, int>& declared);

/// Every accepted type name and alias (for "did you mean" hints).
std::vector<std::string> AllNodeTypeNames();

}  // namespace comfyrun
