#pragma once
// One function per command, called by the CLI (cli.cc) with parsed options. Each returns an
// exit code (cli.h) and writes machine output to stdout, messages to stderr.
#include <string>
#include <vector>

#include "comfyrun/workflow.h"

namespace comfyrun {

struct ValidateOptions {
  std::vector<std::string> files;
  std::vector<std::string> params;
  bool json = false;
};
int ValidateCommand(const ValidateOptions& options);

struct PlanOptions {
  std::string file;
  std::vector<std::string> params;
  bool json = false;
  bool dot = false;
  bool offline = false;
};
int PlanCommand(const PlanOptions& options);

struct NodesOptions {
  std::string type;  ///< "" = all
  bool json = false;
};
int NodesCommand(const NodesOptions& options);

/// Prints diagnostics to stderr, errors last so they stay visible.
void PrintDiagnostics(const std::vector<Diagnostic>& diags);

/// Parses --param arguments; adds errors to diags.
std::vector<ParamOverride> ParseParamArguments(const std::vector<std::string>& args, std::vector<Diagnostic>* diags);

}  // namespace comfyrun
