// fal.ai's queue API as a QueueProtocol (see queue_job.h for the job itself):
//   submit  POST {FAL_BASE_URL}/{owner}/{app}[/{subpath}], body = the model's input JSON
//           -> {request_id, status_url, response_url, cancel_url}
//   status  GET status_url?logs=1 -> {status: IN_QUEUE (queue_position) | IN_PROGRESS (logs)
//           | COMPLETED}; 202 while waiting, 200 when completed
//   result  GET response_url -> the model's output ({"images": [{url, content_type}]}, ...);
//           an error reply carries `detail` and the X-Fal-Error-Type header
//   cancel  PUT cancel_url; succeeds only while the request is queued
// Auth: "Authorization: Key $FAL_KEY". The status, result and cancel URLs drop the model's
// subpath, so the ones the submit reply gives are used; they are rebuilt from the base URL and
// the request id only when a reply omits them.
#include <fmt/format.h>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider_util.h"
#include "comfyrun/providers/queue_job.h"

namespace comfyrun {
namespace {

/// "owner/app[/subpath...]" of letters, digits and . _ - only; no empty or dot-only segment.
bool ValidFalModel(const std::string& model, std::string* err) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t slash = model.find('/', start);
    parts.push_back(model.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  bool ok = parts.size() >= 2;
  for (const auto& p : parts) {
    if (p.empty() || p == "." || p == "..") ok = false;
    for (char c : p)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') ok = false;
  }
  if (!ok)
    *err =
        fmt::format("fal model {} is not an endpoint id like \"fal-ai/flux/schnell\" (owner/app[/path])", Quote(model));
  return ok;
}

bool BuildSubmit(const std::string& base, const std::string& model, const Json& input, HttpRequest* r,
                 std::string* err) {
  if (!ValidFalModel(model, err)) return false;
  r->method = "POST";
  r->url = base + "/" + model;
  r->body = input.dump();
  r->headers.push_back({"Content-Type", "application/json"});
  return true;
}

bool ParseSubmit(const std::string& base, const std::string& model, const Json& reply, QueueHandle* h,
                 std::string* err) {
  h->request_id = JsonStringField(reply, "request_id");
  if (h->request_id.empty()) {
    *err = "the submit reply has no request_id";
    return false;
  }
  // owner/app: what the request URLs are built on when the reply does not give them.
  size_t first = model.find('/');
  size_t second = model.find('/', first + 1);
  std::string app = base + "/" + model.substr(0, second);
  std::string requests = app + "/requests/" + h->request_id;
  h->status_url = JsonStringField(reply, "status_url");
  if (h->status_url.empty()) h->status_url = requests + "/status";
  if (h->status_url.find('?') == std::string::npos) h->status_url += "?logs=1";
  h->result_url = JsonStringField(reply, "response_url");
  if (h->result_url.empty()) h->result_url = requests;
  h->cancel_url = JsonStringField(reply, "cancel_url");
  if (h->cancel_url.empty()) h->cancel_url = requests + "/cancel";
  return true;
}

QueueStatus ParseStatus(const Json& reply) {
  QueueStatus s;
  std::string status = JsonStringField(reply, "status");
  if (status == "IN_QUEUE") {
    s.state = QueueStatus::State::kQueued;
    if (reply.contains("queue_position") && reply["queue_position"].is_number_integer())
      s.queue_position = reply["queue_position"].get<int>();
  } else if (status == "IN_PROGRESS") {
    s.state = QueueStatus::State::kRunning;
  } else if (status == "COMPLETED") {
    s.state = QueueStatus::State::kCompleted;
    // A completed status may carry the failure already (third-party schemas show `error`).
    std::string error = JsonStringField(reply, "error");
    if (!error.empty()) {
      s.state = QueueStatus::State::kFailed;
      s.error = error;
    }
  } else if (status == "FAILED" || status == "ERROR") {  // unconfirmed values (PROVIDERS.md §5)
    s.state = QueueStatus::State::kFailed;
    s.error = JsonStringField(reply, "error");
  } else if (status == "CANCELED" || status == "CANCELLED") {
    s.state = QueueStatus::State::kCanceled;
  }  // anything else: keep waiting (a new state this client does not know)
  if (reply.contains("logs") && reply["logs"].is_array() && !reply["logs"].empty()) {
    const Json& last = reply["logs"].back();
    s.last_log = last.is_object() ? JsonStringField(last, "message") : last.is_string() ? last.get<std::string>() : "";
  }
  return s;
}

}  // namespace

const QueueProtocol& FalProtocol() {
  static const QueueProtocol kFal{"fal", "FAL_KEY", "Key", BuildSubmit, ParseSubmit, ParseStatus, "PUT", true};
  return kFal;
}

}  // namespace comfyrun
