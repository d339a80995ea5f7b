#include "comfyrun/cli.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "comfyrun/commands.h"

// Implementation details: CLI11 is used only here (its exceptions never leave this file).
// Every subcommand parses into an options struct and calls one function from commands.h.

namespace comfyrun {

int RunCli(int argc, char** argv) {
  CLI::App app{
      "comfyrun: run AI content-generation workflows (Gemini image, Veo, Sora, ComfyUI, FFmpeg)\n"
      "as a DAG, in parallel, with a crash-safe journal so that resume never pays twice.",
      "comfyrun"};
  app.set_version_flag("--version", std::string("comfyrun ") + COMFYRUN_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 success; 1 a node failed; 2 invalid input (nothing run or spent); 130 interrupted.\n"
      "Run `comfyrun COMMAND --help` for a command's options. Docs: README.md.");

  ValidateOptions validate;
  auto* validate_cmd = app.add_subcommand("validate", "check workflows without running anything; exit 0 valid, 2 invalid");
  validate_cmd->add_option("files", validate.files, "workflow files")->required();
  validate_cmd->add_option("-p,--param", validate.params, "NAME=VALUE for <<params.NAME>> (repeatable)");
  validate_cmd->add_flag("--json", validate.json, "print the diagnostics as JSON on stdout");

  PlanOptions plan;
  auto* plan_cmd = app.add_subcommand("plan", "show stages (what runs in parallel), critical path and estimated cost");
  plan_cmd->add_option("file", plan.file, "workflow file")->required();
  plan_cmd->add_option("-p,--param", plan.params, "NAME=VALUE (repeatable)");
  plan_cmd->add_flag("--json", plan.json, "print the plan as JSON");
  plan_cmd->add_flag("--dot", plan.dot, "print the graph in Graphviz DOT (render: comfyrun plan F --dot | dot -Tsvg)");
  plan_cmd->add_flag("--offline", plan.offline, "estimate as --offline would run it (cost 0)");

  NodesOptions nodes;
  auto* nodes_cmd = app.add_subcommand("nodes", "list node types with their inputs and outputs");
  nodes_cmd->add_option("type", nodes.type, "show one type in full");
  nodes_cmd->add_flag("--json", nodes.json, "print as JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitInvalid;
  }
  if (*validate_cmd) return ValidateCommand(validate);
  if (*plan_cmd) return PlanCommand(plan);
  if (*nodes_cmd) return NodesCommand(nodes);
  return kExitInvalid;
}

}  // namespace comfyrun
