#include "comfyrun/core/template.h"

#include <fmt/format.h>

#include "comfyrun/core/template_rewrite.h"
#include "comfyrun/core/util.h"

namespace comfyrun {
namespace {

bool IsNameChar(char c) { return isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

/// Walks `s` once, by the template rules: a backslash before "<<" or "{{" escapes it; a
/// template is the innermost closed pair (in "1 << 2 then <<a.b>>" the first "<<" is text).
/// Calls on_text(run) for literal text as written, on_escape(escape) for each 3-character
/// escape, on_template(inside, whole) for each closed template, and on_unclosed(at) for each
/// "<<" or "{{" at offset `at` that is left as text because it is not closed. Views into `s`.
template <class OnText, class OnEscape, class OnTemplate, class OnUnclosed>
void Tokenize(std::string_view s, OnText on_text, OnEscape on_escape, OnTemplate on_template, OnUnclosed on_unclosed) {
  size_t text_start = 0, i = 0;
  auto flush_text = [&](size_t to) {
    if (to > text_start) on_text(s.substr(text_start, to - text_start));
  };
  while (i < s.size()) {
    if (s[i] == '\\' && (s.compare(i + 1, 2, "<<") == 0 || s.compare(i + 1, 2, "{{") == 0)) {
      flush_text(i);
      on_escape(s.substr(i, 3));
      i += 3;
      text_start = i;
      continue;
    }
    bool angle = s.compare(i, 2, "<<") == 0;
    bool brace = !angle && s.compare(i, 2, "{{") == 0;
    if (angle || brace) {
      size_t end = s.find(angle ? ">>" : "}}", i + 2);
      size_t reopen = s.find(angle ? "<<" : "{{", i + 1);
      if (end != std::string_view::npos && reopen >= end) {
        flush_text(i);
        on_template(s.substr(i + 2, end - i - 2), s.substr(i, end + 2 - i));
        i = end + 2;
        text_start = i;
        continue;
      }
      on_unclosed(i);
    }
    ++i;
  }
  flush_text(s.size());
}

/// One piece of a scanned string: literal text, or a template.
struct Piece {
  bool is_template = false;
  std::string text;      // literal text (unescaped), or the template's inside
  std::string original;  // the template as written
};

/// Splits a string into literal text and closed templates. Escapes ("\\<<") are undone in the
/// literal text, or kept as written with keep_escapes (for rewriting a string in place).
void Scan(const std::string& s, std::vector<Piece>* pieces, bool keep_escapes = false) {
  std::string literal;
  Tokenize(
      s, [&](std::string_view text) { literal += text; },
      [&](std::string_view escape) { literal += keep_escapes ? escape : escape.substr(1); },
      [&](std::string_view inside, std::string_view whole) {
        if (!literal.empty()) pieces->push_back({false, literal, ""});
        literal.clear();
        pieces->push_back({true, std::string(inside), std::string(whole)});
      },
      [](size_t) {});
  if (!literal.empty() || pieces->empty()) pieces->push_back({false, literal, ""});
}

bool ContainsTemplateSyntax(const std::string& s) {
  return s.find("<<") != std::string::npos || s.find("{{") != std::string::npos;
}

/// Whether the text after an unclosed opener at `at` starts like a reference: spaces, a name
/// that is not all digits ("1 << 2.5" stays text), then '.' or '['.
bool LooksLikeReference(std::string_view s, size_t at) {
  size_t i = at + 2;
  while (i < s.size() && s[i] == ' ') ++i;
  size_t name = i;
  bool digits_only = true;
  while (i < s.size() && IsNameChar(s[i])) {
    digits_only = digits_only && isdigit(static_cast<unsigned char>(s[i]));
    ++i;
  }
  return i > name && !digits_only && i < s.size() && (s[i] == '.' || s[i] == '[');
}

/// Only the templates matter here: no literal text is built (100,000 nodes' inputs are
/// scanned on every load).
void FindInString(const std::string& s, const std::string& path, std::vector<Reference>* refs,
                  std::vector<std::pair<std::string, std::string>>* errors) {
  if (!ContainsTemplateSyntax(s)) return;
  Tokenize(
      s, [](std::string_view) {}, [](std::string_view) {},
      [&](std::string_view inside, std::string_view whole) {
        std::string err;
        auto ref = ParseReference(inside, &err);
        if (!ref) {
          errors->emplace_back(path, fmt::format("bad template {}: {}", Quote(std::string(whole)), err));
          return;
        }
        ref->text = whole;
        ref->json_path = path;
        refs->push_back(std::move(*ref));
      },
      [&](size_t at) {
        // Sent as plain text, a reference with a typo in its closing ">>" would reach a paid
        // model as "<<img.path": an error, unless it reads like an operator ("1 << 2").
        if (!LooksLikeReference(s, at)) return;
        bool angle = s[at] == '<';
        errors->emplace_back(path,
                             fmt::format("unclosed reference {}: it starts like a reference but has no "
                                         "closing '{}'",
                                         Quote(Abbreviate(std::string_view(s).substr(at), 40)), angle ? ">>" : "}}"));
      });
}

}  // namespace

std::optional<Reference> ParseReference(std::string_view inner, std::string* err) {
  // Views over the trimmed text; each name is copied once, whole (100,000 nodes' templates
  // are parsed on every load).
  std::string_view s = TrimView(inner);
  Reference ref;
  size_t i = 0;
  auto name_end = [&](size_t from) {
    while (from < s.size() && IsNameChar(s[from])) ++from;
    return from;
  };
  size_t end = name_end(0);
  ref.root.assign(s.substr(0, end));
  i = end;
  if (ref.root.empty()) {
    *err = s.empty() ? "empty reference" : "a reference starts with a node id, 'params' or 'run'";
    return std::nullopt;
  }
  while (i < s.size()) {
    if (s[i] == '.') {
      end = name_end(i + 1);
      if (end == i + 1) {
        *err = "a '.' must be followed by a field name";
        return std::nullopt;
      }
      ref.steps.push_back({std::string(s.substr(i + 1, end - i - 1))});
      i = end;
    } else if (s[i] == '[') {
      size_t close = s.find(']', i);
      std::string_view digits = close == std::string_view::npos ? std::string_view() : s.substr(i + 1, close - i - 1);
      if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) {
        *err = "an index is written [N] with N a whole number";
        return std::nullopt;
      }
      if (digits.size() > 9) {
        *err = fmt::format("index [{}] is too large: the largest index is {}", Abbreviate(digits, 30), kMaxIndex);
        return std::nullopt;
      }
      PathStep step;  // (not a braced temporary: GCC 12 then warns of an uninitialized string)
      step.key = static_cast<size_t>(std::stoul(std::string(digits)));
      ref.steps.push_back(std::move(step));
      i = close + 1;
    } else {
      *err = fmt::format("unexpected {} in reference", Quote(std::string(1, s[i])));
      return std::nullopt;
    }
  }
  return ref;
}

namespace {
/// `path` is one buffer grown and cut back per level: building a path string for every value
/// of 100,000 nodes' inputs cost more than scanning them, and only a template needs its path.
void FindReferencesAt(const Json& value, std::string& path, std::vector<Reference>* refs,
                      std::vector<std::pair<std::string, std::string>>* errors) {
  if (value.is_string()) {
    FindInString(value.get_ref<const std::string&>(), path, refs, errors);
  } else if (value.is_array()) {
    size_t base = path.size();
    for (size_t i = 0; i < value.size(); ++i) {
      path += '[';
      path += std::to_string(i);
      path += ']';
      FindReferencesAt(value[i], path, refs, errors);
      path.resize(base);
    }
  } else if (value.is_object()) {
    size_t base = path.size();
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!it->is_string() && !it->is_structured()) continue;  // numbers, booleans: nothing to find
      AppendJsonPathMember(&path, it.key());
      FindReferencesAt(it.value(), path, refs, errors);
      path.resize(base);
    }
  }
}
}  // namespace

