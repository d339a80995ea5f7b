// --version (comfyrun/cli/version.h). The commit comes from the generated comfyrun_build_info.h,
// included here only, so that a new commit recompiles this file alone.
#include "comfyrun/cli/version.h"

#include "comfyrun_build_info.h"

namespace comfyrun {

std::string GitCommit() { return COMFYRUN_GIT_COMMIT; }

std::string VersionText() {
  std::string text = std::string("comfyrun ") + COMFYRUN_VERSION;
  if (!GitCommit().empty()) text += " (git " + GitCommit() + ")";
  return text;
}

}  // namespace comfyrun
