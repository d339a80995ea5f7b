#include "comfyrun/schema/workflow_schema.h"

#include <fmt/format.h>

#include "comfyrun/core/error_type.h"
#include "comfyrun/core/node_registry.h"

// Implementation details: every schema fragment is built here from the registry's
// declarations (node_type.h), so a new input or node type shows up in the schema without an
// edit. Shared pieces live under "definitions" and are referenced with "$ref", which keeps
// the printed schema readable and lets editors show one description per concept.
// "enumDescriptions" and "defaultSnippets" are VS Code extensions; validators ignore them.

namespace comfyrun {
namespace {

using T = ValueType;

constexpr const char* kDurationPattern =
    R"(^\s*(([0-9]+\.?[0-9]*|\.[0-9]+)|(([0-9]+\.?[0-9]*|\.[0-9]+) *(ms|s|sec|m|min|h|d) *)+)\s*$)";
constexpr const char* kWholeTemplatePattern =
    R"(^(<<\s*[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+|\[[0-9]{1,9}\])*\s*>>|\{\{\s*[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+|\[[0-9]{1,9}\])*\s*\}\})$)";
constexpr const char* kHasTemplatePattern = R"((<<.*>>|\{\{.*\}\}))";

Json Ref(const std::string& definition) { return {{"$ref", "#/definitions/" + definition}}; }

/// The schema of a literal value of `type` (no template).
Json LiteralSchema(ValueType type) {
  switch (type) {
    case T::kAny:
      return Json::object();
    case T::kString:
      return {{"type", "string"}};
    case T::kNumber:
      return {{"type", "number"}};
    case T::kInteger:
      return {{"type", "integer"}};
    case T::kBoolean:
      return {{"type", "boolean"}};
    case T::kArray:
      return {{"type", "array"}};
    case T::kObject:
      return {{"type", "object"}};
    // allOf rather than a bare $ref: draft-07 ignores keywords beside "$ref", and the caller
    // may add a range.
    case T::kDuration:
      return {{"allOf", Json::array({Ref("duration")})}};
  }
  return Json::object();
}

/// "seconds of video (default 8; 1 to 60)": the input's doc with what an editor should show.
std::string InputDescription(const InputSpec& input) {
  std::string text = input.doc;
  std::vector<std::string> notes;
  notes.push_back(ValueTypeName(input.type));
  if (input.required)
    notes.push_back("required");
  else if (!input.default_value.is_null())
    notes.push_back("default " + input.default_value.dump());
  if (input.minimum > -1e299 && input.maximum < 1e299)
    notes.push_back(fmt::format("{} to {}", input.minimum, input.maximum));
  else if (input.minimum > -1e299)
    notes.push_back(fmt::format("at least {}", input.minimum));
  else if (input.maximum < 1e299)
    notes.push_back(fmt::format("at most {}", input.maximum));
  if (input.type != T::kString && input.type != T::kAny) notes.push_back("or a <<template>>");
  return fmt::format("{} ({})", text, fmt::join(notes, "; "));
}

/// One input's schema: its literal type with allowed values and range, or a template where
/// the value is only known once the run has resolved it (validate.cc CheckInput).
Json InputSchema(const InputSpec& input) {
  Json literal = LiteralSchema(input.type);
  if (!input.allowed.empty()) literal["enum"] = input.allowed;
  // +-1e300 means "no bound" in the registry; bounds near it are not worth printing.
  if (input.minimum > -1e299) literal["minimum"] = input.minimum;
  if (input.maximum < 1e299) literal["maximum"] = input.maximum;

  Json schema;
  if (input.type == T::kAny) {
    schema = literal;
  } else if (input.type == T::kString && input.allowed.empty()) {
    schema = literal;  // a string with templates is still a string
  } else if (input.type == T::kString || input.type == T::kDuration) {
    // Text substitution makes a string, which is fine for these types; for an enum the
    // resolved text is checked when the node runs.
    schema = {{"anyOf", Json::array({literal, Ref("templatedString")})}};
  } else {
    schema = {{"anyOf", Json::array({literal, Ref("template")})}};
  }
  schema["description"] = InputDescription(input);
  if (!input.default_value.is_null()) schema["default"] = input.default_value;
  return schema;
}

/// The "inputs" object of one node type.
Json InputsSchema(const NodeTypeSpec& type) {
  Json s = {{"type", "object"}, {"title", fmt::format("inputs of {}", type.name)}};
  if (type.open_inputs) {
    s["description"] = "any names and values; each input becomes an output of the same name";
    s["additionalProperties"] = true;
    return s;
  }
  s["description"] = fmt::format("inputs of a {} node: {}", type.name, type.summary);
  Json properties = Json::object();
  Json required = Json::array();
  for (const auto& input : type.inputs) {
    properties[input.name] = InputSchema(input);
    if (input.required) required.push_back(input.name);
  }
  s["properties"] = std::move(properties);
  if (!required.empty()) s["required"] = std::move(required);
  if (!type.one_of_required.empty()) {
    Json any = Json::array();
    for (const auto& name : type.one_of_required) any.push_back({{"required", Json::array({name})}});
    s["anyOf"] = std::move(any);
  }
  s["additionalProperties"] = false;
  return s;
}

/// `if type is X (or an alias) then its inputs and outputs follow X's declaration`.
Json TypeConditional(const NodeTypeSpec& type) {
  Json names = Json::array({type.name});
  for (const auto& alias : type.aliases) names.push_back(alias);
  Json then = Json::object();
  then["properties"] = {{"inputs", Ref("inputs." + type.name)}};
  if (type.open_outputs == OpenOutputs::kNone) {
    Json outputs = Json::array();
    for (const auto& o : type.outputs) outputs.push_back(o.name);
    then["properties"]["outputs"] = {{"items", {{"enum", outputs}}}};
  }
  bool needs_inputs = !type.one_of_required.empty();
  for (const auto& input : type.inputs) needs_inputs = needs_inputs || input.required;
  if (needs_inputs) then["required"] = Json::array({"inputs"});
  return {{"if", {{"properties", {{"type", {{"enum", names}}}}}, {"required", Json::array({"type"})}}},
          {"then", std::move(then)}};
}

/// A VS Code snippet per node type: a node with the type's required inputs filled in.
Json NodeSnippets() {
  Json snippets = Json::array();
  for (const auto& type : AllNodeTypes()) {
    Json inputs = Json::object();
    for (const auto& input : type.inputs)
      if (input.required) inputs[input.name] = input.type == T::kArray ? Json::array() : Json("");
    if (!type.one_of_required.empty()) inputs[type.one_of_required.front()] = "";
    snippets.push_back({{"label", type.name},
                        {"description", type.summary},
                        {"body", {{"id", "${1:" + type.name + "_1}"}, {"type", type.name}, {"inputs", inputs}}}});
  }
  return snippets;
}

Json ErrorTypeNames() {
  Json names = Json::array();
  for (int i = static_cast<int>(ErrorType::kInvalidInput); i <= static_cast<int>(ErrorType::kOutputExpired); ++i)
    names.push_back(std::string(ErrorTypeName(static_cast<ErrorType>(i))));
  return names;
}

Json Definitions() {
  Json d = Json::object();
  d["template"] = {{"type", "string"},
                   {"pattern", kWholeTemplatePattern},
                   {"title", "template"},
                   {"description",
                    "a reference to another node's output, a param or the run, taking that value with its JSON type: "
                    "<<node.output>>, <<node.output[0].field>>, <<params.NAME>>, <<run.id>>, <<run.dir>> "
                    "(or {{...}}, the older system's spelling)"}};
  d["templatedString"] = {{"type", "string"},
                          {"pattern", kHasTemplatePattern},
                          {"description", "a string holding a <<template>>; checked once the run resolves it"}};
  d["duration"] = {
      {"title", "duration"},
      {"description",
       "seconds as a number, or a string with units: \"500ms\", \"10s\", \"15m\", \"2h\", \"1h30m\", \"1d\""},
      {"anyOf",
       Json::array({{{"type", "number"}, {"minimum", 0}}, {{"type", "string"}, {"pattern", kDurationPattern}}})}};
  d["retry"] = {
      {"title", "retry policy"},
      {"description",
       "Temporal's retry policy; a number is shorthand for maximumAttempts. Defaults: 3 attempts, 1s initial "
       "interval, coefficient 2, maximum interval 100 x initial"},
      {"anyOf",
       Json::array(
           {{{"type", "integer"}, {"minimum", 0}, {"maximum", 1000000}},
            {{"type", "object"},
             {"properties",
              {{"maximumAttempts",
                {{"type", "integer"},
                 {"minimum", 0},
                 {"maximum", 1000000},
                 {"default", 3},
                 {"description", "attempts in all; 1 = no retry, 0 = unlimited (bounded by the total timeout)"}}},
               {"initialInterval",
                {{"$ref", "#/definitions/duration"}, {"description", "wait before the first retry (default 1s)"}}},
               {"backoffCoefficient",
                {{"type", "number"},
                 {"minimum", 1},
                 {"maximum", 100},
                 {"default", 2},
                 {"description", "each wait is this many times the previous one"}}},
               {"maximumInterval",
                {{"$ref", "#/definitions/duration"},
                 {"description", "longest wait between attempts (default 100 x initialInterval)"}}},
               {"nonRetryableErrorTypes",
                {{"type", "array"},
                 {"items", {{"enum", ErrorTypeNames()}}},
                 {"description",
                  "error types that end the node at once (InvalidInput, Auth, ContentBlocked, NoImage and Cancelled "
                  "never retry anyway)"}}}}},
             {"additionalProperties", false}}})}};
  d["timeout"] = {
      {"title", "timeout"},
      {"description",
       "a duration limits one attempt; an object can also limit all attempts together (ComfyUI nodes default "
       "to 10m per attempt, generation nodes to 30m)"},
      {"anyOf",
       Json::array({Ref("duration"),
                    {{"type", "object"},
                     {"properties",
                      {{"attempt", {{"$ref", "#/definitions/duration"}, {"description", "time limit of one attempt"}}},
                       {"total", {{"$ref", "#/definitions/duration"}, {"description", "time limit of all attempts"}}}}},
                     {"additionalProperties", false}}})}};
  d["nodeId"] = {{"type", "string"},
                 {"pattern", "^[A-Za-z0-9_-]{1,128}$"},
                 {"not", {{"enum", Json::array({"params", "run"})}}},
                 {"description", "letters, digits, '_' and '-' (at most 128); 'params' and 'run' are reserved"}};

  Json type_names = Json::array(), type_docs = Json::array();
  for (const auto& type : AllNodeTypes()) {
    type_names.push_back(type.name);
    type_docs.push_back(type.summary);
    for (const auto& alias : type.aliases) {
      type_names.push_back(alias);
      type_docs.push_back(fmt::format("alias of {}: {}", type.name, type.summary));
    }
  }
  Json conditionals = Json::array();
  for (const auto& type : AllNodeTypes()) {
    d["inputs." + type.name] = InputsSchema(type);
    conditionals.push_back(TypeConditional(type));
  }

  Json node_properties = {
      {"id",
       {{"$ref", "#/definitions/nodeId"}, {"description", "unique id; other nodes refer to it as <<id.output>>"}}},
      {"type",
       {{"type", "string"},
        {"enum", type_names},
        {"enumDescriptions", type_docs},
        {"description", "the node type (`comfyrun nodes` lists them)"}}},
      {"inputs", {{"type", "object"}, {"description", "the node type's inputs; strings may hold <<templates>>"}}},
      {"outputs",
       {{"type", "array"},
        {"items", {{"type", "string"}}},
        {"description", "output names (the older format listed them; comfyrun checks they exist)"}}},
      {"dependsOn",
       {{"description", "nodes that must complete first, beyond those the inputs refer to"},
        {"anyOf", Json::array({Ref("nodeId"), {{"type", "array"}, {"items", Ref("nodeId")}}})}}},
      {"retry", Ref("retry")},
      {"timeout", Ref("timeout")},
      {"pool",
       {{"type", "string"},
        {"minLength", 1},
        {"description", "the concurrency pool the node runs in (default: its type's, e.g. veo, gemini, media)"}}},
      {"cache",
       {{"type", "boolean"}, {"description", "reuse an earlier identical result (default: workflow defaults)"}}},
      {"description", {{"type", "string"}, {"description", "free text"}}},
      {"name", {{"type", "string"}, {"description", "free text (older format)"}}},
      {"metadata", {{"type", "object"}, {"description", "free-form data; comfyrun ignores it"}}}};
  d["node"] = {{"type", "object"},
               {"title", "node"},
               {"description", "one step of the workflow"},
               {"required", Json::array({"id", "type"})},
               {"properties", std::move(node_properties)},
               {"additionalProperties", false},
               {"allOf", std::move(conditionals)},
               {"defaultSnippets", NodeSnippets()}};
  return d;
}

}  // namespace

const char* DurationPattern() { return kDurationPattern; }
const char* WholeTemplatePattern() { return kWholeTemplatePattern; }

Json WorkflowSchema() {
  Json s = Json::object();
  s["$schema"] = "http://json-schema.org/draft-07/schema#";
  s["$id"] = kWorkflowSchemaId;
  s["title"] = "comfyrun workflow";
  s["description"] = fmt::format(
      "A comfyrun workflow: nodes whose inputs refer to other nodes' outputs with <<node.output>>. "
      "Generated by comfyrun {} from its node registry; `comfyrun validate` also checks references, cycles "
      "and model names.",
      COMFYRUN_VERSION);
  s["type"] = "object";
  s["required"] = Json::array({"nodes"});
  s["properties"] = {
      {"workflowId",
       {{"type", "string"},
        {"pattern", "^[A-Za-z0-9._-]+$"},
        {"description", "names the run (runId = workflowId + time); default: the file name"}}},
      {"description", {{"type", "string"}, {"description", "what the workflow makes"}}},
      {"metadata",
       {{"type", "object"},
        {"description", "free-form data kept with the workflow (author, version, tags)"},
        {"properties",
         {{"author", {{"type", "string"}}},
          {"version", {{"type", "string"}}},
          {"tags", {{"type", "array"}, {"items", {{"type", "string"}}}}}}}}},
      {"name", {{"description", "older format: a display name (ignored)"}}},
      {"version", {{"description", "older format: a version (ignored)"}}},
      {"params",
       {{"type", "object"},
        {"description",
         "parameters: NAME -> default value, used as <<params.NAME>> and set with --param NAME=VALUE; "
         "a null default must be given on the command line"},
        {"additionalProperties", true}}},
      {"defaults",
       {{"type", "object"},
        {"description", "settings for every node that does not set its own"},
        {"properties",
         {{"retry", Ref("retry")},
          {"timeout", Ref("timeout")},
          {"cache", {{"type", "boolean"}, {"description", "reuse earlier identical results"}}}}},
        {"additionalProperties", false}}},
      {"pools",
       {{"type", "object"},
        {"description",
         "pool name -> how many of its nodes run at once, or {concurrency (or slots), rate, executor, partition, "
         "sbatch} (defaults: gemini, veo, sora 8; media 2; fal, replicate 10, replicate 600/min)"},
        {"additionalProperties",
         {{"oneOf",
           Json::array({{{"type", "integer"}, {"minimum", 1}, {"maximum", 100000}},
                        {{"type", "object"},
                         {"description", "a pool's limits, and where it runs (docs/slurm.md)"},
                         {"properties",
                          {{"concurrency", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100000}}},
                           {"slots", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100000}}},
                           {"rate",
                            {{"type", "string"},
                             {"pattern", "^[0-9.]+/(s|sec|second|m|min|minute|h|hour)$"},
                             {"description", "most node starts per unit, e.g. \"60/min\""}}},
                           {"executor", {{"enum", Json::array({"local", "slurm"})}}},
                           {"partition", {{"type", "string"}, {"minLength", 1}}},
                           {"sbatch", {{"type", "array"}, {"items", {{"type", "string"}, {"pattern", "^-"}}}}}}},
                         {"additionalProperties", false}}})}}}}},
      {"nodes",
       {{"type", "array"}, {"minItems", 1}, {"items", Ref("node")}, {"description", "the steps of the workflow"}}}};
  // Unknown top-level keys are only a warning for `comfyrun validate`, so they are allowed.
  s["additionalProperties"] = true;
  s["definitions"] = Definitions();
  return s;
}

}  // namespace comfyrun