void FindReferences(const Json& value, const std::string& base_path, std::vector<Reference>* refs,
                    std::vector<std::pair<std::string, std::string>>* errors) {
  std::string path;
  path.reserve(base_path.size() + 48);  // room for a few levels without growing
  path = base_path;
  FindReferencesAt(value, path, refs, errors);
}

const Json* LookupReference(const Reference& ref, const RootLookup& lookup, std::string* err) {
  const Json* current = lookup(ref.root);
  if (!current) {
    *err = fmt::format("{} refers to unknown node {}", ref.text, Quote(ref.root));
    return nullptr;
  }
  std::string where = ref.root;
  for (const auto& step : ref.steps) {
    if (step.is_index()) {
      if (!current->is_array() || step.index() >= current->size()) {
        *err = fmt::format(
            "{}: {} has no element [{}] (it is {})", ref.text, where, step.index(),
            current->is_array() ? fmt::format("an array of {}", current->size()) : std::string(current->type_name()));
        return nullptr;
      }
      current = &(*current)[step.index()];
      where += fmt::format("[{}]", step.index());
    } else {
      if (!current->is_object() || !current->contains(step.field())) {
        *err = fmt::format("{}: {} has no field {}", ref.text, where, Quote(step.field()));
        return nullptr;
      }
      current = &(*current)[step.field()];
      where += "." + step.field();
    }
  }
  return current;
}

