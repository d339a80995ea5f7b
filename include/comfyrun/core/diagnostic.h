#pragma once
// A problem found in user input, with enough context to find and fix it:
//   graph.json: node 'video_1' at $.nodes[1].inputs.duration: expected a number, got "8s"
//     hint: write 8 (seconds)
#include <string>
#include <vector>

namespace comfyrun {

enum class Severity { kError, kWarning };

struct Diagnostic {
  std::string file;       ///< the file the problem is in ("" for the command line)
  std::string node_id;    ///< "" when not inside a node
  std::string json_path;  ///< "$.nodes[1].inputs.duration"; "" when not applicable
  std::string message;
  std::string hint;  ///< how to fix it; "" when the message says it all
  Severity severity = Severity::kError;

  /// One or two lines as shown to the user (no trailing newline).
  std::string Format() const;
};

/// Adds an error; returns it for further setup.
Diagnostic& AddError(std::vector<Diagnostic>* diags, std::string file, std::string node_id, std::string json_path,
                     std::string message, std::string hint = "");
size_t CountErrors(const std::vector<Diagnostic>& diags);

}  // namespace comfyrun
