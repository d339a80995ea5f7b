#pragma once
// Checks, before any node starts, that every paid generation node has the API key its
// provider needs (issue 4: "a missing key is reported before any node starts").
#include <string>
#include <vector>

#include "comfyrun/core/config.h"
#include "comfyrun/core/workflow.h"

namespace comfyrun {

/// One message per node of a provider type (providers/provider.h) whose key is missing, e.g.
///   node 'video_1' (veo) needs GEMINI_API_KEY; set it in the environment or .env, or run
///   with --offline
/// Empty when every key is there, or when config.offline is set. The provider is the row that
/// declares the node's type; for a type other rows also run (video_generation: Veo or Sora)
/// it comes from the node's model (a literal, a default, or a <<params.X>> reference), and
/// when that cannot be known before the run, any of their keys will do.
std::vector<std::string> MissingProviderKeys(const Workflow& workflow, const Config& config);

/// What else would make a run fail after its journal was written, checked before anything
/// is written (offline too): a bad URL in COMFYUI_URL, --comfyui, GEMINI_BASE_URL or
/// OPENAI_BASE_URL (CheckConfigUrls), a bad ComfyUI server option (#slots=N), and a comfyui
/// node with no server configured (ComfyUI has no offline stand-in). False with *err.
bool CheckRunConfiguration(const Workflow& workflow, const Config& config, std::string* err);

}  // namespace comfyrun
