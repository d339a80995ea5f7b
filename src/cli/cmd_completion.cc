// completion: prints the bash or zsh completion script (export/completion.h), generated from
// the CLI's own description so that it always matches this binary.
#include <fmt/format.h>

#include "comfyrun/cli/cli.h"
#include "comfyrun/cli/commands.h"
#include "comfyrun/export/completion.h"

namespace comfyrun {

int CompletionCommand(const CompletionOptions& cli, const CliSpec& spec) {
  if (cli.shell == "bash")
    fmt::print("{}", BashCompletion(spec));
  else if (cli.shell == "zsh")
    fmt::print("{}", ZshCompletion(spec));
  else {
    fmt::print(stderr, "comfyrun completion: unknown shell '{}' (bash or zsh)\n", cli.shell);
    return kExitInvalid;
  }
  return kExitOk;
}

}  // namespace comfyrun
