#pragma once
// What `comfyrun --version` prints. The version is project(VERSION) in CMakeLists.txt (the
// only place it is written); the commit is the git checkout's at configure time, when there
// is one.
#include <string>

namespace comfyrun {

/// "comfyrun 0.1.0 (git 7364f1b2c3d4)", or "comfyrun 0.1.0" when not built from a git checkout.
std::string VersionText();

/// The commit alone ("" when none).
std::string GitCommit();

}  // namespace comfyrun
