#pragma once
// A run's metrics for Prometheus: the text exposition format (version 0.0.4), written to a
// file for node_exporter's textfile collector (`--prom FILE`) or pushed to a Pushgateway
// (`--pushgateway URL`). docs/observability.md is the user's guide.
//
// The input is the run metrics JSON (metrics/run_metrics.h, the file under metrics/), so the
// numbers are the ones a user sees there. Names follow Prometheus conventions: prefix
// comfyrun_, base units (seconds), counters end in _total, one HELP and TYPE per family.
// Every series has the labels workflow and run_id (workflow is left out when pushing,
// where the grouping key carries it: see PushToGateway).
//
//   comfyrun_run_info{status}                      gauge    1; status succeeded|failed|interrupted|running
//   comfyrun_run_success                           gauge    1 when the run succeeded, else 0
//   comfyrun_run_start_timestamp_seconds           gauge    unix time the run (first) started
//   comfyrun_run_end_timestamp_seconds             gauge    unix time it finished (absent while running)
//   comfyrun_run_duration_seconds                  gauge    first start to last record
//   comfyrun_run_critical_path_seconds             gauge    longest chain of completed nodes
//   comfyrun_run_peak_parallelism                  gauge    most node attempts at once
//   comfyrun_run_cost_usd_total                    counter  USD spent, all attempts
//   comfyrun_run_starts_total                      counter  run_started records (1 + resumes)
//   comfyrun_run_nodes{status}                     gauge    nodes by status (every status listed)
//   comfyrun_run_cached_nodes                      gauge    completed from the cache (when the metrics say)
//   comfyrun_run_failed_attempts_total{error}      counter  failed attempts by error type
//   comfyrun_node_info{node,type,status,provider,model}  gauge  1 per node
//   comfyrun_node_duration_seconds{node,type,status}     gauge  the completed attempt's duration
//   comfyrun_node_queue_wait_seconds{node,type,status}   gauge  ready -> started, last attempt
//   comfyrun_node_attempts_total{node,type,status}       counter attempts over all runs
//   comfyrun_node_cost_usd_total{node,type,status}       counter USD, all attempts
//
// Cost is in US dollars: currency has no base unit, and _usd names the one used.
#include <string>
#include <utility>
#include <vector>

#include "comfyrun/core/json.h"

namespace comfyrun {

struct PrometheusTextOptions {
  /// Label every series with workflow="<workflowId>". Off for a push, whose grouping key
  /// adds the same label: the Pushgateway refuses pushed metrics that carry a grouping label.
  bool workflow_label = true;
  /// Per-node families (comfyrun_node_*). A run of 100,000 nodes may prefer them off.
  bool node_series = true;
};

/// Renders run metrics (BuildRunMetrics's JSON) as Prometheus text. Never fails: a field
/// missing from `metrics` leaves its series out.
std::string PrometheusText(const Json& metrics, const PrometheusTextOptions& options = {});

/// Escapes a label value for the text format: backslash, double quote and newline.
std::string EscapeLabelValue(const std::string& value);

/// Writes `text` to `path` atomically (a temp file beside it, then rename), so that a
/// collector never reads half a file; the temp name does not end in .prom, so the textfile
/// collector never reads it either. False with *err.
bool WritePrometheusFile(const std::string& path, const std::string& text, std::string* err);

/// A Pushgateway address given by the user, split so that credentials never reach a log.
struct PushgatewayUrl {
  std::string base;            ///< scheme://host[:port][/prefix] without credentials or trailing '/'
  std::string user, password;  ///< from user:password@ in the URL (percent-decoded), or ""
  /// The URL for messages: `base` (credentials are never shown).
  const std::string& display() const { return base; }
};

/// Parses http(s)://[user:password@]host[:port][/prefix]. False with *err (which never
/// contains the password) for another scheme, a missing host, a query or fragment, or a
/// path that already holds /metrics/job/ (give the server's address; comfyrun adds the rest).
bool ParsePushgatewayUrl(const std::string& url, PushgatewayUrl* out, std::string* err);

/// The push path for a grouping key: /metrics/job/<job>/<name>/<value>... Values are
/// percent-encoded; a value with a '/' (which the Pushgateway cannot take even encoded) or an
/// empty one uses the name@base64/<url-safe base64> form.
std::string PushgatewayPath(const std::string& job, const std::vector<std::pair<std::string, std::string>>& grouping);

/// PUTs `text` to the Pushgateway at <url.base><PushgatewayPath(job, grouping)>, replacing
/// what that group held. Credentials go in an Authorization header (never in the URL, so
/// never in an error text) that is dropped on a redirect to another host. Blocks for at most
/// `timeout` seconds. False with *err naming the URL without credentials and the server's
/// reply.
bool PushToGateway(const PushgatewayUrl& url, const std::string& job,
                   const std::vector<std::pair<std::string, std::string>>& grouping, const std::string& text,
                   double timeout, std::string* err);

}  // namespace comfyrun
