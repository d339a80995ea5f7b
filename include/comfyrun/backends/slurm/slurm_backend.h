#pragma once
// SlurmBackend: runs node attempts as Slurm batch jobs, and finds them again after comfyrun
// itself died (docs/slurm.md).
//
// Process kinds (shell) run their argv (NodeKind::DescribeProcess) in a job script; blocking
// kinds (video_stitch, media_probe) run `comfyrun exec-node SPEC` on the cluster node. Either
// way the job writes into the node folder, which must be on a filesystem the cluster's nodes
// share with this machine; the backend reads the result back from there.
//
// Journal discipline (the crash story): for a new attempt the job name (unique to run, node
// and attempt) is journaled, durably, before sbatch runs, and the job id right after. An
// attempt that finds a Slurm submission in ctx->submission (resume, or a retry after a
// detach) adopts that job by its id, or by its name when the crash came between sbatch and
// the id's record, and never submits it again. If the name is unknown to Slurm, the job is
// submitted under the same name; the job script's claim (an atomic mkdir in the node folder)
// keeps the program from running twice should an sbatch of the dead process land after all.
//
// Threads: one poller thread owns the job table and makes every Slurm call: submissions,
// one `squeue -t all` per poll interval for all jobs, scancel. Start and Cancel only queue
// work for it.
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "comfyrun/backends/slurm/slurm_client.h"
#include "comfyrun/engine/backend.h"

namespace comfyrun {

/// One Slurm pool of a workflow ("pools": {"heavy": {"executor": "slurm", ...}}), or the
/// default one of --executor slurm.
struct SlurmPoolSettings {
  std::string name;                 ///< "" for --executor slurm
  std::string partition;            ///< "" = the cluster's default partition
  std::vector<std::string> sbatch;  ///< extra sbatch options, after comfyrun's own (they win)
};

struct SlurmBackendOptions {
  SlurmClientOptions client;
  double poll_interval = 2.0;  ///< seconds between two squeue calls
  /// The comfyrun binary the cluster node runs for exec-node (blocking kinds); it must be
  /// at this path there too.
  std::string comfyrun_path;
};

class SlurmBackend : public Backend {
 public:
  explicit SlurmBackend(SlurmBackendOptions options);
  ~SlurmBackend() override;
  SlurmBackend(const SlurmBackend&) = delete;
  SlurmBackend& operator=(const SlurmBackend&) = delete;

  const char* name() const override { return "slurm"; }
  const char* executor() const override { return "slurm"; }
  /// Starts in the default pool (--executor slurm).
  void Start(NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done) override;
  void Cancel(NodeKind& kind, const std::shared_ptr<NodeContext>& ctx) override;
  void Shutdown() override;

  /// The backend for one named pool: the same poller and job table, that pool's sbatch
  /// options. Owned by this backend; valid until it is destroyed.
  Backend* Pool(const SlurmPoolSettings& pool);

  /// Starts in `pool`.
  void StartIn(const SlurmPoolSettings& pool, NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done);

  /// For tests and doctor: the client this backend uses.
  const SlurmClient& client() const { return client_; }
  /// Slurm calls made so far: sbatch and squeue ones (tests check one squeue per interval).
  int submissions() const;
  int polls() const;

 private:
  struct Job;
  class PoolBackend;

  void Loop();
  void Begin(const std::shared_ptr<Job>& job);
  void Submit(const std::shared_ptr<Job>& job, bool new_name);
  void Poll();
  void Finish(const std::shared_ptr<Job>& job, const SlurmJobInfo& info);
  void Deliver(const std::shared_ptr<Job>& job, NodeResult result);
  void HandleCancel(const std::shared_ptr<Job>& job);

  SlurmBackendOptions options_;
  SlurmClient client_;
  SlurmPoolSettings default_pool_;
  std::vector<std::unique_ptr<PoolBackend>> pools_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::vector<std::shared_ptr<Job>> incoming_;  // started, not yet seen by the poller
  std::vector<std::shared_ptr<Job>> cancels_;   // Cancel() calls not yet handled
  std::map<NodeContext*, std::shared_ptr<Job>> by_ctx_;
  int submissions_ = 0;
  int polls_ = 0;
  std::thread thread_;

  // Poller thread only.
  std::vector<std::shared_ptr<Job>> waiting_;  // submitted or adopted, not finished
  std::set<std::string> cancelled_by_us_;      // job ids we scancelled (a retry must not adopt them)
};

}  // namespace comfyrun
