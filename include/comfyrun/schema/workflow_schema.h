#pragma once
// The JSON Schema of the workflow format (DESIGN.md §2-3), generated from the node registry,
// for editors (completion and squiggles in VS Code) and for other tools that check workflow
// files before handing them to comfyrun.
//
// Dialect: draft-07 ("http://json-schema.org/draft-07/schema#"), the newest draft that VS
// Code's JSON language service and Debian 12's python3-jsonschema (4.10) both support fully.
//
// What it checks, per node: the keys (id, type, inputs, outputs, dependsOn, retry, timeout,
// pool, cache), the type name (or alias), and, for the chosen type (if/then on "type"), each
// declared input with its JSON type, allowed values and range, the required inputs, unknown
// inputs, and the outputs an older-format node may list. At the workflow level: workflowId,
// params, defaults, pools and the shape of nodes. Durations are numbers of seconds or strings
// like "10s" or "1h30m" (a regex equivalent to ParseDuration).
//
// Templates: wherever an input expects a number, boolean, array or object, a string that is
// exactly one template ("<<node.output>>" or "{{node.output}}") is accepted too; where it
// expects one of a set of strings, any string holding a template is accepted (it becomes a
// string once resolved).
//
// What it cannot check (`comfyrun validate` does): that references name existing nodes,
// params and outputs, cycles, duplicate ids, model names, and checks across inputs (argv vs
// command). The schema is at most as strict as `validate`: every workflow `validate` accepts
// is valid under the schema (tests/schema_test.cc and tests/e2e/schema.sh check graphs/).
// Unknown top-level keys are allowed, as `validate` only warns about them.
#include <string>

#include "comfyrun/core/json.h"

namespace comfyrun {

/// The schema's "$id": names this schema (not a URL anything fetches).
constexpr const char* kWorkflowSchemaId = "urn:comfyrun:schema:workflow:1";

/// The JSON Schema of a workflow file, built from AllNodeTypes(). Deterministic: the same
/// binary always prints the same schema (types in registry order, keys in insertion order).
Json WorkflowSchema();

/// The regex (ECMA-262, no flags) that a duration string must match: what ParseDuration
/// accepts, e.g. "500ms", "10s", "1h30m", "1m 30s", "2.5".
const char* DurationPattern();

/// The regex of a string that is exactly one template: "<<gen.videoPath>>",
/// "{{ params.n }}", "<<gen.images[0].path>>".
const char* WholeTemplatePattern();

/// `comfyrun schema [-o FILE]` (registered in cli.cc).
struct SchemaOptions {
  std::string output;  ///< "" or "-" = stdout
};
/// Prints the schema; 0 on success, 2 when FILE cannot be written.
int SchemaCommand(const SchemaOptions& options);

}  // namespace comfyrun
