// SlurmRouting: which nodes of a run go to Slurm (slurm_routing.h).
#include "comfyrun/backends/slurm/slurm_routing.h"

#include <fmt/format.h>
#include <unistd.h>

#include "comfyrun/core/util.h"

namespace comfyrun {

std::string ComfyrunExecutablePath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("comfyrun");
}

bool IsSlurmSubmission(const Json& submission) {
  return submission.is_object() && submission.value("backend", "") == "slurm";
}

SlurmRouting::SlurmRouting(const Workflow& wf, std::unique_ptr<BackendSet> local, SlurmRoutingOptions options)
    : wf_(wf), local_(std::move(local)), options_(std::move(options)) {}

SlurmRouting::~SlurmRouting() { Shutdown(); }

bool SlurmRouting::Needed(const Workflow& wf, const SlurmRoutingOptions& options) {
  return options.all_process_nodes || !options.resumed_on_slurm.empty() || !wf.pool_executors.empty();
}

SlurmBackend* SlurmRouting::Slurm() {
  if (!slurm_) slurm_ = std::make_unique<SlurmBackend>(options_.backend);
  return slurm_.get();
}

Backend* SlurmRouting::For(const WorkflowNode& node, const NodeKind& kind, std::string* err) {
  bool runs_here = kind.mode() == NodeKind::Mode::kAsync || kind.runs_inline();
  auto pool = node.pool.empty() ? wf_.pool_executors.end() : wf_.pool_executors.find(node.pool);
  if (pool != wf_.pool_executors.end()) {
    if (runs_here) {
      // Remote generations already leave the machine, and inline values cost microseconds:
      // a Slurm job for either would only add a queue.
      *err = fmt::format(
          "node {} ({}) cannot run in Slurm pool {}: only shell, video_stitch, media_probe and other "
          "local work can",
          Quote(node.id), node.type, Quote(node.pool));
      return nullptr;
    }
    SlurmPoolSettings settings;
    settings.name = pool->first;
    settings.partition = pool->second.partition;
    settings.sbatch = pool->second.sbatch;
    return Slurm()->Pool(settings);
  }
  if (!runs_here && options_.resumed_on_slurm.count(node.id)) return Slurm();
  if (options_.all_process_nodes && kind.mode() == NodeKind::Mode::kProcess) return Slurm();
  return local_->For(node, kind, err);
}

void SlurmRouting::Wait(double seconds, int wake_fd) { local_->Wait(seconds, wake_fd); }

void SlurmRouting::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // Slurm first: its poller may still deliver results, which the local set's queue takes.
  if (slurm_) slurm_->Shutdown();
  if (local_) local_->Shutdown();
}

}  // namespace comfyrun
