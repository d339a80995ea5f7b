#pragma once
// The JSON value type used across comfyrun. ordered_json keeps object keys in the order the
// user wrote them, so workflows, journals and metrics read back the way they were written.
#include <nlohmann/json.hpp>

namespace comfyrun {
using Json = nlohmann::ordered_json;
}  // namespace comfyrun
