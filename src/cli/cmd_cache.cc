// `cache ls` and `cache prune`: the output cache under --out (cache/store.h, docs/cache.md).
#include <fmt/format.h>

#include <filesystem>

#include "comfyrun/cache/store.h"
#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "comfyrun/core/util.h"
#include "comfyrun/engine/executor.h"

namespace comfyrun {
namespace {

std::string FormatBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

Json EntryJson(const CacheEntryInfo& e) {
  Json j = {{"key", e.key}, {"lastUsedAt", e.last_used_ms ? IsoTime(e.last_used_ms) : ""}};
  if (!e.problem.empty()) {
    j["problem"] = e.problem;
    return j;
  }
  j["type"] = e.type;
  j["typeVersion"] = e.type_version;
  j["provider"] = e.provider;
  j["model"] = e.model;
  j["node"] = e.node;
  j["cost"] = e.cost;
  j["files"] = e.files;
  j["bytes"] = e.bytes;
  j["createdAt"] = IsoTime(e.created_ms);
  return j;
}

std::string CacheRoot(const std::string& out_dir) { return AbsolutePath(out_dir) + "/cache"; }

/// --out, or its cache folder, that exists but is not a directory: exit 2 (a missing one
/// only means no entries yet). False after printing the error.
bool CheckCacheFolders(const char* command, const std::string& out_dir) {
  for (const std::string& path : {out_dir, CacheRoot(out_dir)}) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && !std::filesystem::is_directory(path, ec)) {
      fmt::print(stderr, "comfyrun cache {}: {} is not a directory; give the output directory with -o DIR\n", command,
                 path);
      return false;
    }
  }
  return true;
}

}  // namespace

int CacheLsCommand(const CacheCommandOptions& options) {
  if (!CheckCacheFolders("ls", options.out_dir)) return kExitInvalid;
  CacheStore store(CacheRoot(options.out_dir));
  std::vector<CacheEntryInfo> entries = store.List();
  if (options.json) {
    Json out = Json::array();
    for (const auto& e : entries) out.push_back(EntryJson(e));
    fmt::print("{}\n", out.dump(2));
    return kExitOk;
  }
  if (entries.empty()) {
    fmt::print("no cache entries in {}\n", store.root());
    return kExitOk;
  }
  uint64_t total = 0;
  fmt::print("{:<12}  {:<16}  {:<30}  {:>5}  {:>10}  {:>8}  {:<24}  {}\n", "KEY", "TYPE", "MODEL", "FILES", "SIZE",
             "PAID", "LAST USED", "NODE");
  for (const auto& e : entries) {
    std::string used = e.last_used_ms ? IsoTime(e.last_used_ms) : "";
    if (!e.problem.empty()) {
      fmt::print("{:<12}  unusable: {} (last changed {})\n", e.key.substr(0, 12), e.problem, used);
      continue;
    }
    total += e.bytes;
    fmt::print("{:<12}  {:<16}  {:<30}  {:>5}  {:>10}  {:>8}  {:<24}  {}\n", e.key.substr(0, 12), e.type,
               e.model.empty() ? "-" : e.model, e.files, FormatBytes(e.bytes), fmt::format("${:.2f}", e.cost), used,
               e.node);
  }
  fmt::print("{} entr{}, {} in {}\n", entries.size(), entries.size() == 1 ? "y" : "ies", FormatBytes(total),
             store.root());
  return kExitOk;
}

int CachePruneCommand(const CacheCommandOptions& options) {
  std::string err;
  std::optional<double> age = ParseDuration(options.older_than, &err);
  if (!age) {
    fmt::print(stderr, "comfyrun cache prune: --older-than: {}\n", err);
    return kExitInvalid;
  }
  if (!CheckCacheFolders("prune", options.out_dir)) return kExitInvalid;
  CacheStore store(CacheRoot(options.out_dir));
  CacheStore::PruneResult result = store.Prune(*age, options.dry_run);
  for (const auto& e : result.errors) fmt::print(stderr, "warning: {}\n", e);
  if (options.json) {
    fmt::print("{}\n", Json{{"removed", result.removed},
                            {"bytes", result.bytes},
                            {"dryRun", options.dry_run},
                            {"errors", result.errors},
                            {"cache", store.root()}}
                           .dump(2));
  } else {
    fmt::print("{} {} entr{} ({}) not used for {} from {}\n", options.dry_run ? "would remove" : "removed",
               result.removed, result.removed == 1 ? "y" : "ies", FormatBytes(result.bytes), FormatDuration(*age),
               store.root());
  }
  return result.errors.empty() ? kExitOk : kExitFailed;
}

}  // namespace comfyrun
