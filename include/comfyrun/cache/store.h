#pragma once
// The output cache on disk (docs/cache.md): one entry per key, shared by every comfyrun
// process that uses the same --out directory.
//
// Layout (format 1), below the cache root (<out>/cache):
//   <key[0:2]>/<key>/manifest.json     what the entry holds (below)
//   <key[0:2]>/<key>/files/<rel>       the node's files, <rel> relative to its node folder
//   tmp/                               entries being written, and entries being deleted
// manifest.json:
//   {"format":1, "key", "type", "typeVersion", "provider", "model", "cost" (USD the original
//    run paid), "createdAt" (unix ms), "comfyrun" (version), "node" (id it was made by),
//    "outputs" (the node's outputs; its folder written "${node.dir}", the run's "${run.dir}"),
//    "files":[{"path": rel, "size": bytes, "sha256": hex}], "dirs":[rel, ...]}
// The manifest's mtime is the entry's last use (set when stored, refreshed on every hit);
// `cache prune --older-than` goes by it.
//
// Writing is atomic: an entry is built in tmp/ (files hard-linked from the node folder, or
// copied when that is not possible) and renamed into place in one rename(2). Of two processes
// storing the same key, one rename wins and the other finds a valid entry (manifest, sizes and
// SHA-256 check out) and drops its own: both succeed. An entry found unusable in place is
// moved aside and replaced. An entry is never changed after the rename, so readers need no
// lock.
// Reading trusts nothing: a bad manifest, a missing file, or a file whose size or SHA-256
// differs from the manifest (a hard-linked copy edited in a run folder, a disk error) makes
// the entry a miss with a warning, never a crash. Data files are not fsynced: a torn entry
// after an OS crash fails that check and is replaced by the next store.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "comfyrun/cache/key.h"
#include "comfyrun/core/json.h"

namespace comfyrun {

/// What an entry holds, as read from its manifest.
struct CacheEntryInfo {
  std::string key;
  std::string type, provider, model, node;
  int type_version = 0;
  double cost = 0;  ///< what the run that made it paid (USD)
  int64_t created_ms = 0;
  int64_t last_used_ms = 0;  ///< the manifest's mtime
  uint64_t bytes = 0;        ///< sum of the files' sizes
  size_t files = 0;
  std::string problem;  ///< non-empty: the manifest cannot be used (why)
};

/// A node's successful result to store.
struct CacheRecord {
  std::string type;
  int type_version = 1;
  std::string node;  ///< node id, for `cache ls`
  std::string provider, model;
  double cost = 0;
  Json outputs;  ///< as the node returned them
};

/// What a hit gives back; the files are already in the node folder.
struct CacheHit {
  Json outputs;  ///< paths rewritten to the new node and run folders
  std::string provider, model;
  double original_cost = 0;  ///< what the stored run paid; the hit costs nothing
};

class CacheStore {
 public:
  /// `root` is the cache directory (<out>/cache); it is created on the first store.
  explicit CacheStore(std::string root) : root_(std::move(root)) {}

  /// Stores `record` under `key`, taking every regular file below `node_dir` (except *.part
  /// downloads); strings of the outputs that contain `node_dir` or `run_dir` are rewritten to
  /// placeholders. True when a valid entry for the key exists afterwards (ours or another
  /// process's). False with *err when nothing could be stored (disk full, an output naming
  /// something in the folder that is neither a file nor a directory, such as a symlink).
  bool Put(const std::string& key, const CacheRecord& record, const std::string& node_dir, const std::string& run_dir,
           FileHasher* hasher, std::string* err);

  /// Looks `key` up. On a hit, links (or copies) the entry's files into `node_dir`, checks
  /// their sizes and SHA-256 against the manifest, and returns the outputs rewritten to
  /// `node_dir` / `run_dir`. nullopt on a miss; *warning is set when an entry existed but was
  /// unusable (any file restored from it is removed again).
  std::optional<CacheHit> Fetch(const std::string& key, const std::string& node_dir, const std::string& run_dir,
                                FileHasher* hasher, std::string* warning);

  /// Every entry, newest use first; entries whose manifest is unusable have `problem` set.
  std::vector<CacheEntryInfo> List() const;

  struct PruneResult {
    size_t removed = 0;
    uint64_t bytes = 0;  ///< from the removed entries' manifests
    std::vector<std::string> errors;
  };
  /// Removes entries not used for `older_than_seconds` (by manifest mtime; unusable entries
  /// by their folder's mtime), and leftovers in tmp/ older than an hour (a writer that
  /// crashed). With `dry_run`, counts what would go and removes nothing. An entry is first
  /// renamed into tmp/, so that readers never see it half-deleted.
  PruneResult Prune(double older_than_seconds, bool dry_run) const;

  const std::string& root() const { return root_; }
  /// <root>/<key[0:2]>/<key>
  std::string EntryDir(const std::string& key) const;

 private:
  std::string root_;
};

}  // namespace comfyrun
