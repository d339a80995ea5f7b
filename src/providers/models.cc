#include "comfyrun/providers/models.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <mutex>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider.h"

namespace comfyrun {

const char* ProviderName(Provider provider) {
  switch (provider) {
    case Provider::kGemini:
      return "gemini";
    case Provider::kVeo:
      return "veo";
    case Provider::kSora:
      return "sora";
    case Provider::kOffline:
      return "offline";
  }
  return "gemini";
}

namespace {
/// A provider name of the model table: a registry row that keeps its models in the catalog.
std::optional<Provider> ParseProvider(const std::string& name) {
  const ProviderDescriptor* row = FindProvider(name);
  if (!row || !row->catalog_models) return std::nullopt;
  for (Provider p : {Provider::kGemini, Provider::kVeo, Provider::kSora})
    if (name == ProviderName(p)) return p;
  return std::nullopt;
}

std::string CatalogProviderNames() {
  std::string names;
  for (const ProviderDescriptor& p : Providers())
    if (p.catalog_models) names += (names.empty() ? "" : ", ") + p.name;
  return names;
}
}  // namespace

Json DefaultModelCatalogJson() {
  // Prices: PROVIDERS.md "Pricing" (several are third-party figures; override them with
  // COMFYRUN_MODELS when your invoice says otherwise).
  return Json::parse(R"({
    "aliases": {
      "nanobanana": "gemini-3.1-flash-image",
      "nanobana": "gemini-3.1-flash-image",
      "nano-banana": "gemini-3.1-flash-image",
      "nanobanana-2": "gemini-3.1-flash-image",
      "nanobanana-pro": "gemini-3-pro-image",
      "nanobanana-lite": "gemini-3.1-flash-lite-image",
      "veo3": "veo-3.1-generate-preview",
      "veo3-standard": "veo-3.1-generate-preview",
      "veo3-fast": "veo-3.1-fast-generate-preview",
      "veo3-lite": "veo-3.1-lite-generate-preview",
      "veo3.1": "veo-3.1-generate-preview",
      "veo3.1-fast": "veo-3.1-fast-generate-preview",
      "sora-2": "sora-2",
      "sora2": "sora-2",
      "sora-2-pro": "sora-2-pro",
      "sora2-pro": "sora-2-pro",
      "veo-3": "veo-3.1-generate-preview",
      "veo-3-fast": "veo-3.1-fast-generate-preview",
      "veo3.1-lite": "veo-3.1-lite-generate-preview",
      "nanobanana-2.1": "gemini-nano-banana-2.1"
    },
    "models": {
      "gemini-3.1-flash-image":       {"provider": "gemini", "usdPerImage": 0.039},
      "gemini-3-pro-image":           {"provider": "gemini", "usdPerImage": 0.134},
      "gemini-3.1-flash-lite-image":  {"provider": "gemini", "usdPerImage": 0.02},
      "gemini-nano-banana-2.1":       {"provider": "gemini", "usdPerImage": 0.039},
      "veo-3.1-generate-preview":     {"provider": "veo", "usdPerSecond": 0.40, "usdPerSecondHigh": 0.60},
      "veo-3.1-fast-generate-preview":{"provider": "veo", "usdPerSecond": 0.15},
      "veo-3.1-lite-generate-preview":{"provider": "veo", "usdPerSecond": 0.08},
      "sora-2":                       {"provider": "sora", "usdPerSecond": 0.10},
      "sora-2-pro":                   {"provider": "sora", "usdPerSecond": 0.30, "usdPerSecondHigh": 0.50},
      "sora-2-2025-10-06":            {"provider": "sora", "usdPerSecond": 0.10},
      "sora-2-2025-12-08":            {"provider": "sora", "usdPerSecond": 0.10},
      "sora-2-pro-2025-10-06":        {"provider": "sora", "usdPerSecond": 0.30, "usdPerSecondHigh": 0.50}
    },
    "retired": {
      "gemini-2.5-flash-image-preview": {"successor": "gemini-3.1-flash-image", "date": "2026-01-15"},
      "gemini-2.5-flash-image":         {"successor": "gemini-3.1-flash-image", "date": "2026-10-02"},
      "gemini-3.1-flash-image-preview": {"successor": "gemini-3.1-flash-image", "date": "2026-06-25"},
      "gemini-3-pro-image-preview":     {"successor": "gemini-3-pro-image", "date": "2026-06-25"},
      "veo-3.0-generate-001":           {"successor": "veo-3.1-generate-preview", "date": "2026-06-30"},
      "veo-3.0-fast-generate-001":      {"successor": "veo-3.1-fast-generate-preview", "date": "2026-06-30"},
      "veo-2.0-generate-001":           {"successor": "veo-3.1-generate-preview", "date": "2026-06-30"}
    }
  })");
}

