#include "comfyrun/json_fast.h"

#include <string>

namespace comfyrun {

Json ToJson(simdjson::dom::element e) {
  using T = simdjson::dom::element_type;
  switch (e.type()) {
    case T::OBJECT: {
      simdjson::dom::object obj = e.get_object().value_unsafe();
      Json out(Json::value_t::object);
      auto& map = out.get_ref<Json::object_t&>();
      map.reserve(obj.size());
      for (simdjson::dom::key_value_pair field : obj) map[std::string(field.key)] = ToJson(field.value);
      return out;
    }
    case T::ARRAY: {
      simdjson::dom::array arr = e.get_array().value_unsafe();
      Json out(Json::value_t::array);
      auto& vec = out.get_ref<Json::array_t&>();
      vec.reserve(arr.size());
      for (simdjson::dom::element v : arr) vec.push_back(ToJson(v));
      return out;
    }
    case T::INT64: {
      int64_t v = e.get_int64().value_unsafe();
      return v >= 0 ? Json(static_cast<uint64_t>(v)) : Json(v);
    }
    case T::UINT64: return Json(e.get_uint64().value_unsafe());
    case T::DOUBLE: return Json(e.get_double().value_unsafe());
    case T::STRING: return Json(std::string(e.get_string().value_unsafe()));
    case T::BOOL: return Json(e.get_bool().value_unsafe());
    case T::NULL_VALUE: return Json(nullptr);
  }
  return Json(nullptr);
}

bool ParseJsonFast(std::string_view text, Json* out) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  // parse() copies the text into a padded buffer of its own: `text` need not be padded.
  if (parser.parse(text.data(), text.size(), true).get(doc) != simdjson::SUCCESS) return false;
  *out = ToJson(doc);
  return true;
}

}  // namespace comfyrun
