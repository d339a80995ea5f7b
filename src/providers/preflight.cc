#include "comfyrun/providers/preflight.h"

#include <fmt/format.h>

#include <regex>

#include "comfyrun/comfyui/pool.h"
#include "comfyrun/providers/models.h"

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

std::string Message(const std::string& id, const char* provider, const std::string& variables) {
  return fmt::format("node '{}' ({}) needs {}; set it in the environment or .env, or run with --offline", id, provider,
                     variables);
}

}  // namespace

std::vector<std::string> MissingProviderKeys(const Workflow& wf, const Config& config) {
  std::vector<std::string> missing;
  if (config.offline) return missing;
  bool have_gemini = !config.gemini_api_key.empty();
  bool have_openai = !config.openai_api_key.empty();
  for (const WorkflowNode& node : wf.nodes) {
    if (!node.spec) continue;
    const std::string& type = node.spec->name;
    if (type == "fal" && config.fal_key.empty()) missing.push_back(Message(node.id, "fal", Config::kFalKeyVariable));
    if (type == "replicate" && config.replicate_api_token.empty())
      missing.push_back(Message(node.id, "replicate", Config::kReplicateKeyVariable));
    if (type != "character_image" && type != "video_generation" && type != "sora2_video") continue;
    std::optional<Provider> provider;
    if (type == "character_image")
      provider = Provider::kGemini;
    else if (type == "sora2_video")
      provider = Provider::kSora;
    if (!provider) {
      if (auto name = StaticModelName(wf, node)) {
        std::string err;
        if (const ModelInfo* info = ActiveModelCatalog().Resolve(*name, &err)) provider = info->provider;
      }
    }
    if (!provider) {
      if (!have_gemini && !have_openai)
        missing.push_back(Message(node.id, "veo or sora",
                                  fmt::format("{} or {}", Config::kGeminiKeyVariable, Config::kOpenAiKeyVariable)));
      continue;
    }
    switch (*provider) {
      case Provider::kGemini:
      case Provider::kVeo:
        if (!have_gemini) missing.push_back(Message(node.id, ProviderName(*provider), Config::kGeminiKeyVariable));
        break;
      case Provider::kSora:
        if (!have_openai) missing.push_back(Message(node.id, "sora", Config::kOpenAiKeyVariable));
        break;
      case Provider::kOffline:
        break;
    }
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
    if (node.spec && node.spec->name == "comfyui") {
      *err = fmt::format(
          "node '{}' (comfyui) needs a ComfyUI server, and none is configured; nothing was run: "
          "pass --comfyui http://HOST:8188 or set COMFYUI_URL (--offline has no stand-in for ComfyUI)",
          node.id);
      return false;
    }
  return true;
}

}  // namespace comfyrun
