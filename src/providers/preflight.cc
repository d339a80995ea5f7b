#include "comfyrun/providers/preflight.h"

#include <fmt/format.h>

#include <regex>

#include "comfyrun/comfyui/pool.h"
#include "comfyrun/providers/models.h"
#include "comfyrun/providers/provider.h"

namespace comfyrun {
namespace {

/// The model name a node will use, when it can be known before the run: a literal, the
/// type's default, or a whole-string <<params.NAME>> / {{params.NAME}} reference.
std::optional<std::string> StaticModelName(const Workflow& wf, const WorkflowNode& node) {
  Json model;
  if (node.inputs.contains("model")) {
    model = node.inputs["model"];
  } else if (const InputSpec* spec = node.spec->FindInput("model")) {
    model = spec->default_value;
  }
  if (!model.is_string()) return std::nullopt;
  std::string text = model.get<std::string>();
  static const std::regex kParam(R"(^\s*(?:<<|\{\{)\s*params\.([A-Za-z0-9_\-]+)\s*(?:>>|\}\})\s*$)");
  std::smatch m;
  if (std::regex_match(text, m, kParam)) {
    std::string name = m[1];
    if (wf.params.is_object() && wf.params.contains(name) && wf.params[name].is_string())
      return wf.params[name].get<std::string>();
    return std::nullopt;
  }
  if (text.find("<<") != std::string::npos || text.find("{{") != std::string::npos) return std::nullopt;
  return text;
}

}  // namespace

std::vector<std::string> MissingProviderKeys(const Workflow& wf, const Config& config) {
  std::vector<std::string> missing;
  if (config.offline) return missing;
  for (const WorkflowNode& node : wf.nodes) {
    if (!node.spec) continue;
    const ProviderDescriptor* row = ProviderOfType(node.spec->name);
    if (!row || row->key.name.empty()) continue;
    // What the node may run on: its type's row, or, for a type other rows also run
    // (video_generation: Veo or Sora), the row of its model when that is known before the run.
    std::vector<const ProviderDescriptor*> candidates = {row};
    for (const ProviderDescriptor& p : Providers())
      for (const std::string& type : p.also_runs)
        if (type == node.spec->name) candidates.push_back(&p);
    if (candidates.size() > 1) {
      if (auto name = StaticModelName(wf, node)) {
        std::string err;
        if (const ModelInfo* info = ActiveModelCatalog().Resolve(*name, &err))
          if (const ProviderDescriptor* p = FindProvider(ProviderName(info->provider))) candidates = {p};
      }
    }
    bool have_key = false;
    for (const ProviderDescriptor* p : candidates) have_key = have_key || !ProviderKey(config, *p).empty();
    if (!have_key) missing.push_back(MissingKeyMessage(node.id, candidates));
  }
  return missing;
}

bool CheckRunConfiguration(const Workflow& wf, const Config& config, std::string* err) {
  if (!CheckConfigUrls(config, err)) return false;
  std::vector<ComfyuiServerSpec> servers;
  std::string why;
  if (!ParseComfyuiServers(config.comfyui_servers, &servers, &why)) {
    *err = why;
    return false;
  }
  if (!servers.empty()) return true;
  for (const WorkflowNode& node : wf.nodes)
    if (const ProviderDescriptor* row = node.spec ? ProviderOfType(node.spec->name) : nullptr;
        row && !row->servers_variable.empty()) {
      *err = fmt::format(
          "node '{}' (comfyui) needs a ComfyUI server, and none is configured; nothing was run: "
          "pass --comfyui http://HOST:8188 or set COMFYUI_URL (--offline has no stand-in for ComfyUI)",
          node.id);
      return false;
    }
  return true;
}

}  // namespace comfyrun
