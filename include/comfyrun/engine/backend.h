#pragma once
// The seam between the executor and the places where work runs (ninja's CommandRunner,
// Snakemake's executor plugins). The executor decides *when* an attempt starts (dependencies,
// pools, budget, retries, timeouts) and journals what happens; a Backend decides *how* and
// *where* it runs, and owns whatever that mode shares between attempts: the worker threads,
// the child processes and their pipes, the HTTP event loop and the per-run resources remote
// kinds share over it (a ComfyUI server pool), a cluster's job table.
//
// The executor knows no backend by name. It asks a BackendSet which backend runs a node
// (by the node kind's mode, its pool's configuration, a command-line flag: the set's
// business) and talks to it only through this interface. A new place to run work (a Slurm
// cluster) is a new Backend and a new BackendSet routing rule, with no change to the executor.
//
// Threads: Start, Cancel and Wait are called on the executor thread and must not block
// (Wait blocks only as told). `done` may be called from any thread, exactly once per Start.
#include <functional>
#include <memory>
#include <string>

#include "comfyrun/engine/node_kind.h"
#include "comfyrun/engine/node_result.h"

namespace comfyrun {

struct WorkflowNode;

using AttemptDone = std::function<void(NodeResult)>;

class Backend {
 public:
  virtual ~Backend() = default;
  /// A short name for messages and metrics ("local", "process", "event-loop", "slurm").
  virtual const char* name() const = 0;
  /// Where its attempts run, as `--executor` names it: "local" (this machine) or a cluster
  /// ("slurm"). The journal's `where` of an attempt whose result has no NodeResult::where.
  virtual const char* executor() const { return "local"; }

  /// Starts one attempt of `kind`. ctx->node_dir is set but may not exist yet: the backend
  /// creates it where that is cheapest for its mode (a kind that runs inline writes nothing
  /// and gets none). `done` gets the attempt's result exactly once, from any thread, also when
  /// the attempt could not start.
  virtual void Start(NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done) = 0;

  /// Asks a started attempt to stop (timeout, Ctrl-C, --fail-fast). ctx->cancel_requested
  /// and ctx->detach_remote are already set. `done` still comes, normally with kCancelled;
  /// the executor stops waiting for it after a grace period.
  virtual void Cancel(NodeKind& kind, const std::shared_ptr<NodeContext>& ctx) = 0;

  /// Stops everything this backend still runs and joins its threads; after it, no `done`
  /// is called. Idempotent. Called once the run is over (also when it was interrupted).
  virtual void Shutdown() {}
};

/// The backends of one run, and which of them runs each node.
class BackendSet {
 public:
  virtual ~BackendSet() = default;

  /// The backend for `node`, whose implementation is `kind`; null with *err when the node
  /// cannot run here (its pool names a cluster that is not configured...). Executor thread.
  virtual Backend* For(const WorkflowNode& node, const NodeKind& kind, std::string* err) = 0;

  /// The executor's one wait: up to `seconds`, until `wake_fd` is readable (results posted by
  /// other threads) or a backend that works on the executor thread (child processes: their
  /// pipes, exits and kill deadlines) has handled something. Executor thread.
  virtual void Wait(double seconds, int wake_fd) = 0;

  /// Shuts every backend down (Backend::Shutdown), in an order that lets each stop cleanly.
  virtual void Shutdown() = 0;
};

}  // namespace comfyrun
