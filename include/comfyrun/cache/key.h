#pragma once
// Cache keys (docs/cache.md): what makes two node runs "the same generation".
//
// A key is the hex SHA-256 of the canonical JSON text of a key document:
//   {"cache": 1, "type": canonical type name, "typeVersion": NodeTypeSpec::version,
//    "model": resolved model id or null, "offline": bool, "inputs": {...}}
// where "inputs" are the node's inputs with templates resolved and defaults filled in, and:
//   - every string that is the path of an existing regular file (a file given by the user, or
//     one produced by an earlier node, at any depth, also inside a longer string when it came
//     in through a template) is replaced by "file:sha256:<hex of its content>": a changed file
//     with the same name changes the key, and the same content at another path does not;
//   - the absolute path of the run folder, wherever it is left, becomes "${run.dir}", so the
//     key is the same for every run and every machine.
// Nothing else enters a key: no API key, endpoint, retry or timeout setting, and no path of
// the output directory. A `seed` input is part of the key like any other input.
//
// Canonical JSON: no whitespace; object members sorted by the bytes of their names; strings
// byte for byte with only '"', '\\' and control characters (as \u00XX) escaped; a number with
// an integral value written as an integer (8 and 8.0 are the same), others in the shortest
// form that reads back to the same double. It is stable across processes and machines.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>

#include "comfyrun/core/json.h"
#include "comfyrun/core/node_type.h"
#include "comfyrun/core/template.h"

namespace comfyrun {

/// Version of the key document and entry layout; part of every key, so a change of either
/// makes old entries unreachable (and `cache prune` removes them in time).
constexpr int kCacheFormat = 1;

/// The canonical JSON text of `value` (see above).
std::string CanonicalJson(const Json& value);

/// Hex SHA-256 and size of a file's content, read in chunks. False with *err when it cannot
/// be read.
bool Sha256File(const std::string& path, std::string* hex, uint64_t* size, std::string* err);

/// Hashes file contents and remembers each result by path, device, inode, size and mtime, so
/// that a file read once (an output stored in the cache, an input of many nodes) is not read
/// again while it is unchanged. Not thread-safe: the executor thread owns it.
class FileHasher {
 public:
  /// The hex SHA-256 of the regular file at `path` (relative to the working directory or
  /// absolute), or nullopt when `path` names no regular file or it cannot be read.
  std::optional<std::string> Hash(const std::string& path);
  /// The same, but always reads the file (to verify it), and remembers the result.
  std::optional<std::string> Rehash(const std::string& path);
  /// Number of files actually read (for tests: a remembered file is not read again).
  uint64_t files_read() const { return files_read_; }

 private:
  struct Known {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0;
    std::string sha256;
  };
  std::optional<std::string> Read(const std::string& path, bool trust_known);
  std::unordered_map<std::string, Known> known_;
  uint64_t files_read_ = 0;
};

/// What a key is computed from.
struct CacheKeyInputs {
  const NodeTypeSpec* spec = nullptr;  ///< the node's type (canonical name, version, defaults)
  const Json* inputs = nullptr;        ///< the node's inputs as written (with templates)
  RootLookup lookup;                   ///< what the executor resolves templates with
  std::string run_dir;                 ///< absolute; replaced by "${run.dir}"
  /// Resolves the "model" input (an alias) to the model id it stands for today, so that a
  /// re-pointed alias misses; empty: the input is keyed as written.
  std::function<std::string(const std::string& alias)> resolve_model;
  bool offline = false;  ///< --offline: placeholder media, never mixed with real
};

/// Builds the key document. False with *err when a template cannot be resolved (the node will
/// fail to start for the same reason).
bool BuildCacheKeyDocument(const CacheKeyInputs& in, FileHasher* hasher, Json* doc, std::string* err);

/// The key of a key document: hex SHA-256 of its canonical JSON.
std::string CacheKeyOf(const Json& doc);

/// In every string of `value` (at any depth), replaces `from` by `to` where `from` is a whole
/// path: followed by the end, '/' or a character that cannot continue a file name, so that
/// ".../runs/r1" is not replaced inside ".../runs/r10".
void ReplacePathInStrings(Json* value, const std::string& from, const std::string& to);

}  // namespace comfyrun
