#include "comfyrun/core/node_type.h"

#include <cmath>

#include "comfyrun/core/util.h"

namespace comfyrun {

const char* ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kAny:
      return "any";
    case ValueType::kString:
      return "string";
    case ValueType::kNumber:
      return "number";
    case ValueType::kInteger:
      return "integer";
    case ValueType::kBoolean:
      return "boolean";
    case ValueType::kArray:
      return "array";
    case ValueType::kObject:
      return "object";
    case ValueType::kDuration:
      return "duration";
  }
  return "any";
}

bool ValueHasType(const Json& value, ValueType type) {
  switch (type) {
    case ValueType::kAny:
      return true;
    case ValueType::kString:
      return value.is_string();
    case ValueType::kNumber:
      return value.is_number();
    case ValueType::kInteger:
      // 4.0 counts as an integer; casting a float outside long long's range is undefined, so
      // compare with trunc instead of a cast.
      return value.is_number_integer() ||
             (value.is_number_float() && std::trunc(value.get<double>()) == value.get<double>() &&
              std::fabs(value.get<double>()) < 9.0e15);
    case ValueType::kBoolean:
      return value.is_boolean();
    case ValueType::kArray:
      return value.is_array();
    case ValueType::kObject:
      return value.is_object();
    case ValueType::kDuration: {
      if (value.is_number()) return value.get<double>() >= 0;
      std::string err;
      return value.is_string() && ParseDuration(value.get<std::string>(), &err).has_value();
    }
  }
  return false;
}

const InputSpec* NodeTypeSpec::FindInput(const std::string& input) const {
  for (const auto& spec : inputs)
    if (spec.name == input) return &spec;
  return nullptr;
}

bool NodeTypeSpec::HasOutput(const std::string& output) const {
  for (const auto& spec : outputs)
    if (spec.name == output) return true;
  return false;
}

}  // namespace comfyrun
