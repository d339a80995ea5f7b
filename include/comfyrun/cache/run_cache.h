#pragma once
// The output cache as one run uses it (docs/cache.md): which nodes take part, and the two
// hooks of the executor — look up before an attempt starts, store after it succeeded.
//
// Which nodes take part (the first rule that applies):
//   1. --no-cache: none.
//   2. Kinds that run inline (value): never; running them is cheaper than a lookup.
//   3. The node's "cache" (or the workflow's "defaults": {"cache": ...}): as it says.
//   4. --cache: every other node.
//   5. Otherwise none: caching is opt-in for every type, deterministic ones included.
// A node re-attaching to a remote job it already submitted (resume) is not looked up: that
// generation is paid for, and its result is on the way. It is stored when it arrives.
#include <functional>
#include <optional>
#include <string>

#include "comfyrun/cache/key.h"
#include "comfyrun/cache/store.h"
#include "comfyrun/core/template.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/node_kind.h"
#include "comfyrun/engine/node_result.h"

namespace comfyrun {

/// What --cache / --no-cache asked for.
enum class CacheMode {
  kWorkflow,  ///< neither: the workflow's "cache" settings decide
  kOn,        ///< --cache: every node the workflow does not exclude
  kOff,       ///< --no-cache: no lookup, no store
};
/// "workflow", "on", "off" (the journal header's options.cache).
const char* CacheModeName(CacheMode mode);
/// The reverse of CacheModeName; false for anything else.
bool ParseCacheMode(const std::string& name, CacheMode* out);

/// Owned and called by the executor's thread only.
class RunCache {
 public:
  using Warn = std::function<void(const std::string&)>;
  /// `cache_root` is <out>/cache (absolute); `run_dir` the run's folder; `warn` receives
  /// one line per unusable entry or failed store (the run goes on either way).
  RunCache(std::string cache_root, CacheMode mode, bool offline, std::string run_dir, Warn warn);

  /// Whether `node` (run by `kind`) uses the cache in this run (rules above).
  bool Enabled(const WorkflowNode& node, const NodeKind& kind) const;

  enum class Use {
    kFetch,    ///< compute the key and look it up
    kKeyOnly,  ///< compute the key only (for Store): the node re-attaches to a paid job
  };
  /// Computes the node's key (into *key; "" when its inputs cannot be resolved) and, with
  /// kFetch, looks it up. On a hit the files are in `node_dir` and the result has cost 0, the
  /// stored provider and model, and its "cost" output (generation types) set to 0.
  std::optional<NodeResult> Lookup(const WorkflowNode& node, const RootLookup& lookup, const std::string& node_dir,
                                   Use use, std::string* key);

  /// Stores a successful result under `key` (from Lookup). A failure is a warning.
  void Store(const std::string& key, const WorkflowNode& node, const NodeResult& result, const std::string& node_dir);

  CacheStore& store() { return store_; }

 private:
  CacheStore store_;
  CacheMode mode_;
  bool offline_;
  std::string run_dir_;
  Warn warn_;
  FileHasher hasher_;
};

}  // namespace comfyrun
