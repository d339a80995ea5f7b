#pragma once
// Fast JSON reading and writing for big documents: simdjson parses, and the result becomes the same
// nlohmann value (comfyrun/json.h) that Json::parse would give. simdjson's parse is several
// times faster than nlohmann's, and the conversion sizes every object and array once, where
// nlohmann's parser grows them by doubling. Used where size matters: workflow files (100,000
// nodes) and journals (100,000 records).
#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "comfyrun/core/json.h"

namespace comfyrun {

/// nlohmann's value for a simdjson one, with the types nlohmann's own parser gives
/// (non-negative integers are unsigned) and, for a repeated key, the last value.
Json ToJson(simdjson::dom::element e);

/// Parses `text` into *out. False when simdjson refuses the text (invalid JSON, and also a
/// few inputs nlohmann accepts, such as integers beyond 64 bits): the caller then parses with
/// Json::parse, which either accepts it the same way or says what is wrong and where.
/// *duplicate_keys (when given) tells whether some object had a key twice (the last value
/// is kept); FindDuplicateKeys then says where. The check costs a size comparison per object.
bool ParseJsonFast(std::string_view text, Json* out, bool* duplicate_keys = nullptr);

/// A key given twice in one object: the object's JSON path ("$.nodes[0]") and the key.
struct DuplicateKey {
  std::string object_path;
  std::string key;
};
/// Every repeated key of the JSON text (at most 100), in document order; none when the text
/// is not JSON. A second pass over the text: call it only when ParseJsonFast found one.
void FindDuplicateKeys(std::string_view text, std::vector<DuplicateKey>* out);

/// Appends `value` as compact JSON, the same text as value.dump(-1, ' ', false,
/// Json::error_handler_t::replace), without dump()'s serializer set-up per call: metrics and
/// journal records write 100,000 small values. Strings that are not plain printable ASCII,
/// and floats, are still written by nlohmann, so escapes and number forms cannot differ.
void AppendJson(std::string* out, const Json& value);
/// Appends `s` as a JSON string (invalid UTF-8 replaced by U+FFFD, as above). True when `s`
/// needed no escape: its characters then stand between the quotes as they are.
bool AppendJsonString(std::string* out, std::string_view s);
/// Appends a double in its shortest round-trip form, with ".0" on whole numbers as nlohmann
/// writes them, so it reads back as a float; null when not finite.
void AppendJsonDouble(std::string* out, double v);

/// Writes one JSON object field by field, straight into text: for records written 100,000
/// times a run, where building a nlohmann object first cost several times more than the
/// write itself. Keys are plain names written as they are. It also remembers each field's
/// value, so that a reader of the record (the journal's mirror) can take them without
/// parsing the text back.
class JsonObjectText {
 public:
  struct Field {
    enum class Kind : uint8_t { kString, kInt, kDouble, kBool, kJson };
    std::string_view key;  ///< a string literal (keys must outlive the object)
    Kind kind;
    size_t offset = 0, size = 0;  ///< kString: the value in text_ (plain) or in escaped_
    bool escaped = false;         ///< kString: the value needed escapes, so it is in escaped_
    int64_t i = 0;
    double d = 0;
    bool b = false;
    const Json* json = nullptr;  ///< kJson
  };

  JsonObjectText() {
    text_.reserve(256);
    text_ += '{';
    fields_.reserve(16);  // a journal record has at most a dozen: no growth per field
  }
  JsonObjectText& Str(std::string_view key, std::string_view v);
  JsonObjectText& Int(std::string_view key, int64_t v);
  JsonObjectText& Double(std::string_view key, double v);
  JsonObjectText& Bool(std::string_view key, bool v);
  /// `v` is viewed, not copied: it must outlive the object.
  JsonObjectText& Value(std::string_view key, const Json& v);

  /// The object's text, closed (no field can be added after).
  const std::string& Text();
  /// The last field named `key` (as a JSON reader keeps the last of repeated keys), or null.
  const Field* Find(std::string_view key) const;
  std::string_view StringOf(const Field& f) const {
    return std::string_view(f.escaped ? escaped_ : text_).substr(f.offset, f.size);
  }
  const Json& JsonOf(const Field& f) const { return *f.json; }

 private:
  void Key(std::string_view key);
  std::string text_;
  bool closed_ = false;
  std::vector<Field> fields_;
  std::string escaped_;  ///< string values that needed escapes (rare: messages), unescaped
};

}  // namespace comfyrun