bool BuildModelCatalog(const Json& overrides, ModelCatalog* catalog, std::string* err) {
  auto merge = [&](const Json& table) -> bool {
    if (!table.is_object()) {
      *err = "the model table is a JSON object with aliases, models and retired";
      return false;
    }
    if (table.contains("aliases")) {
      for (auto it = table["aliases"].begin(); it != table["aliases"].end(); ++it) {
        if (!it.value().is_string()) {
          *err = fmt::format("aliases.{}: a model id is a string", it.key());
          return false;
        }
        catalog->aliases[it.key()] = it.value().get<std::string>();
      }
    }
    if (table.contains("models")) {
      for (auto it = table["models"].begin(); it != table["models"].end(); ++it) {
        const Json& m = it.value();
        auto provider = m.is_object() && m.contains("provider") && m["provider"].is_string()
                            ? ParseProvider(m["provider"].get<std::string>())
                            : std::nullopt;
        if (!provider) {
          *err = fmt::format("models.{}.provider: one of {}", it.key(), CatalogProviderNames());
          return false;
        }
        ModelInfo info;
        info.id = it.key();
        info.provider = *provider;
        info.usd_per_image = m.value("usdPerImage", 0.0);
        info.usd_per_second = m.value("usdPerSecond", 0.0);
        info.usd_per_second_high = m.value("usdPerSecondHigh", 0.0);
        catalog->models[it.key()] = info;
        catalog->retired.erase(it.key());
      }
    }
    if (table.contains("retired")) {
      for (auto it = table["retired"].begin(); it != table["retired"].end(); ++it) {
        const Json& r = it.value();
        if (!r.is_object() || !r.contains("successor") || !r["successor"].is_string()) {
          *err = fmt::format("retired.{}: {{\"successor\": MODEL, \"date\": YYYY-MM-DD}}", it.key());
          return false;
        }
        catalog->retired[it.key()] = {r["successor"].get<std::string>(), r.value("date", "")};
      }
    }
    return true;
  };
  return merge(DefaultModelCatalogJson()) && (overrides.is_null() || merge(overrides));
}

const ModelCatalog& ActiveModelCatalog(std::string* err) {
  static std::once_flag once;
  static ModelCatalog catalog;
  static std::string load_error;
  std::call_once(once, [] {
    Json overrides;
    if (const char* path = getenv("COMFYRUN_MODELS"); path && *path) {
      std::string text, e;
      if (!ReadFile(path, &text, &e)) {
        load_error = fmt::format("COMFYRUN_MODELS={}: {}", path, e);
      } else {
        overrides = Json::parse(text, nullptr, false);
        if (overrides.is_discarded()) {
          load_error = fmt::format("COMFYRUN_MODELS={}: not valid JSON", path);
          overrides = nullptr;
        }
      }
    }
    std::string e;
    if (!BuildModelCatalog(overrides, &catalog, &e)) {
      load_error = fmt::format("model table: {}", e);
      BuildModelCatalog(nullptr, &catalog, &e);
    }
  });
  if (err) *err = load_error;
  return catalog;
}

