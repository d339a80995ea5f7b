#pragma once
// Fast JSON reading and writing for big documents: simdjson parses, and the result becomes the same
// nlohmann value (comfyrun/json.h) that Json::parse would give. simdjson's parse is several
// times faster than nlohmann's, and the conversion sizes every object and array once, where
// nlohmann's parser grows them by doubling. Used where size matters: workflow files (100,000
// nodes) and journals (100,000 records).
#include <string>
#include <string_view>

#include <simdjson.h>

#include "comfyrun/json.h"

namespace comfyrun {

/// nlohmann's value for a simdjson one, with the types nlohmann's own parser gives
/// (non-negative integers are unsigned) and, for a repeated key, the last value.
Json ToJson(simdjson::dom::element e);

/// Parses `text` into *out. False when simdjson refuses the text (invalid JSON, and also a
/// few inputs nlohmann accepts, such as integers beyond 64 bits): the caller then parses with
/// Json::parse, which either accepts it the same way or says what is wrong and where.
bool ParseJsonFast(std::string_view text, Json* out);

/// Appends `value` as compact JSON, the same text as value.dump(-1, ' ', false,
/// Json::error_handler_t::replace), without dump()'s serializer set-up per call: metrics and
/// journal records write 100,000 small values. Strings that are not plain printable ASCII,
/// and floats, are still written by nlohmann, so escapes and number forms cannot differ.
void AppendJson(std::string* out, const Json& value);
/// Appends `s` as a JSON string (invalid UTF-8 replaced by U+FFFD, as above).
void AppendJsonString(std::string* out, std::string_view s);
/// Appends a double in its shortest round-trip form, with ".0" on whole numbers as nlohmann
/// writes them, so it reads back as a float; null when not finite.
void AppendJsonDouble(std::string* out, double v);

/// Writes one JSON object field by field, straight into text: for records written 100,000
/// times a run, where building a nlohmann object first cost several times more than the
/// write itself. Keys are plain names written as they are.
class JsonObjectText {
 public:
  JsonObjectText() { text_.reserve(256); text_ += '{'; }
  JsonObjectText& Str(std::string_view key, std::string_view v) { Key(key); AppendJsonString(&text_, v); return *this; }
  JsonObjectText& Int(std::string_view key, int64_t v);
  JsonObjectText& Double(std::string_view key, double v) { Key(key); AppendJsonDouble(&text_, v); return *this; }
  JsonObjectText& Bool(std::string_view key, bool v) { Key(key); text_ += v ? "true" : "false"; return *this; }
  JsonObjectText& Value(std::string_view key, const Json& v) { Key(key); AppendJson(&text_, v); return *this; }
  /// The object's text, closed.
  std::string Finish() && { text_ += '}'; return std::move(text_); }

 private:
  void Key(std::string_view key) {
    if (text_.size() > 1) text_ += ',';
    text_ += '"';
    text_ += key;
    text_ += "\":";
  }
  std::string text_;
};

}  // namespace comfyrun
