// NodePrompts (run_report_parts.h): the run report shows what a node was asked, not the
// template it was written with ("a robot barista", not "<<params.character>>"). The journal
// does not record resolved inputs (they can be large, and every one would be written at
// every attempt), but it holds all they came from: the params in the header and the outputs
// of the completed nodes, which is what the executor resolved them from.
#include "comfyrun/core/template.h"
#include "comfyrun/report/html.h"
#include "comfyrun/run/layout.h"
#include "run_report_parts.h"

namespace comfyrun {

std::unordered_map<std::string, NodePrompt> NodePrompts(const JournalReplay& replay) {
  std::unordered_map<std::string, NodePrompt> prompts;
  const Json& header = replay.header;
  if (!header.is_object() || !header.contains("workflow") || !header["workflow"].is_object()) return prompts;
  const Json& workflow = header["workflow"];
  if (!workflow.contains("nodes") || !workflow["nodes"].is_array()) return prompts;
  const Json& nodes = workflow["nodes"];  // not copied: a large run's document is large
  // The header's params are the workflow's defaults merged with --param: what ran. An older
  // header without them falls back to the workflow's defaults.
  Json params = header.value("params", Json());
  if (!params.is_object()) params = workflow.value("params", Json::object());
  if (!params.is_object()) params = Json::object();
  Json run = Json::object();
  std::string run_id = StringAt(header, "runId");
  run["id"] = run_id;
  const Json options = header.value("options", Json::object());
  if (options.is_object() && !StringAt(options, "out").empty() && !run_id.empty())
    run["dir"] = RunDirectory(StringAt(options, "out"), run_id);
  RootLookup lookup = [&](const std::string& root) -> const Json* {
    if (root == "params") return &params;
    if (root == "run") return &run;
    auto it = replay.nodes.find(root);
    if (it == replay.nodes.end() || it->second.status != JournalNode::Status::kCompleted) return nullptr;
    return &it->second.outputs;
  };
  for (const auto& n : nodes) {
    if (!n.is_object() || !n.contains("inputs") || !n["inputs"].is_object()) continue;
    for (const char* key : {"prompt", "characterPrompt", "command"}) {
      const Json& value = n["inputs"].value(key, Json());
      if (!value.is_string() || value.get_ref<const std::string&>().empty()) continue;
      NodePrompt p;
      p.written = value.get<std::string>();
      Json resolved;
      std::string err;
      if (ResolveTemplates(value, lookup, &resolved, &err)) {
        p.text = resolved.is_string() ? resolved.get<std::string>() : TemplateText(resolved);
      } else {
        p.text = p.written;
        p.resolved = false;
      }
      prompts.emplace(StringAt(n, "id"), std::move(p));
      break;
    }
  }
  return prompts;
}

}  // namespace comfyrun
