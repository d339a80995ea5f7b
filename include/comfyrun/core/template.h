#pragma once
// Templates: references from one node's inputs to another node's outputs (DESIGN.md §2).
//
// Syntax, inside any JSON string of a node's inputs:
//   <<root.step.step[0]>>     root is a node id, "params" or "run"
//   {{root.step}}             the older system's spelling, accepted unchanged
//   \<< and \{{               a literal "<<" / "{{" (in JSON source: "\\<<")
// Steps are `.field` (letters, digits, '_' and '-') or `[index]`. Spaces just inside the
// brackets are allowed: << gen.videoPath >>.
//
// A string that is exactly one template takes the referenced value with its JSON type; a
// template inside a longer string is replaced by its text (strings as they are, other values
// as compact JSON). A "<<" with no closing ">>" is plain text, as in "a << b", unless what
// follows it starts like a reference (a name that is not all digits, then '.' or '['):
// "hello <<img.path and more" is an error ("unclosed reference"), the same for "{{".
// Write \<< for a literal "<<" there. Indexes are at most kMaxIndex.
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "comfyrun/core/json.h"

namespace comfyrun {

/// Largest array index a reference may name: [999999999].
constexpr size_t kMaxIndex = 999999999;

/// One step of a reference path: a field name or an array index.
struct PathStep {
  std::variant<std::string, size_t> key;
  bool is_index() const { return key.index() == 1; }
  const std::string& field() const { return std::get<std::string>(key); }
  size_t index() const { return std::get<size_t>(key); }
};

/// A parsed reference: `<<video_1.videoPath>>` has root "video_1" and one step.
struct Reference {
  std::string root;
  std::vector<PathStep> steps;
  std::string text;       ///< the template as written, e.g. "<<video_1.videoPath>>"
  std::string json_path;  ///< where it was found, e.g. "$.nodes[2].inputs.prompt"
};

/// Finds every reference in `value` (strings at any depth). `base_path` is the JSON path of
/// `value`; each reference gets the path of the string that holds it. Malformed templates
/// (a closed "<<...>>" whose inside is not a reference, or an unclosed one that starts like
/// a reference) are reported in `*errors` as "path: message" pairs.
void FindReferences(const Json& value, const std::string& base_path, std::vector<Reference>* refs,
                    std::vector<std::pair<std::string, std::string>>* errors);

/// Parses the inside of a template ("node.a[0].b"). Returns nullopt with *err on bad syntax.
std::optional<Reference> ParseReference(std::string_view inner, std::string* err);

/// Looks up the value a reference points at. Returns nullptr with *err when a root or step is
/// missing ("node 'gen' has no output 'vidoePath'").
using RootLookup = std::function<const Json*(const std::string& root)>;
const Json* LookupReference(const Reference& ref, const RootLookup& lookup, std::string* err);

/// Replaces every template in `value` (at any depth) by what it refers to, and unescapes
/// "\<<" / "\{{". Returns false with *err naming the first reference that cannot be resolved.
bool ResolveTemplates(const Json& value, const RootLookup& lookup, Json* out, std::string* err);

/// Text form of a value inside a longer string: strings as they are, others as compact JSON.
std::string TemplateText(const Json& value);

}  // namespace comfyrun
