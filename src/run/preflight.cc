// Preflight (run/session.h): the checks made before a run spends anything.
#include "comfyrun/providers/preflight.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "comfyrun/core/plan_report.h"
#include "comfyrun/media/module.h"
#include "comfyrun/providers/models.h"
#include "comfyrun/run/session.h"

namespace comfyrun {

bool Preflight(const Workflow& wf, const RunOptions& options, std::string* err) {
  if (!CheckRunConfiguration(wf, options.config, err)) return false;  // URLs, ComfyUI server (providers/preflight.h)
  if (!options.config.offline) {
    std::vector<std::string> missing = MissingProviderKeys(wf, options.config);
    if (!missing.empty()) {
      *err = fmt::format("missing API keys; nothing was run:\n  {}", fmt::join(missing, "\n  "));
      return false;
    }
  }
  std::string catalog_error;
  ActiveModelCatalog(&catalog_error);
  if (!catalog_error.empty()) {
    *err = catalog_error;
    return false;
  }
  // A generation whose image or video cannot be checked (no media module) would fail after it
  // was paid for, and its retry would pay again: without the module, nothing starts.
  for (const auto& node : wf.nodes)
    if (node.spec && media::NodeTypeNeedsModule(node.spec->name)) {
      std::string module_error;
      if (!media::LoadModule(&module_error)) {
        *err = fmt::format("node {} ({}) needs the media module; nothing was run: {}", node.id, node.spec->name,
                           module_error);
        return false;
      }
      break;
    }
  if (options.max_cost >= 0) {
    PlanReport plan = BuildPlanReport(wf, options.config.offline);
    if (plan.total_cost > options.max_cost + 1e-9) {
      *err = fmt::format(
          "the estimated cost ${:.2f} is above --max-cost ${:.2f}; nothing was run "
          "(see `comfyrun plan {}`)",
          plan.total_cost, options.max_cost, wf.file);
      return false;
    }
  }
  return true;
}

}  // namespace comfyrun
