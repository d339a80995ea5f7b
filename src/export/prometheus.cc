// Prometheus text exposition of run metrics, and the Pushgateway push (export/prometheus.h).
//
// Implementation details: samples are collected per family first, then printed family by
// family, because the text format wants each family's samples together under one HELP/TYPE.
// The push runs on a private HttpLoop (the project's one libcurl stack) and waits for it.
#include "comfyrun/export/prometheus.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <future>
#include <map>
#include <utility>

#include "comfyrun/core/config.h"
#include "comfyrun/core/util.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/providers/provider_util.h"

namespace comfyrun {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Family {
  std::string name, type, help;
  std::vector<std::pair<Labels, double>> samples;
};

/// Families in the order they are first added, so the output reads top-down like the
/// header's list.
class FamilySet {
 public:
  Family& Get(const std::string& name, const char* type, const char* help) {
    auto [it, inserted] = index_.try_emplace(name, families_.size());
    if (inserted) families_.push_back({name, type, help, {}});
    return families_[it->second];
  }
  void Add(const std::string& name, const char* type, const char* help, Labels labels, double value) {
    Get(name, type, help).samples.emplace_back(std::move(labels), value);
  }
  std::string Render() const {
    std::string out;
    for (const auto& f : families_) {
      if (f.samples.empty()) continue;
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
      for (const auto& [labels, value] : f.samples) {
        out += f.name;
        if (!labels.empty()) {
          out += '{';
          for (size_t i = 0; i < labels.size(); ++i) {
            if (i) out += ',';
            out += fmt::format("{}=\"{}\"", labels[i].first, EscapeLabelValue(labels[i].second));
          }
          out += '}';
        }
        out += ' ';
        out += FormatValue(value);
        out += '\n';
      }
    }
    return out;
  }

 private:
  static std::string FormatValue(double v) {
    // Shortest text that reads back as the same double; integers without ".0".
    if (v == static_cast<double>(static_cast<int64_t>(v)) && v > -1e15 && v < 1e15)
      return std::to_string(static_cast<int64_t>(v));
    return fmt::format("{}", v);
  }

  std::vector<Family> families_;
  std::map<std::string, size_t> index_;
};

double Number(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string Text(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

/// "2026-11-22T04:11:00.123Z" (util.h IsoTime) as unix seconds; -1 when it is not that.
double ParseIsoSeconds(const std::string& iso) {
  struct tm tm {};
  int ms = 0;
  if (sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
             &tm.tm_sec, &ms) != 7)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm)) + ms / 1000.0;
}

