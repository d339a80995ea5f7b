// Replicate's predictions API as a QueueProtocol (see queue_job.h for the job itself):
//   submit  POST {REPLICATE_BASE_URL}/v1/predictions {"version": "owner/name[:version]" |
//           "versionid", "input": {...}} -> prediction {id, status, urls {get, cancel}}
//   status  GET urls.get -> prediction: starting | processing | succeeded (output) | failed
//           (error) | canceled | aborted; logs; data_removed once the output was deleted
//   cancel  POST urls.cancel (any time before the prediction ends)
// Auth: "Authorization: Bearer $REPLICATE_API_TOKEN". No `Prefer: wait`: an interrupted
// synchronous call loses the prediction id.
#include <fmt/format.h>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider_util.h"
#include "comfyrun/providers/queue_job.h"

namespace comfyrun {
namespace {

bool ValidReplicateModel(const std::string& model, std::string* err) {
  bool ok = !model.empty();
  for (char c : model)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' && c != '/' && c != ':')
      ok = false;
  if (!ok)
    *err =
        fmt::format("replicate model {} is not \"owner/name\", \"owner/name:version\" or a version id", Quote(model));
  return ok;
}

bool BuildSubmit(const std::string& base, const std::string& model, const Json& input, HttpRequest* r,
                 std::string* err) {
  if (!ValidReplicateModel(model, err)) return false;
  r->method = "POST";
  r->url = base + "/v1/predictions";
  r->body = Json{{"version", model}, {"input", input}}.dump();
  r->headers.push_back({"Content-Type", "application/json"});
  return true;
}

bool ParseSubmit(const std::string& base, const std::string& /*model*/, const Json& reply, QueueHandle* h,
                 std::string* err) {
  h->request_id = JsonStringField(reply, "id");
  if (h->request_id.empty()) {
    *err = "the prediction has no id";
    return false;
  }
  Json urls = reply.contains("urls") && reply["urls"].is_object() ? reply["urls"] : Json::object();
  std::string prediction = base + "/v1/predictions/" + h->request_id;
  h->status_url = JsonStringField(urls, "get");
  if (h->status_url.empty()) h->status_url = prediction;
  h->cancel_url = JsonStringField(urls, "cancel");
  if (h->cancel_url.empty()) h->cancel_url = prediction + "/cancel";
  h->result_url.clear();  // the prediction carries its output
  return true;
}

QueueStatus ParseStatus(const Json& reply) {
  QueueStatus s;
  std::string status = JsonStringField(reply, "status");
  if (status == "starting") {
    s.state = QueueStatus::State::kQueued;
  } else if (status == "processing") {
    s.state = QueueStatus::State::kRunning;
  } else if (status == "succeeded") {
    bool removed =
        reply.contains("data_removed") && reply["data_removed"].is_boolean() && reply["data_removed"].get<bool>();
    bool has_output = reply.contains("output") && !reply["output"].is_null();
    if (removed || !has_output) {
      s.state = QueueStatus::State::kExpired;
    } else {
      s.state = QueueStatus::State::kCompleted;
      s.result = reply["output"];
    }
  } else if (status == "failed") {
    s.state = QueueStatus::State::kFailed;
    s.error = reply.contains("error") && !reply["error"].is_null()
                  ? (reply["error"].is_string() ? reply["error"].get<std::string>() : reply["error"].dump())
                  : "";
  } else if (status == "canceled" || status == "aborted") {
    s.state = QueueStatus::State::kCanceled;
    s.error = status;
  }
  std::string logs = JsonStringField(reply, "logs");
  while (!logs.empty() && (logs.back() == '\n' || logs.back() == '\r')) logs.pop_back();
  if (size_t nl = logs.rfind('\n'); nl != std::string::npos) logs = logs.substr(nl + 1);
  s.last_log = logs;
  return s;
}

}  // namespace

const QueueProtocol& ReplicateProtocol() {
  static const QueueProtocol kReplicate{"replicate", "REPLICATE_API_TOKEN", "Bearer", BuildSubmit,
                                        ParseSubmit, ParseStatus,           "POST",   false};
  return kReplicate;
}

}  // namespace comfyrun
