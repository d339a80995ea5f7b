// `comfyrun exec-node SPEC`: runs one node attempt from a spec file and writes its result
// JSON. The Slurm backend (backends/slurm/slurm_backend.h) submits it as a batch job for the
// node kinds that run on a worker thread at home (video_stitch, media_probe): the work runs on
// the cluster node, the files land in the node folder on the shared filesystem, and comfyrun
// reads the result back from there.
//
// The spec: {"type", "runId", "nodeId", "attempt", "nodeDir", "runDir", "inputs", "result"}.
// The result: {"error": "None"|ErrorType name, "message", "outputs", "details", "cost"}.
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "comfyrun/cli/cli.h"
#include "comfyrun/core/config.h"
#include "comfyrun/core/error_type.h"
#include "comfyrun/core/util.h"
#include "comfyrun/engine/node_kind.h"
#include "comfyrun/providers/provider.h"
#include "command_registry.h"

namespace comfyrun {
namespace {

struct ExecNodeOptions {
  std::string spec;
};

int ExecNodeCommand(const ExecNodeOptions& options) {
  std::string text;
  std::string err;
  if (!ReadFile(options.spec, &text, &err)) {
    fmt::print(stderr, "comfyrun exec-node: cannot read {}: {}\n", options.spec, err);
    return kExitInvalid;
  }
  Json spec = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object() || !spec.contains("type") || !spec["type"].is_string() || !spec.contains("result") ||
      !spec["result"].is_string() || !spec.contains("nodeDir") || !spec["nodeDir"].is_string()) {
    fmt::print(stderr, "comfyrun exec-node: {} is not a node spec (type, nodeDir, result and inputs)\n", options.spec);
    return kExitInvalid;
  }
  std::string result_path = spec["result"].get<std::string>();
  NodeContext ctx;
  ctx.type = spec["type"].get<std::string>();
  ctx.run_id = spec.value("runId", "");
  ctx.node_id = spec.value("nodeId", "");
  ctx.attempt = spec.value("attempt", 1);
  ctx.node_dir = spec["nodeDir"].get<std::string>();
  ctx.run_dir = spec.value("runDir", "");
  ctx.inputs = spec.contains("inputs") ? spec["inputs"] : Json::object();
  Config config = Config::FromEnvironment(ProviderConfigVariables());
  ctx.config = &config;
  NodeResult r;
  NodeKind* kind = FindNodeKind(ctx.type);
  if (!kind || kind->mode() != NodeKind::Mode::kBlocking) {
    r = NodeResult::Failure(ErrorType::kInvalidInput,
                            fmt::format("node type {} cannot run through exec-node", Quote(ctx.type)));
  } else if (!MakeDirs(ctx.node_dir, &err)) {
    r = NodeResult::Failure(ErrorType::kExecution, err);
  } else {
    try {
      r = kind->Run(ctx);
    } catch (const std::exception& e) {
      r = NodeResult::Failure(ErrorType::kInternal, e.what());
    }
  }
  Json out = {{"error", ErrorTypeName(r.error)},
              {"message", Redactor::Redact(r.message)},
              {"outputs", r.outputs},
              {"details", r.details},
              {"cost", r.cost},
              {"provider", r.provider},
              {"model", r.model}};
  if (!WriteFileAtomic(result_path, out.dump(2) + "\n", &err)) {
    fmt::print(stderr, "comfyrun exec-node: cannot write {}: {}\n", result_path, err);
    return kExitFailed;
  }
  if (!r.ok()) fmt::print(stderr, "comfyrun exec-node: {} {}: {}\n", ctx.node_id, ErrorTypeName(r.error), r.message);
  return r.ok() ? kExitOk : kExitFailed;
}

}  // namespace

void AddExecNodeCommand(CommandRegistry& registry) {
  auto options = registry.Options<ExecNodeOptions>();
  CLI::App* cmd = registry.Add("exec-node", "run one node attempt from a spec file (what Slurm jobs run)",
                               [options] { return ExecNodeCommand(*options); });
  cmd->add_option("spec", options->spec, "the node's spec file (JSON), written by the Slurm backend")
      ->required()
      ->type_name("FILE");
  registry.Manual(cmd,
                  {"Runs one attempt of a node from a spec file and writes its result as JSON next to it. The Slurm "
                   "backend submits `comfyrun exec-node SPEC` as a batch job for video_stitch and media_probe nodes "
                   "in a Slurm pool: the work runs on the cluster node and its files go into the node folder, "
                   "which must be on a filesystem shared with the machine that runs comfyrun (docs/slurm.md). "
                   "Not meant to be run by hand.",
                   {{"0", "the node succeeded (result written)"},
                    {"1", "the node failed (result written), or the result could not be written"},
                    {"2", "SPEC cannot be read or is not a node spec"}},
                   {{"comfyrun exec-node generated/runs/RUN/stitch/slurm/cr-RUN-stitch-a1-0a1b2c.spec.json",
                     "what a Slurm job of a video_stitch node runs on its cluster node"}},
                   "comfyrun run, docs/slurm.md"});
}

}  // namespace comfyrun