Labels With(Labels base, std::initializer_list<std::pair<std::string, std::string>> more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

bool IsUnreserved(const std::string& s) {
  for (unsigned char c : s)
    if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')) return false;
  return true;
}

/// One grouping-key path step: /name/value, or /name@base64/<url-safe base64> for values the
/// Pushgateway's router would misread (a '/', even percent-encoded; an empty value).
std::string GroupingStep(const std::string& name, const std::string& value) {
  if (!value.empty() && IsUnreserved(value)) return "/" + name + "/" + value;
  std::string b64 = Base64Encode(value);
  for (char& c : b64) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return "/" + name + "@base64/" + (b64.empty() ? "=" : b64);
}

std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

/// The fields of a node's "where" (metrics) that comfyrun_node_info carries, and their labels.
constexpr std::pair<const char*, const char*> kWhereLabels[] = {
    {"executor", "executor"}, {"host", "host"}, {"jobId", "job_id"}};

std::string PrometheusText(const Json& metrics, const PrometheusTextOptions& options) {
  FamilySet set;
  if (!metrics.is_object()) return "";
  Labels run;
  if (options.workflow_label) run.push_back({"workflow", Text(metrics, "workflowId")});
  run.push_back({"run_id", Text(metrics, "runId")});
  const std::string status = Text(metrics, "status");

  set.Add("comfyrun_run_info", "gauge", "Run status as a label (succeeded, failed, interrupted, running); always 1.",
          With(run, {{"status", status}}), 1);
  set.Add("comfyrun_run_success", "gauge", "1 when the run succeeded, else 0.", run, status == "succeeded" ? 1 : 0);
  double start = ParseIsoSeconds(Text(metrics, "startedAt"));
  if (start >= 0)
    set.Add("comfyrun_run_start_timestamp_seconds", "gauge", "Unix time the run first started.", run, start);
  double end = ParseIsoSeconds(Text(metrics, "finishedAt"));
  if (end >= 0)
    set.Add("comfyrun_run_end_timestamp_seconds", "gauge", "Unix time the run finished (absent while it runs).", run,
            end);
  set.Add("comfyrun_run_duration_seconds", "gauge", "Run duration, first start to last journal record.", run,
          Number(metrics, "durationMs") / 1000.0);
  set.Add("comfyrun_run_critical_path_seconds", "gauge",
          "Sum of node durations along the longest chain of completed nodes.", run,
          Number(metrics, "criticalPathMs") / 1000.0);
  set.Add("comfyrun_run_peak_parallelism", "gauge", "Most node attempts running at the same time.", run,
          Number(metrics, "peakParallelism"));
  set.Add("comfyrun_run_cost_usd_total", "counter", "US dollars spent by the run, all attempts.", run,
          Number(metrics, "totalCost"));
  set.Add("comfyrun_run_starts_total", "counter", "Times the run was started or resumed.", run,
          Number(metrics, "runs"));
  if (auto c = metrics.find("counts"); c != metrics.end() && c->is_object())
    for (auto it = c->begin(); it != c->end(); ++it)
      set.Add("comfyrun_run_nodes", "gauge", "Nodes of the run by status.", With(run, {{"status", it.key()}}),
              it.value().is_number() ? it.value().get<double>() : 0);
  if (metrics.contains("cachedNodes"))
    set.Add("comfyrun_run_cached_nodes", "gauge", "Completed nodes whose outputs came from the cache.", run,
            Number(metrics, "cachedNodes"));
  // Only the error types that happened; with none, the family is left out.
  if (auto e = metrics.find("errors"); e != metrics.end() && e->is_object())
    for (auto it = e->begin(); it != e->end(); ++it)
      set.Add("comfyrun_run_failed_attempts_total", "counter", "Failed node attempts by error type.",
              With(run, {{"error", it.key()}}), it.value().is_number() ? it.value().get<double>() : 0);

  if (options.node_series)
    if (auto ns = metrics.find("nodes"); ns != metrics.end() && ns->is_array())
      for (const auto& n : *ns) {
        if (!n.is_object()) continue;
        Labels node = With(run, {{"node", Text(n, "id")}, {"type", Text(n, "type")}, {"status", Text(n, "status")}});
        Labels info = With(node, {{"provider", Text(n, "provider")}, {"model", Text(n, "model")}});
        // Where its last attempt ran (metrics' "where"), when it says: executor, host, job id.
        if (auto w = n.find("where"); w != n.end() && w->is_array() && !w->empty() && w->back().is_object())
          for (const auto& [key, label] : kWhereLabels)
            if (std::string v = Text(w->back(), key); !v.empty()) info.push_back({label, v});
        set.Add("comfyrun_node_info", "gauge", "One per node, with its provider and model as labels; always 1.",
                std::move(info), 1);
        set.Add("comfyrun_node_duration_seconds", "gauge", "Duration of the node's completed attempt (0 if none).",
                node, Number(n, "durationMs") / 1000.0);
        set.Add("comfyrun_node_queue_wait_seconds", "gauge", "Time the node waited ready for a slot before it started.",
                node, Number(n, "queueWaitMs") / 1000.0);
        set.Add("comfyrun_node_attempts_total", "counter", "Attempts of the node, over all runs of the journal.", node,
                Number(n, "attempts"));
        set.Add("comfyrun_node_cost_usd_total", "counter", "US dollars spent by the node, all attempts.", node,
                Number(n, "cost"));
      }
  return set.Render();
}

bool WritePrometheusFile(const std::string& path, const std::string& text, std::string* err) {
  // WriteFileAtomic's temp file is "<path>.tmp.<random>": no .prom suffix, so node_exporter's
  // textfile collector (which reads *.prom) never sees it half-written.
  return WriteFileAtomic(path, text, err);
}

bool ParsePushgatewayUrl(const std::string& url, PushgatewayUrl* out, std::string* err) {
  *out = PushgatewayUrl();
  size_t scheme_end = url.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  for (char& c : scheme) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  if (scheme != "http" && scheme != "https") {
    *err = "the Pushgateway URL must start with http:// or https://";
    return false;
  }
  std::string rest = url.substr(scheme_end + 3);
  size_t path_start = rest.find('/');
  std::string authority = rest.substr(0, path_start);
  std::string path = path_start == std::string::npos ? "" : rest.substr(path_start);
  // The last '@' ends the userinfo: a password may contain '@' if the user did not encode it.
  size_t at = authority.rfind('@');
  std::string host = at == std::string::npos ? authority : authority.substr(at + 1);
  if (at != std::string::npos) {
    std::string userinfo = authority.substr(0, at);
    size_t colon = userinfo.find(':');
    out->user = PercentDecode(userinfo.substr(0, colon));
    if (colon != std::string::npos) out->password = PercentDecode(userinfo.substr(colon + 1));
  }
  if (host.empty()) {
    *err = "the Pushgateway URL has no host";
    return false;
  }
  if (path.find_first_of("?#") != std::string::npos || host.find_first_of("?#") != std::string::npos) {
    *err = "the Pushgateway URL must not have a query or fragment";
    return false;
  }
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.find("/metrics/job") != std::string::npos) {
    *err =
        "give the Pushgateway's address (http://host:9091), not a /metrics/job/... path: comfyrun adds the "
        "job and the grouping key itself (--push-job)";
    return false;
  }
  out->base = scheme + "://" + host + path;
  return true;
}

