#pragma once
// SlurmClient: the Slurm command-line tools (sbatch, squeue, scontrol, scancel, sacct) as
// calls that return what they said. No state of its own beyond its options: the backend
// (slurm_backend.h) decides when to call what.
//
// Why the command-line tools and not libslurm: the tools are what every Slurm site has and
// keeps compatible across versions; libslurm's ABI changes with each release.
//
// Every call blocks (a subprocess, bounded by `command_timeout`); the backend makes them on
// its own poller thread, never on the executor thread.
#include <map>
#include <string>
#include <vector>

#include "comfyrun/core/error_type.h"

namespace comfyrun {

struct SlurmJobInfo {
  std::string id;
  std::string name;
  std::string state;      ///< squeue %T: PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, ...
  std::string reason;     ///< squeue %r: why pending, or why it ended (NonZeroExitCode, ...)
  std::string nodes;      ///< squeue %N: where it runs or ran ("" while pending)
  std::string exit_code;  ///< sacct's ExitCode ("3:0": code, signal); "" from squeue
};

struct SlurmClientOptions {
  /// Folder of the Slurm tools; "" = found in PATH.
  std::string bin_dir;
  /// Seconds one tool may take before it is killed and the call fails.
  double command_timeout = 60;
};

/// What a Slurm job state means for the attempt that submitted it.
struct SlurmStateMeaning {
  bool terminal = false;               ///< the job will not change any more
  bool succeeded = false;              ///< COMPLETED
  ErrorType error = ErrorType::kNone;  ///< when terminal and not succeeded
  bool retryable = false;              ///< PREEMPTED, NODE_FAIL, BOOT_FAIL: another try may work
};
SlurmStateMeaning InterpretSlurmState(const std::string& state);

/// Parses squeue output in SlurmClient's format ("id|name|state|reason|nodes" per line).
std::vector<SlurmJobInfo> ParseSqueueLines(const std::string& text);

/// Parses `sacct -X --parsable2 --noheader --format=JobIDRaw,JobName,State,ExitCode,NodeList`
/// ("id|name|state|code:signal|nodes" per line; "None assigned" for a job that never ran).
/// A job requeued or listed twice (sacct keeps every record of an id in the time window)
/// counts by its last line.
std::vector<SlurmJobInfo> ParseSacctLines(const std::string& text);

/// Whether `scontrol show config` says the cluster keeps accounting (its
/// AccountingStorageType is set and not accounting_storage/none).
bool AccountingConfigured(const std::string& scontrol_show_config);

class SlurmClient {
 public:
  explicit SlurmClient(SlurmClientOptions options = {});

  /// `sbatch --parsable ARGS... SCRIPT`; *job_id is the id it printed.
  bool Submit(const std::vector<std::string>& args, const std::string& script, std::string* job_id,
              std::string* err) const;
  /// Every job of ours Slurm still lists, finished ones too (`squeue -t all`, one call):
  /// id -> info. Finished jobs stay listed for MinJobAge seconds (slurm.conf).
  bool QueryAll(std::map<std::string, SlurmJobInfo>* jobs, std::string* err) const;
  /// The jobs of ours named `name` (`squeue -t all --name`), in submission order.
  bool FindByName(const std::string& name, std::vector<SlurmJobInfo>* jobs, std::string* err) const;
  /// Whether the cluster keeps accounting (`scontrol show config`, asked once per client and
  /// remembered); false with *err when scontrol cannot say.
  bool HasAccounting(bool* yes, std::string* err) const;
  /// Jobs squeue no longer lists (finished more than MinJobAge ago), from accounting: one
  /// `sacct` call for all `ids` of the last 7 days, id -> info. Jobs accounting does not know
  /// are left out. Only call it when HasAccounting says yes.
  bool FromAccounting(const std::vector<std::string>& ids, std::map<std::string, SlurmJobInfo>* jobs,
                      std::string* err) const;
  /// The jobs named `name` that accounting knows (`sacct --name`, last 7 days), in
  /// submission order.
  bool FindByNameInAccounting(const std::string& name, std::vector<SlurmJobInfo>* jobs, std::string* err) const;
  /// `scancel ID`.
  bool Cancel(const std::string& id, std::string* err) const;
  /// `sinfo`: the partitions and their state, for `comfyrun doctor`.
  bool Info(std::string* text, std::string* err) const;

  /// Runs one tool: its exit code (or -1 with *err when it could not run or took too long).
  int Run(const std::string& tool, const std::vector<std::string>& args, std::string* out, std::string* err) const;

 private:
  SlurmClientOptions options_;
  mutable int accounting_ = -1;  ///< HasAccounting's answer: -1 not asked yet, 0 no, 1 yes (poller thread)
};

}  // namespace comfyrun
