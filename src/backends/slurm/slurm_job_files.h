#pragma once
// The files of one Slurm job, all under its node folder's slurm/ subfolder (shared with the
// cluster's nodes): the job script, the program's stdin and stdout, the exit code the script
// writes, the claim that keeps a repeated submission from running the program twice, and the
// job's log (stderr of the program and anything Slurm says), one per job id.
// Internal to src/backends/slurm.
#include <optional>
#include <string>
#include <string_view>

#include "comfyrun/engine/node_kind.h"

namespace comfyrun::slurm {

struct JobFiles {
  std::string dir;  ///< <node_dir>/slurm
  std::string script;
  std::string stdin_path;
  std::string stdout_path;
  std::string exit_path;
  std::string claim;
  std::string log_pattern;  ///< sbatch --output: <dir>/job-%j.log
  std::string Log(const std::string& job_id) const { return dir + "/job-" + job_id + ".log"; }
};

/// A job name unique to the run, node and attempt (a random tail: a resumed run may reuse
/// an attempt number); only [A-Za-z0-9._-].
std::string MakeJobName(const NodeContext& ctx);
JobFiles FilesFor(const std::string& node_dir, const std::string& job_name);

/// Writes the script and stdin of a job that runs `spec` (creating the folder). False with *err.
bool WriteJobFiles(const ProcessSpec& spec, const NodeContext& ctx, const std::string& job_name, const JobFiles& files,
                   std::string* err);

/// POSIX sh single-quoting.
std::string ShellQuote(std::string_view s);
/// The last `max_bytes` of a file ("" when it cannot be read).
std::string ReadTail(const std::string& path, size_t max_bytes);
/// At most the first `max_bytes` of a file; *truncated when there was more.
std::string ReadHead(const std::string& path, size_t max_bytes, bool* truncated);
/// The last `n` non-empty lines of text, joined by "\n".
std::string LastLines(std::string_view text, int n);
/// The exit code the job script wrote, if it did.
std::optional<int> ReadExitCode(const std::string& path);

/// The exit code job scripts use when the node folder is not visible on the cluster node.
constexpr int kFolderNotVisibleExit = 97;

}  // namespace comfyrun::slurm
