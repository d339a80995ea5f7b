#pragma once
// posix_spawnp's PATH search, remembered per program name like a shell's hash table:
// spawnp tries execve in each PATH folder before the one that has the program (9 failed
// execs for every `true` here). A remembered path that stops working is forgotten and the
// spawn falls back to posix_spawnp (engine/process_runner.cc). Thread-safe.
#include <mutex>
#include <string>
#include <unordered_map>

namespace comfyrun {

class ProgramPaths {
 public:
  /// The path to run for `name`: `name` itself when it has a '/', else the first executable
  /// regular file in $PATH, else "" (not found: posix_spawnp searches and reports it).
  std::string Find(const std::string& name);
  /// Drops what Find remembered for `name` (under the current $PATH).
  void Forget(const std::string& name);

 private:
  std::mutex mutex_;                                    // guards found_
  std::unordered_map<std::string, std::string> found_;  // "$PATH\0name" -> path
};

/// The process-wide table.
ProgramPaths& Programs();

}  // namespace comfyrun
