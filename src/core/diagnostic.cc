#include "comfyrun/core/diagnostic.h"

#include <fmt/format.h>

namespace comfyrun {

std::string Diagnostic::Format() const {
  std::string out = file.empty() ? "comfyrun" : file;
  if (!node_id.empty()) out += fmt::format(": node '{}'", node_id);
  if (!json_path.empty()) out += (node_id.empty() ? ": at " : " at ") + json_path;
  out += severity == Severity::kWarning ? ": warning: " : ": ";
  out += message;
  if (!hint.empty()) out += "\n  hint: " + hint;
  return out;
}

Diagnostic& AddError(std::vector<Diagnostic>* diags, std::string file, std::string node_id, std::string json_path,
                     std::string message, std::string hint) {
  diags->push_back(Diagnostic{std::move(file), std::move(node_id), std::move(json_path), std::move(message),
                              std::move(hint), Severity::kError});
  return diags->back();
}

size_t CountErrors(const std::vector<Diagnostic>& diags) {
  size_t n = 0;
  for (const auto& d : diags) n += d.severity == Severity::kError;
  return n;
}

}  // namespace comfyrun
