// `comfyrun schema`: prints the workflow JSON Schema (schema/workflow_schema.h).
#include <fmt/format.h>

#include <cstdio>

#include "comfyrun/cli/cli.h"
#include "comfyrun/core/util.h"
#include "comfyrun/schema/workflow_schema.h"

namespace comfyrun {

int SchemaCommand(const SchemaOptions& options) {
  std::string text = WorkflowSchema().dump(2) + "\n";
  if (options.output.empty() || options.output == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0 ? kExitOk : kExitFailed;
  }
  std::string err;
  if (!WriteFileAtomic(options.output, text, &err)) {
    fmt::print(stderr, "comfyrun schema: cannot write {}: {}\n", options.output, err);
    return kExitInvalid;
  }
  return kExitOk;
}

}  // namespace comfyrun
