#pragma once
// Model aliases, retired model ids and prices (DESIGN.md §3, PROVIDERS.md §0).
//
// Workflows name models by alias ("nanobanana", "veo3-fast", "sora-2") because providers
// retire model ids; the alias table maps them to the current id. A retired id gets an error
// that names its successor. The shipped table can be overridden by a JSON file (see
// LoadModelCatalog) with the same shape as DefaultModelCatalogJson().
#include <map>
#include <optional>
#include <string>

#include "comfyrun/core/json.h"

namespace comfyrun {

enum class Provider { kGemini, kVeo, kSora, kOffline };
const char* ProviderName(Provider provider);

struct ModelInfo {
  std::string id;  ///< the provider's model id
  Provider provider = Provider::kGemini;
  double usd_per_image = 0;        ///< image models
  double usd_per_second = 0;       ///< video models at 720p/1080p
  double usd_per_second_high = 0;  ///< video models at 4K (Veo) or 1024p (Sora Pro); 0 = same
};

struct RetiredModel {
  std::string successor;
  std::string date;  ///< shutdown date, YYYY-MM-DD
};

struct ModelCatalog {
  std::map<std::string, std::string> aliases;   ///< alias -> model id
  std::map<std::string, ModelInfo> models;      ///< model id -> info
  std::map<std::string, RetiredModel> retired;  ///< retired id -> successor

  /// Resolves an alias or id. Returns nullptr with *err for an unknown or retired model.
  const ModelInfo* Resolve(const std::string& name, std::string* err) const;
};

/// The table shipped with comfyrun, as JSON (also what `comfyrun models --json` prints).
Json DefaultModelCatalogJson();

/// Builds a catalog from JSON {aliases, models, retired}; entries in `overrides` replace or
/// extend the defaults. Returns false with *err on a malformed file.
bool BuildModelCatalog(const Json& overrides, ModelCatalog* catalog, std::string* err);

/// The catalog in force: the defaults, overridden by the file named in COMFYRUN_MODELS if set.
/// Loaded once; a bad override file is reported through *err on the first call.
const ModelCatalog& ActiveModelCatalog(std::string* err = nullptr);

/// A catalog as `comfyrun models --json` prints it, in the shape COMFYRUN_MODELS reads (so
/// the output, edited, can be the override file): {"aliases": {alias: id}, "models": {id:
/// {provider, usdPerImage | usdPerSecond [, usdPerSecondHigh]}}, "retired": {id: {successor,
/// date}}}, each sorted by name.
Json ModelCatalogListing(const ModelCatalog& catalog);

/// `comfyrun models [--json]` (src/cli/cmd_models.cc): the catalog in force, as a table or
/// JSON on stdout; exit 2 when the COMFYRUN_MODELS file is bad.
int ModelsCommand(bool json);

/// Expected cost in USD of one generation: an image, or `seconds` of video at `resolution`.
double EstimateGenerationCost(const ModelInfo& model, double seconds, const std::string& resolution);

}  // namespace comfyrun