std::string TemplateText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

bool ResolveTemplates(const Json& value, const RootLookup& lookup, Json* out, std::string* err) {
  if (value.is_array()) {
    *out = Json::array();
    for (const auto& element : value) {
      Json resolved;
      if (!ResolveTemplates(element, lookup, &resolved, err)) return false;
      out->push_back(std::move(resolved));
    }
    return true;
  }
  if (value.is_object()) {
    *out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      Json resolved;
      if (!ResolveTemplates(it.value(), lookup, &resolved, err)) return false;
      (*out)[it.key()] = std::move(resolved);
    }
    return true;
  }
  if (!value.is_string() || !ContainsTemplateSyntax(value.get_ref<const std::string&>())) {
    *out = value;
    return true;
  }
  std::vector<Piece> pieces;
  Scan(value.get_ref<const std::string&>(), &pieces);
  std::string text;
  for (const auto& piece : pieces) {
    if (!piece.is_template) {
      text += piece.text;
      continue;
    }
    auto ref = ParseReference(piece.text, err);
    if (!ref) return false;
    ref->text = piece.original;
    const Json* target = LookupReference(*ref, lookup, err);
    if (!target) return false;
    if (pieces.size() == 1) {  // exactly one template: keep the JSON type
      *out = *target;
      return true;
    }
    text += TemplateText(*target);
  }
  *out = text;
  return true;
}

namespace {

/// The inside of a template for a reference: root, then ".field" and "[index]" steps.
std::string ReferenceInner(const Reference& ref) {
  std::string out = ref.root;
  for (const auto& step : ref.steps) out += step.is_index() ? fmt::format("[{}]", step.index()) : "." + step.field();
  return out;
}

std::string RewriteString(const std::string& s, const ReferenceRewrite& rename) {
  if (!ContainsTemplateSyntax(s)) return s;
  std::vector<Piece> pieces;
  Scan(s, &pieces, /*keep_escapes=*/true);
  std::string out;
  for (const auto& piece : pieces) {
    if (!piece.is_template) {
      out += piece.text;
      continue;
    }
    std::string err;
    auto ref = ParseReference(piece.text, &err);
    if (ref && rename(&*ref)) {
      bool angle = piece.original.compare(0, 2, "<<") == 0;
      out += (angle ? "<<" : "{{") + ReferenceInner(*ref) + (angle ? ">>" : "}}");
    } else {
      out += piece.original;
    }
  }
  return out;
}

}  // namespace

Json RewriteTemplates(const Json& value, const ReferenceRewrite& rename) {
  if (value.is_string()) return RewriteString(value.get_ref<const std::string&>(), rename);
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& item : value) out.push_back(RewriteTemplates(item, rename));
    return out;
  }
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) out[it.key()] = RewriteTemplates(it.value(), rename);
    return out;
  }
  return value;
}

}  // namespace comfyrun
