#include "comfyrun/core/json_fast.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <iterator>
#include <string>
#include <vector>

#include "comfyrun/core/util.h"

namespace comfyrun {

namespace {
/// ToJson's body; *duplicates is set when an object had a key twice, found by comparing
/// the object's size with its number of fields (no set of keys kept: 100,000 nodes).
Json Convert(simdjson::dom::element e, bool* duplicates) {
  using T = simdjson::dom::element_type;
  switch (e.type()) {
    case T::OBJECT: {
      simdjson::dom::object obj = e.get_object().value_unsafe();
      Json out(Json::value_t::object);
      auto& map = out.get_ref<Json::object_t&>();
      size_t fields = obj.size();
      map.reserve(fields);
      for (simdjson::dom::key_value_pair field : obj) map[std::string(field.key)] = Convert(field.value, duplicates);
      if (map.size() != fields) *duplicates = true;
      return out;
    }
    case T::ARRAY: {
      simdjson::dom::array arr = e.get_array().value_unsafe();
      Json out(Json::value_t::array);
      auto& vec = out.get_ref<Json::array_t&>();
      vec.reserve(arr.size());
      for (simdjson::dom::element v : arr) vec.push_back(Convert(v, duplicates));
      return out;
    }
    case T::INT64: {
      int64_t v = e.get_int64().value_unsafe();
      return v >= 0 ? Json(static_cast<uint64_t>(v)) : Json(v);
    }
    case T::UINT64:
      return Json(e.get_uint64().value_unsafe());
    case T::DOUBLE:
      return Json(e.get_double().value_unsafe());
    case T::STRING:
      return Json(std::string(e.get_string().value_unsafe()));
    case T::BOOL:
      return Json(e.get_bool().value_unsafe());
    case T::NULL_VALUE:
      return Json(nullptr);
  }
  return Json(nullptr);
}

/// nlohmann SAX events that note each key seen twice in one object, with the object's path.
/// Only run when a duplicate is known to exist (or simdjson could not parse the text).
class DuplicateFinder {
 public:
  explicit DuplicateFinder(std::vector<DuplicateKey>* out) : out_(out) {}
  bool null() { return Value(); }
  bool boolean(bool) { return Value(); }
  bool number_integer(Json::number_integer_t) { return Value(); }
  bool number_unsigned(Json::number_unsigned_t) { return Value(); }
  bool number_float(Json::number_float_t, const std::string&) { return Value(); }
  bool string(std::string&) { return Value(); }
  bool binary(Json::binary_t&) { return Value(); }
  bool start_object(size_t) { return Open(true); }
  bool start_array(size_t) { return Open(false); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(std::string& k) {
    Frame& f = frames_.back();
    f.member = k;
    if (std::find(f.keys.begin(), f.keys.end(), k) != f.keys.end()) {
      if (out_->size() < kMaxReported) out_->push_back({Path(frames_.size()), k});
    } else {
      f.keys.push_back(k);
    }
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  static constexpr size_t kMaxReported = 100;
  struct Frame {
    bool object = false;
    std::vector<std::string> keys;  // an object's keys so far (objects are small)
    std::string member;             // the current member's key
    size_t index = 0;               // an array's next element
  };
  /// The path of frames_[0, depth): "$", "$.nodes[3]".
  std::string Path(size_t depth) const {
    std::string path = "$";
    for (size_t i = 0; i + 1 < depth; ++i) {
      const Frame& f = frames_[i];
      if (f.object)
        AppendJsonPathMember(&path, f.member);
      else
        path += fmt::format("[{}]", f.index - 1);
    }
    return path;
  }
  bool Value() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
    return true;
  }
  bool Open(bool object) {
    Value();
    frames_.push_back(Frame{object, {}, {}, 0});
    return true;
  }
  bool Close() {
    frames_.pop_back();
    return true;
  }
  std::vector<DuplicateKey>* out_;
  std::vector<Frame> frames_;
};
}  // namespace

Json ToJson(simdjson::dom::element e) {
  bool duplicates = false;
  return Convert(e, &duplicates);
}

bool ParseJsonFast(std::string_view text, Json* out, bool* duplicate_keys) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  // parse() copies the text into a padded buffer of its own: `text` need not be padded.
  if (parser.parse(text.data(), text.size(), true).get(doc) != simdjson::SUCCESS) return false;
  bool duplicates = false;
  *out = Convert(doc, &duplicates);
  if (duplicate_keys) *duplicate_keys = duplicates;
  return true;
}

void FindDuplicateKeys(std::string_view text, std::vector<DuplicateKey>* out) {
  out->clear();
  DuplicateFinder finder(out);
  try {
    Json::sax_parse(text.begin(), text.end(), &finder);
  } catch (const std::exception&) {
    // Not JSON: the caller's parse says what is wrong.
  }
}

bool AppendJsonString(std::string* out, std::string_view s) {
  bool plain = true;
  for (unsigned char c : s)
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  if (plain) {
    out->push_back('"');
    out->append(s);
    out->push_back('"');
    return true;
  }
  *out += Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
  return false;
}

namespace {
template <class Int>
void AppendInteger(std::string* out, Int v) {
  char buf[24];
  out->append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}
}  // namespace

void AppendJsonDouble(std::string* out, double v) {
  if (!std::isfinite(v)) {
    *out += "null";
    return;
  }
  size_t before = out->size();
  fmt::format_to(std::back_inserter(*out), "{}", v);
  if (out->find_first_of(".eE", before) == std::string::npos) *out += ".0";
}

void JsonObjectText::Key(std::string_view key) {
  if (text_.size() > 1) text_ += ',';
  text_ += '"';
  text_ += key;
  text_ += "\":";
}

JsonObjectText& JsonObjectText::Str(std::string_view key, std::string_view v) {
  Key(key);
  Field f{key, Field::Kind::kString};
  f.offset = text_.size() + 1;  // after the opening quote
  f.size = v.size();
  if (!AppendJsonString(&text_, v)) {
    f.escaped = true;
    f.offset = escaped_.size();
    escaped_ += v;
  }
  fields_.push_back(f);
  return *this;
}

JsonObjectText& JsonObjectText::Int(std::string_view key, int64_t v) {
  Key(key);
  AppendInteger(&text_, v);
  fields_.push_back({.key = key, .kind = Field::Kind::kInt, .i = v});
  return *this;
}

JsonObjectText& JsonObjectText::Double(std::string_view key, double v) {
  Key(key);
  AppendJsonDouble(&text_, v);
  fields_.push_back({.key = key, .kind = Field::Kind::kDouble, .d = v});
  return *this;
}

JsonObjectText& JsonObjectText::Bool(std::string_view key, bool v) {
  Key(key);
  text_ += v ? "true" : "false";
  fields_.push_back({.key = key, .kind = Field::Kind::kBool, .b = v});
  return *this;
}

JsonObjectText& JsonObjectText::Value(std::string_view key, const Json& v) {
  Key(key);
  AppendJson(&text_, v);
  fields_.push_back({.key = key, .kind = Field::Kind::kJson, .json = &v});
  return *this;
}

const std::string& JsonObjectText::Text() {
  if (!closed_) text_ += '}';
  closed_ = true;
  return text_;
}

const JsonObjectText::Field* JsonObjectText::Find(std::string_view key) const {
  for (auto it = fields_.rbegin(); it != fields_.rend(); ++it)
    if (it->key == key) return &*it;
  return nullptr;
}

void AppendJson(std::string* out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(out, it.key());
        out->push_back(':');
        AppendJson(out, it.value());
      }
      out->push_back('}');
      return;
    }
    case Json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& v : value) {
        if (!first) out->push_back(',');
        first = false;
        AppendJson(out, v);
      }
      out->push_back(']');
      return;
    }
    case Json::value_t::string:
      AppendJsonString(out, value.get_ref<const std::string&>());
      return;
    case Json::value_t::number_integer:
      AppendInteger(out, value.get<int64_t>());
      return;
    case Json::value_t::number_unsigned:
      AppendInteger(out, value.get<uint64_t>());
      return;
    case Json::value_t::boolean:
      *out += value.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::null:
      *out += "null";
      return;
    default:
      *out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
      return;  // floats, binary
  }
}

}  // namespace comfyrun
