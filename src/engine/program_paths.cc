#include "comfyrun/engine/program_paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace comfyrun {
namespace {

// Keyed by $PATH too: a program found under one PATH says nothing about another.
std::string Key(const std::string& name) {
  const char* path_env = getenv("PATH");
  return (path_env ? path_env : "") + std::string(1, '\0') + name;
}

}  // namespace

std::string ProgramPaths::Find(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  std::string key = Key(name);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = found_.find(key);
    if (it != found_.end()) return it->second;
  }
  std::string path = key.substr(0, key.find('\0'));
  if (path.empty()) path = "/bin:/usr/bin";
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat sb {};
    if (stat(candidate.c_str(), &sb) == 0 && S_ISREG(sb.st_mode) && access(candidate.c_str(), X_OK) == 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      found_[key] = candidate;
      return candidate;
    }
    start = end + 1;
  }
  return "";
}

void ProgramPaths::Forget(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  found_.erase(Key(name));
}

ProgramPaths& Programs() {
  static ProgramPaths paths;
  return paths;
}

}  // namespace comfyrun
