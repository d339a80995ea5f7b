// `comfyrun models [--json]`: the model table in force (aliases, current ids, prices and
// retired ids with their successors), the list an "unknown model" message points to.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>

#include "comfyrun/cli/cli.h"
#include "comfyrun/providers/models.h"
#include "comfyrun/providers/queue_job.h"
#include "command_registry.h"

namespace comfyrun {

namespace {

std::string Price(const Json& m) {
  if (m.contains("usdPerImage")) return fmt::format("${:.3f} per image", m["usdPerImage"].get<double>());
  std::string price = fmt::format("${:.2f} per second", m["usdPerSecond"].get<double>());
  if (m.contains("usdPerSecondHigh"))
    price += fmt::format(" (${:.2f} at 4K/1024p)", m["usdPerSecondHigh"].get<double>());
  return price;
}

/// The table people read: one line per current model with its aliases, then retired ids.
std::string Table(const Json& listing) {
  std::map<std::string, std::string> aliases_of;  // model id -> "a, b"
  for (auto it = listing["aliases"].begin(); it != listing["aliases"].end(); ++it) {
    const std::string& id = it.value().get_ref<const std::string&>();
    if (it.key() == id) continue;
    std::string& list = aliases_of[id];
    list += (list.empty() ? "" : ", ") + it.key();
  }
  size_t id_width = 8;
  for (auto it = listing["models"].begin(); it != listing["models"].end(); ++it)
    id_width = std::max(id_width, it.key().size());
  std::string text =
      fmt::format("{:<{}}  {:<8}  {:<34}  {}\n", "MODEL ID", id_width, "PROVIDER", "PRICE (USD)", "ALIASES");
  for (auto it = listing["models"].begin(); it != listing["models"].end(); ++it) {
    auto alias = aliases_of.find(it.key());
    text += fmt::format("{:<{}}  {:<8}  {:<34}  {}\n", it.key(), id_width, it.value()["provider"].get<std::string>(),
                        Price(it.value()), alias == aliases_of.end() ? "-" : alias->second);
  }
  const Json& retired = listing["retired"];
  if (!retired.empty()) {
    size_t width = 13;
    for (auto it = retired.begin(); it != retired.end(); ++it) width = std::max(width, it.key().size());
    text += fmt::format("\n{:<{}}  {:<10}  {}\n", "RETIRED MODEL", width, "SHUT DOWN", "USE INSTEAD");
    for (auto it = retired.begin(); it != retired.end(); ++it) {
      std::string date = it.value()["date"].get<std::string>();
      text += fmt::format("{:<{}}  {:<10}  {}\n", it.key(), width, date.empty() ? "-" : date,
                          it.value()["successor"].get<std::string>());
    }
  }
  // fal and Replicate host many more models; these are the ones with a known price (queue_files.cc).
  // Built in: COMFYRUN_MODELS does not change them.
  std::vector<QueuePriceRow> queue = QueuePriceTable();
  size_t queue_width = 21;
  for (const auto& row : queue) queue_width = std::max(queue_width, row.model.size());
  text += fmt::format("\n{:<{}}  {:<9}  {}\n", "FAL / REPLICATE MODEL", queue_width, "PROVIDER", "PRICE (USD)");
  for (const auto& row : queue)
    text += fmt::format("{:<{}}  {:<9}  {}\n", row.model, queue_width, row.provider, row.price);
  text +=
      "\nA workflow names a model by id or alias (any letter case). Prices are estimates; to change the\n"
      "table, save `comfyrun models --json`, edit it and name the file in COMFYRUN_MODELS.\n";
  return text;
}

}  // namespace

int ModelsCommand(bool json) {
  std::string err;
  const ModelCatalog& catalog = ActiveModelCatalog(&err);
  if (!err.empty()) {  // a bad COMFYRUN_MODELS file: the list would not be what runs use
    fmt::print(stderr, "comfyrun models: {}\n", err);
    return kExitInvalid;
  }
  Json listing = ModelCatalogListing(catalog);
  std::string text = json ? listing.dump(2) + "\n" : Table(listing);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailed;
}

void AddModelsCommand(CommandRegistry& registry) {
  auto json = registry.Options<bool>();
  auto* cmd = registry.Add("models", "list model aliases, current ids, prices and retired ids",
                           [json] { return ModelsCommand(*json); });
  cmd->add_flag("--json", *json, "print the table as JSON (the shape COMFYRUN_MODELS reads)");
  registry.Manual(cmd, {"Lists the model table in force (the built-in one, with the file named by COMFYRUN_MODELS "
                        "on top): each current model id with its provider, estimated price and aliases, then the "
                        "retired ids with their shutdown date and successor. A workflow's \"model\" is an id or alias.",
                        {{"0", "listed"}, {"2", "the COMFYRUN_MODELS file is bad"}},
                        {{"comfyrun models", "the table"},
                         {"comfyrun models --json > models.json", "a starting point for COMFYRUN_MODELS"}},
                        "comfyrun nodes; COMFYRUN_MODELS in README.md"});
}

}  // namespace comfyrun
