#include "comfyrun/run/layout.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "comfyrun/core/util.h"

namespace comfyrun {

std::string RunDirectory(const std::string& out_dir, const std::string& run_id) {
  return AbsolutePath(out_dir) + "/runs/" + run_id;
}
std::string DefaultJournalPath(const std::string& out_dir, const std::string& run_id) {
  return AbsolutePath(out_dir) + "/journals/" + run_id + ".jsonl";
}
std::string MetricsPath(const std::string& out_dir, const std::string& run_id) {
  return AbsolutePath(out_dir) + "/metrics/" + run_id + ".json";
}
std::string NewRunId(const std::string& workflow_id) {
  return fmt::format("{}-{}-{}", workflow_id, UtcStamp(), RandomHex(6));
}

bool IsPlainRunId(const std::string& run_id) {
  return !run_id.empty() && run_id != "." && run_id != ".." &&
         run_id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
             std::string::npos;
}

bool CheckPathArgument(const std::string& path, const std::string& what, std::string* err) {
  if (path.find_first_not_of(" \t\r\n\v\f") != std::string::npos) return true;
  *err = fmt::format("{} {}: an empty path names no directory or file; give one (for example {} .)", what, Quote(path),
                     what);
  return false;
}

bool PrepareOutputDirectory(const std::string& out_dir, std::string* err) {
  if (!CheckPathArgument(out_dir, "--out", err)) return false;
  for (const char* sub : {"runs", "journals", "metrics"})
    if (!MakeDirs(out_dir + "/" + sub, err)) return false;
  // A file created and removed: nothing to make durable (WriteFileAtomic's fsync and rename
  // cost 5-20 ms on every run and resume).
  std::string probe = out_dir + "/runs/.write-test-" + RandomHex(6);
  int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    *err = fmt::format("output directory {} is not writable: cannot create {}: {}", out_dir, probe, strerror(errno));
    return false;
  }
  close(fd);
  unlink(probe.c_str());
  return true;
}

}  // namespace comfyrun
