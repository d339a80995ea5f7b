// --prom FILE and --pushgateway URL of run, resume and abtest: the run's metrics for
// Prometheus once the run has ended (export/prometheus.h does the work).
//
// A failure here is a warning, never a failed run: the run's outcome is in the journal and
// the metrics JSON already, and a monitoring outage must not make cron report the run as
// failed or make a script resume a run that succeeded.
#include <fmt/format.h>

#include "comfyrun/cli/commands.h"
#include "comfyrun/core/config.h"
#include "comfyrun/core/util.h"
#include "comfyrun/export/prometheus.h"
#include "run_support.h"

namespace comfyrun {

namespace {
/// How long a push may take before it is given up (the run has already ended).
constexpr double kPushTimeoutSeconds = 10;
}  // namespace

bool ResolveMetricsExport(ExecutionOptions* exec, std::string* err) {
  // The variable keeps credentials out of the command line, which `ps` shows to every user.
  if (exec->pushgateway.empty()) exec->pushgateway = GetConfigValue("COMFYRUN_PUSHGATEWAY_URL");
  if (!exec->pushgateway.empty()) {
    PushgatewayUrl url;
    if (!ParsePushgatewayUrl(exec->pushgateway, &url, err)) return false;
    if (!url.password.empty()) Redactor::AddSecret(url.password);
  }
  if (exec->push_job.empty()) {
    *err = "--push-job must not be empty";
    return false;
  }
  return true;
}

void ExportRunMetrics(const std::string& metrics_path, const ExecutionOptions& exec) {
  if (exec.prom.empty() && exec.pushgateway.empty()) return;
  std::string text, err;
  Json metrics;
  if (metrics_path.empty() || !ReadFile(metrics_path, &text, &err) ||
      (metrics = Json::parse(text, nullptr, false)).is_discarded()) {
    fmt::print(stderr, "warning: no run metrics to export to Prometheus{}\n", err.empty() ? "" : ": " + err);
    return;
  }
  if (!exec.prom.empty()) {
    if (WritePrometheusFile(exec.prom, PrometheusText(metrics), &err))
      fmt::print(stderr, "metrics for Prometheus written to {}\n", exec.prom);
    else
      fmt::print(stderr, "warning: cannot write Prometheus metrics {}: {}\n", exec.prom, err);
  }
  if (!exec.pushgateway.empty()) {
    PushgatewayUrl url;
    if (!ParsePushgatewayUrl(exec.pushgateway, &url, &err)) {  // checked before the run too
      fmt::print(stderr, "warning: not pushing metrics: {}\n", err);
      return;
    }
    PrometheusTextOptions options;
    options.workflow_label = false;  // the grouping key carries it
    const std::string workflow = metrics.value("workflowId", "");
    if (PushToGateway(url, exec.push_job, {{"workflow", workflow}}, PrometheusText(metrics, options),
                      kPushTimeoutSeconds, &err))
      fmt::print(stderr, "metrics pushed to {}{}\n", url.display(),
                 PushgatewayPath(exec.push_job, {{"workflow", workflow}}));
    else
      fmt::print(stderr, "warning: pushing metrics to the Pushgateway failed (the run's result is unchanged): {}\n",
                 err);
  }
}

}  // namespace comfyrun
