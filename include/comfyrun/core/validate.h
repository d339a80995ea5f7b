#pragma once
// Static checks of a built Workflow against the node registry: inputs (presence, type,
// allowed values, ranges), declared outputs, references (unknown node, undeclared output,
// undeclared param), dependsOn targets, and cycles. Every problem is reported; nothing runs.
#include <vector>

#include "comfyrun/core/diagnostic.h"
#include "comfyrun/core/workflow.h"

namespace comfyrun {

/// Returns true when no error was added. Also fills WorkflowNode::deps (already done by
/// BuildWorkflow) and refuses cycles, so a valid workflow is a DAG.
bool ValidateWorkflow(Workflow* workflow, std::vector<Diagnostic>* diags);

/// The type a reference will have when resolved, if the registry declares it (kAny if not).
ValueType ReferenceType(const Workflow& workflow, const Reference& ref);

}  // namespace comfyrun
