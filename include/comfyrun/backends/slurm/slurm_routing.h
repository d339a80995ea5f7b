#pragma once
// SlurmRouting: the BackendSet of a run that has Slurm in it. Nodes whose pool runs on Slurm
// ("pools": {"heavy": {"executor": "slurm", ...}}), every process node under --executor
// slurm, and every node whose journaled submission is a Slurm job (resume re-attaches there
// whatever the flags say now) go to the Slurm backend; everything else to the local set
// (LocalBackends), which also does the executor's Wait.
#include <memory>
#include <set>
#include <string>

#include "comfyrun/backends/slurm/slurm_backend.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/backend.h"

namespace comfyrun {

struct SlurmRoutingOptions {
  bool all_process_nodes = false;  ///< --executor slurm
  /// Nodes with an open Slurm submission in the journal (resume): they go back to Slurm.
  std::set<std::string> resumed_on_slurm;
  SlurmBackendOptions backend;
};

class SlurmRouting : public BackendSet {
 public:
  /// `local` runs what does not go to Slurm; `wf` must outlive this set. The Slurm backend
  /// (its poller thread) starts only when a node first needs it.
  SlurmRouting(const Workflow& wf, std::unique_ptr<BackendSet> local, SlurmRoutingOptions options);
  ~SlurmRouting() override;

  Backend* For(const WorkflowNode& node, const NodeKind& kind, std::string* err) override;
  void Wait(double seconds, int wake_fd) override;
  void Shutdown() override;

  /// Whether this run needs a Slurm set at all: a Slurm pool, --executor slurm, or a Slurm
  /// job to re-attach to.
  static bool Needed(const Workflow& wf, const SlurmRoutingOptions& options);

 private:
  SlurmBackend* Slurm();

  const Workflow& wf_;
  std::unique_ptr<BackendSet> local_;
  SlurmRoutingOptions options_;
  std::unique_ptr<SlurmBackend> slurm_;
  bool shut_down_ = false;
};

/// The running comfyrun's own path (/proc/self/exe): what Slurm jobs run for exec-node.
std::string ComfyrunExecutablePath();

/// True when a journaled submission is a Slurm job's (slurm_backend.h writes them).
bool IsSlurmSubmission(const Json& submission);

}  // namespace comfyrun
