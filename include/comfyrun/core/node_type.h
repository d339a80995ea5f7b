#pragma once
// What a node type declares about itself: inputs (name, type, required, default, allowed
// values) and outputs. Validation, `plan`, `nodes` and `schema` read only these declarations,
// so a workflow is checked completely before anything runs or is paid for.
#include <string>
#include <vector>

#include "comfyrun/core/json.h"

namespace comfyrun {

enum class ValueType { kAny, kString, kNumber, kInteger, kBoolean, kArray, kObject, kDuration };

/// "string", "number", ...: the names used in messages, `nodes` and the JSON Schema.
const char* ValueTypeName(ValueType type);
/// True when `value` has type `type` (an integer is a number; a duration is a number or a
/// duration string).
bool ValueHasType(const Json& value, ValueType type);

struct InputSpec {
  std::string name;
  ValueType type = ValueType::kAny;
  bool required = false;
  Json default_value;         ///< null when there is none
  std::vector<Json> allowed;  ///< empty: any value of the type
  std::string doc;
  double minimum = -1e300;  ///< for numbers
  double maximum = 1e300;
};

struct OutputSpec {
  std::string name;
  ValueType type = ValueType::kAny;
  std::string doc;
};

/// Where a node type's outputs beyond the declared ones come from.
enum class OpenOutputs {
  kNone,         ///< only the declared outputs exist
  kFromInputs,   ///< `value`: every input is an output
  kFromExtract,  ///< `http`: the keys of the `extract` input are outputs
  kAny,          ///< `shell`: fields of stdout's JSON object, unknown until it runs
};

struct NodeTypeSpec {
  std::string name;
  /// Part of every cache key (docs/cache.md): raise it when a change to the type makes the
  /// outputs of earlier runs unfit to reuse (another file format, a fixed bug in its output).
  int version = 1;
  std::vector<std::string> aliases;  ///< other names accepted in workflows
  std::string summary;               ///< one line for `nodes`
  std::vector<InputSpec> inputs;
  std::vector<OutputSpec> outputs;
  OpenOutputs open_outputs = OpenOutputs::kNone;
  bool open_inputs = false;  ///< `value` takes any inputs
  /// Inputs of which at least one must be given (e.g. characterPrompt or prompt).
  std::vector<std::string> one_of_required;
  double expected_seconds = 1;         ///< weight of the node in the critical path
  double default_attempt_timeout = 0;  ///< seconds; 0 = none unless the workflow sets one
  std::string default_pool;            ///< pool the node runs in unless it names one
  /// How many nodes of default_pool run at once unless the workflow's "pools" says; 0 = no
  /// limit but -j. A provider's documented concurrency, or what a machine can take (media).
  int default_pool_depth = 0;
  /// Starts per second in default_pool unless the workflow's "pools" sets a rate; 0 = none. A
  /// provider's documented request rate (the provider registry sets it).
  double default_pool_rate = 0;
  /// For a paid type: the expected USD of one run with these (unresolved) inputs, and the
  /// model id it resolves to in *model ("" when unknown). Set by the provider registry, which
  /// knows the model tables; null = no estimate (cost 0).
  double (*estimate_cost)(const NodeTypeSpec& spec, const Json& inputs, std::string* model) = nullptr;
  bool paid = false;  ///< calls a paid API (needs a key unless --offline)
  /// Running it again is free and changes nothing outside its folder (value, media_probe):
  /// its completion needs no fsync before dependents start.
  bool side_effect_free = false;

  const InputSpec* FindInput(const std::string& input) const;
  bool HasOutput(const std::string& output) const;
};

}  // namespace comfyrun

namespace comfyrun {
// Short constructors for the declarations in src/nodes/.
inline InputSpec Required(std::string name, ValueType type, std::string doc) {
  InputSpec s;
  s.name = std::move(name);
  s.type = type;
  s.required = true;
  s.doc = std::move(doc);
  return s;
}
inline InputSpec Optional(std::string name, ValueType type, Json default_value, std::string doc,
                          std::vector<Json> allowed = {}) {
  InputSpec s;
  s.name = std::move(name);
  s.type = type;
  s.default_value = std::move(default_value);
  s.doc = std::move(doc);
  s.allowed = std::move(allowed);
  return s;
}
inline InputSpec WithRange(InputSpec s, double minimum, double maximum) {
  s.minimum = minimum;
  s.maximum = maximum;
  return s;
}
inline OutputSpec Out(std::string name, ValueType type, std::string doc) {
  return OutputSpec{std::move(name), type, std::move(doc)};
}
}  // namespace comfyrun