const ModelInfo* ModelCatalog::Resolve(const std::string& name, std::string* err) const {
  // Accept "models/<id>" (the SDK's spelling), surrounding spaces and any letter case.
  std::string wanted = Trim(name);
  if (StartsWith(wanted, "models/")) wanted = wanted.substr(7);
  auto lower = [](std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  auto find_key = [&](const auto& table, const std::string& key) {
    auto it = table.find(key);
    if (it != table.end()) return it;
    std::string l = lower(key);
    for (auto i = table.begin(); i != table.end(); ++i)
      if (lower(i->first) == l) return i;
    return table.end();
  };
  std::string id = wanted;
  std::string via;                        // the alias used, for messages
  for (int hops = 0; hops < 8; ++hops) {  // aliases may name aliases (user overrides)
    auto a = find_key(aliases, id);
    if (a == aliases.end() || a->second == id) break;
    if (via.empty()) via = a->first;
    id = a->second;
  }
  if (auto r = find_key(retired, id); r != retired.end()) {
    std::string successor = r->second.successor;
    std::string successor_alias;
    for (const auto& [alias, target] : aliases)
      if (target == successor && (successor_alias.empty() || alias.size() < successor_alias.size()))
        successor_alias = alias;
    *err = fmt::format("model {}{} was retired by its provider ({}); use '{}'{}", Quote(r->first),
                       via.empty() ? "" : fmt::format(" (alias '{}')", via),
                       r->second.date.empty() ? "no date given" : "shut down " + r->second.date, successor,
                       successor_alias.empty() ? "" : fmt::format(" (alias '{}')", successor_alias));
    return nullptr;
  }
  if (auto m = find_key(models, id); m != models.end()) return &m->second;
  if (!via.empty()) {
    *err = fmt::format(
        "alias '{}' names model {}, which is not in the model table; add it under \"models\" in "
        "the file named by COMFYRUN_MODELS",
        via, Quote(id));
    return nullptr;
  }
  std::vector<std::string> names;
  for (const auto& [alias, target] : aliases) names.push_back(alias);
  for (const auto& [model, info] : models) names.push_back(model);
  std::string close = ClosestMatch(lower(wanted), names);
  *err = fmt::format("unknown model {}{}", Quote(name),
                     close.empty() ? "; run `comfyrun models` for the list, or add it with COMFYRUN_MODELS"
                                   : fmt::format("; did you mean '{}'?", close));
  return nullptr;
}

Json ModelCatalogListing(const ModelCatalog& catalog) {
  Json aliases = Json::object();
  for (const auto& [alias, target] : catalog.aliases) aliases[alias] = target;  // std::map: sorted
  Json models = Json::object();
  for (const auto& [id, info] : catalog.models) {
    Json m = {{"provider", ProviderName(info.provider)}};
    if (info.provider == Provider::kGemini) {
      m["usdPerImage"] = info.usd_per_image;
    } else {
      m["usdPerSecond"] = info.usd_per_second;
      if (info.usd_per_second_high > 0) m["usdPerSecondHigh"] = info.usd_per_second_high;
    }
    models[id] = std::move(m);
  }
  Json retired = Json::object();
  for (const auto& [id, r] : catalog.retired) retired[id] = {{"successor", r.successor}, {"date", r.date}};
  return {{"aliases", std::move(aliases)}, {"models", std::move(models)}, {"retired", std::move(retired)}};
}

double EstimateGenerationCost(const ModelInfo& model, double seconds, const std::string& resolution) {
  if (model.provider == Provider::kGemini) return model.usd_per_image;
  std::string r;
  for (char c : resolution) r += char(std::tolower(static_cast<unsigned char>(c)));
  bool high = r == "4k" || r == "2160p" || r == "1024p" || r == "1792x1024" || r == "1024x1792";
  double rate = high && model.usd_per_second_high > 0 ? model.usd_per_second_high : model.usd_per_second;
  return rate * seconds;
}

}  // namespace comfyrun
