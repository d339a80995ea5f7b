#pragma once
// What the workflow loader's parts share (src/core only): the diagnostics context, the readers
// of retry policies and time limits (used for the workflow's defaults and for each node), and
// ReadAllNodes, which reads the nodes (workflow_nodes.cc) for BuildWorkflow (workflow.cc).
#include <optional>
#include <string>
#include <vector>

#include "comfyrun/core/diagnostic.h"
#include "comfyrun/core/workflow.h"

namespace comfyrun::workflow_loading {

/// Where a loader's messages go, all of them: every check appends and carries on.
struct Context {
  const std::string& file;
  std::vector<Diagnostic>* diags;
  void Error(const std::string& node, const std::string& path, std::string message, std::string hint = "") {
    AddError(diags, file, node, path, std::move(message), std::move(hint));
  }
  void Warning(const std::string& node, const std::string& path, std::string message, std::string hint = "") {
    AddError(diags, file, node, path, std::move(message), std::move(hint)).severity = Severity::kWarning;
  }
};

/// Reports keys of `object` not in `known`, with the closest known one; errors or warnings.
void CheckKnownKeys(const Json& object, const std::vector<std::string>& known, const std::string& node,
                    const std::string& path, Context& ctx, bool as_error);
/// A retry policy ("retry": 5 or an object) applied onto *retry.
void ReadRetry(const Json& value, const std::string& node, const std::string& path, RetryPolicy* retry, Context& ctx);
/// Time limits ("timeout": "10s" or {"attempt", "total"}) applied onto *timeout.
void ReadTimeout(const Json& value, const std::string& node, const std::string& path, NodeTimeouts* timeout,
                 Context& ctx);

/// What the workflow's "defaults" give every node, read once (errors in it were reported once
/// by BuildWorkflow): a node starts from these and its own settings go on top.
struct NodeDefaults {
  RetryPolicy retry;             ///< the default policy with $.defaults.retry applied
  NodeTimeouts timeout{-1, -1};  ///< -1: not given in $.defaults.timeout
  std::optional<bool> cache;
};

/// Reads the nodes into workflow->nodes (two threads from 4,096 nodes on), with their
/// messages in document order, then the index of ids and the dependency edges.
void ReadAllNodes(const NodeList& nodes, const NodeDefaults& defaults, const std::string& file, Workflow* wf,
                  Context& ctx);

}  // namespace comfyrun::workflow_loading