std::string PushgatewayPath(const std::string& job, const std::vector<std::pair<std::string, std::string>>& grouping) {
  std::string path = "/metrics" + GroupingStep("job", job);
  for (const auto& [name, value] : grouping) path += GroupingStep(name, value);
  return path;
}

bool PushToGateway(const PushgatewayUrl& url, const std::string& job,
                   const std::vector<std::pair<std::string, std::string>>& grouping, const std::string& text,
                   double timeout, std::string* err) {
  HttpRequest request;
  request.method = "PUT";
  request.url = url.base + PushgatewayPath(job, grouping);
  request.body = text;
  request.headers.push_back({"Content-Type", "text/plain; version=0.0.4; charset=utf-8"});
  if (!url.user.empty() || !url.password.empty()) {
    // Registered so that no message can show them, whatever a server echoes back.
    std::string credential = Base64Encode(url.user + ":" + url.password);
    Redactor::AddSecret(url.password);
    Redactor::AddSecret(credential);
    request.headers.push_back({"Authorization", "Basic " + credential});
    request.secret_headers.push_back("authorization");
  }
  request.timeout = timeout;
  request.connect_timeout = std::min(timeout, 5.0);
  request.stall_timeout = timeout;

  std::promise<HttpResponse> done;
  std::future<HttpResponse> reply = done.get_future();
  {
    HttpLoop loop;
    loop.Send(std::move(request), [&done](HttpResponse r) { done.set_value(std::move(r)); });
    reply.wait();
  }  // the loop thread is joined before the response is read
  HttpResponse r = reply.get();
  if (r.ok()) return true;
  std::string where = url.display() + PushgatewayPath(job, grouping);
  if (r.transport_error != ErrorType::kNone) {
    // r.error names the URL HttpLoop used, which holds no credentials (they are in a header).
    *err = r.error.empty() ? "no reply from " + where : r.error;
  } else {
    *err =
        fmt::format("PUT {}: HTTP {}{}", where, r.status, r.body.empty() ? "" : ": " + Abbreviate(Trim(r.body), 300));
  }
  *err = Redactor::Redact(*err);
  return false;
}

}  // namespace comfyrun
