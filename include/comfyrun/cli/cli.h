#pragma once
// The command line (DESIGN.md §1). Exit codes:
//   0 success; 1 the run finished but a node failed (or no A/B variant succeeded);
//   2 bad command line or invalid input, nothing run or spent; 130 interrupted by a signal.
#include <string>
#include <vector>

namespace comfyrun {

enum ExitCode : int { kExitOk = 0, kExitFailed = 1, kExitInvalid = 2, kExitInterrupted = 130 };

/// Parses argv and runs the chosen command; returns the process exit code.
int RunCli(int argc, char** argv);

}  // namespace comfyrun
