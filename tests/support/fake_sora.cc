#include "support/fake_sora.h"

#include <ctime>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider_util.h"

namespace comfyrun::testing {
namespace {

Json OpenAiError(const std::string& message, const std::string& type, const Json& param, const Json& code) {
  return {{"error", {{"message", message}, {"type", type}, {"param", param}, {"code", code}}}};
}

LocalResponse Reply(int status, const Json& body) { return LocalResponse::Json(status, body.dump()); }

bool Contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

}  // namespace

FakeSora::FakeSora() : FakeSora(Options()) {}

FakeSora::FakeSora(Options options) : options_(std::move(options)) {
  server_.Handle("*", "/*", [this](const LocalRequest& r) { return Handle(r); });
}

void FakeSora::AddFault(Endpoint endpoint, FakeFaultSpec fault, int times) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < times; ++i) faults_[endpoint].push_back(fault);
}

void FakeSora::set_polls_until_done(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.polls_until_done = n;
}

void FakeSora::set_poll_after_ms(int ms) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.poll_after_ms = ms;
}

void FakeSora::ForgetVideos() {
  std::lock_guard<std::mutex> lock(mu_);
  videos_.clear();
}

int FakeSora::submissions(const std::string& part) const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& [prompt, count] : submissions_)
    if (prompt.find(part) != std::string::npos) n += count;
  return n;
}

int FakeSora::total_submissions() const { return submissions(""); }

int FakeSora::polls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int(poll_times_.size());
}

int FakeSora::downloads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return downloads_;
}

std::vector<double> FakeSora::poll_gaps() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<double> gaps;
  for (size_t i = 1; i < poll_times_.size(); ++i)
    gaps.push_back(std::chrono::duration<double>(poll_times_[i] - poll_times_[i - 1]).count());
  return gaps;
}

Json FakeSora::last_create() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_create_;
}

Json FakeSora::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Json subs = Json::object();
  int total = 0;
  for (const auto& [prompt, count] : submissions_) {
    subs[prompt] = count;
    total += count;
  }
  return {{"submissions", subs}, {"totalSubmissions", total}, {"polls", poll_times_.size()}, {"downloads", downloads_}};
}

bool FakeSora::TakeFault(Endpoint endpoint, FakeFaultSpec* fault) {
  auto it = faults_.find(endpoint);
  if (it == faults_.end() || it->second.empty()) return false;
  *fault = it->second.front();
  it->second.erase(it->second.begin());
  return true;
}

bool FakeSora::FaultReply(const FakeFaultSpec& f, LocalResponse* reply) const {
  switch (f.fault) {
    case FakeFault::kRateLimit:
      *reply = Reply(429, OpenAiError("Rate limit reached for requests. Please try again later.", "requests", nullptr,
                                      "rate_limit_exceeded"));
      reply->headers.push_back({"Retry-After", std::to_string(int(f.retry_after))});
      return true;
    case FakeFault::kServerError:
      *reply = Reply(
          500, OpenAiError("The server had an error while processing your request.", "server_error", nullptr, nullptr));
      return true;
    case FakeFault::kReset:
      *reply = LocalResponse::Text(200, "");
      reply->mode = LocalResponse::Mode::kCloseNoReply;
      return true;
    case FakeFault::kStall:
      *reply = Reply(500, OpenAiError("stalled", "server_error", nullptr, nullptr));
      reply->delay = f.retry_after > 0 ? f.retry_after : 30;
      return true;
    case FakeFault::kMalformedJson:
      *reply = LocalResponse::Json(200, R"({"id": "video_)");
      return true;
    case FakeFault::kBadKey:
      *reply = Reply(401, OpenAiError("Incorrect API key provided: sk-bad***. You can find your API key at "
                                      "https://platform.openai.com/account/api-keys.",
                                      "invalid_request_error", nullptr, "invalid_api_key"));
      return true;
    case FakeFault::kNotFound:
      *reply = Reply(404, OpenAiError("Not found.", "invalid_request_error", nullptr, nullptr));
      return true;
    case FakeFault::kTruncate:
    case FakeFault::kBlocked:
      return false;
  }
  return false;
}

LocalResponse FakeSora::Handle(const LocalRequest& r) {
  if (r.method == "GET" && r.path == "/_fake/stats") return Reply(200, Stats());
  if (r.method == "POST" && r.path == "/_fake/fault") {
    auto body = ParseJsonBody(r.body);
    FakeFault fault;
    if (!body || !body->is_object() || !ParseFakeFault(body->value("fault", ""), &fault))
      return Reply(400, {{"error", "want {endpoint, fault, times?, retryAfter?}"}});
    std::string ep = body->value("endpoint", "");
    Endpoint endpoint;
    if (ep == "create")
      endpoint = Endpoint::kCreate;
    else if (ep == "retrieve")
      endpoint = Endpoint::kRetrieve;
    else if (ep == "content")
      endpoint = Endpoint::kContent;
    else
      return Reply(400, {{"error", "endpoint: create, retrieve or content"}});
    AddFault(endpoint, {fault, body->value("retryAfter", 7.0)}, body->value("times", 1));
    return Reply(200, {{"ok", true}});
  }
  if (r.Header("authorization") != "Bearer " + options_.api_key) {
    LocalResponse reply;
    FaultReply({FakeFault::kBadKey}, &reply);
    return reply;
  }
  if (r.method == "POST" && r.path == "/v1/videos") return Create(r);
  if (r.method == "GET" && StartsWith(r.path, "/v1/videos/")) {
    std::string rest = r.path.substr(std::string("/v1/videos/").size());
    if (EndsWith(rest, "/content")) return Content(rest.substr(0, rest.size() - 8));
    if (rest.find('/') == std::string::npos) return Retrieve(rest);
  }
  return Reply(404,
               OpenAiError("Invalid URL (" + r.method + " " + r.path + ")", "invalid_request_error", nullptr, nullptr));
}

LocalResponse FakeSora::Create(const LocalRequest& r) {
  std::lock_guard<std::mutex> lock(mu_);
  FakeFaultSpec fault{};
  bool faulted = TakeFault(Endpoint::kCreate, &fault);
  LocalResponse reply;
  if (faulted && FaultReply(fault, &reply)) return reply;
  Json fields = Json::object();
  if (StartsWith(r.Header("content-type"), "multipart/form-data")) {
    for (const LocalPart& p : ParseMultipart(r)) {
      if (p.filename.empty()) {
        fields[p.name] = p.data;
      } else {
        fields[p.name] = {{"filename", p.filename}, {"contentType", p.content_type}, {"bytes", p.data.size()}};
      }
    }
  } else if (auto body = ParseJsonBody(r.body); body && body->is_object()) {
    fields = *body;
  } else {
    return Reply(400, OpenAiError("We could not parse the JSON body of your request.", "invalid_request_error", nullptr,
                                  nullptr));
  }
  std::string prompt =
      fields.contains("prompt") && fields["prompt"].is_string() ? fields["prompt"].get<std::string>() : "";
  if (prompt.empty())
    return Reply(400, OpenAiError("Missing required parameter: 'prompt'.", "invalid_request_error", "prompt",
                                  "missing_required_parameter"));
  std::string model = fields.value("model", "sora-2");
  if (model != "sora-2" && model != "sora-2-pro" && !StartsWith(model, "sora-2-"))
    return Reply(400, OpenAiError("Invalid value: '" + model + "'. Supported values are: 'sora-2' and 'sora-2-pro'.",
                                  "invalid_request_error", "model", "invalid_value"));
  if (fields.contains("seconds") && !fields["seconds"].is_string())
    return Reply(400, OpenAiError("Invalid type for 'seconds': expected a string.", "invalid_request_error", "seconds",
                                  "invalid_type"));
  std::string seconds = fields.value("seconds", "4");
  if (seconds != "4" && seconds != "8" && seconds != "12")
    return Reply(400, OpenAiError("Invalid value: '" + seconds + "'. Supported values are: '4', '8', and '12'.",
                                  "invalid_request_error", "seconds", "invalid_value"));
  std::string size = fields.value("size", "720x1280");
  if (size != "720x1280" && size != "1280x720" && size != "1024x1792" && size != "1792x1024")
    return Reply(400, OpenAiError("Invalid value: '" + size + "'.", "invalid_request_error", "size", "invalid_value"));
  last_create_ = fields;
  ++submissions_[prompt];
  std::string id = "video_" + std::to_string(1000 + next_id_++);
  Video v;
  v.object = {{"id", id},
              {"object", "video"},
              {"model", model},
              {"status", "queued"},
              {"progress", 0},
              {"created_at", int64_t(std::time(nullptr))},
              {"completed_at", nullptr},
              {"expires_at", nullptr},
              {"prompt", prompt},
              {"size", size},
              {"seconds", seconds},
              {"remixed_from_video_id", nullptr},
              {"error", nullptr}};
  if (faulted && fault.fault == FakeFault::kBlocked) v.object["prompt"] = prompt + " [blocked]";
  videos_[id] = v;
  Json out = v.object;
  out["prompt"] = prompt;
  reply = Reply(200, out);
  if (options_.poll_after_ms > 0)
    reply.headers.push_back({"openai-poll-after-ms", std::to_string(options_.poll_after_ms)});
  if (faulted && fault.fault == FakeFault::kTruncate) reply.mode = LocalResponse::Mode::kTruncate;
  return reply;
}

LocalResponse FakeSora::Retrieve(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  poll_times_.push_back(std::chrono::steady_clock::now());
  FakeFaultSpec fault{};
  bool faulted = TakeFault(Endpoint::kRetrieve, &fault);
  LocalResponse reply;
  if (faulted && FaultReply(fault, &reply)) return reply;
  auto it = videos_.find(id);
  if (it == videos_.end())
    return Reply(404, OpenAiError("Video with id '" + id + "' not found.", "invalid_request_error", nullptr, nullptr));
  Video& v = it->second;
  ++v.polls;
  std::string prompt = v.object["prompt"].get<std::string>();
  if (v.polls < options_.polls_until_done) {
    v.object["status"] = "in_progress";
    v.object["progress"] = 100 * v.polls / std::max(1, options_.polls_until_done);
  } else if (Contains(prompt, "[blocked]")) {
    v.object["status"] = "failed";
    v.object["error"] = {{"code", "moderation_blocked"},
                         {"message", "Your request was blocked by our moderation system."}};
  } else if (Contains(prompt, "[fail]")) {
    v.object["status"] = "failed";
    v.object["error"] = {{"code", "internal_error"}, {"message", "Video generation failed."}};
  } else {
    v.object["status"] = "completed";
    v.object["progress"] = 100;
    v.object["completed_at"] = int64_t(std::time(nullptr));
    v.object["expires_at"] = int64_t(std::time(nullptr)) + 3600;
  }
  reply = Reply(200, v.object);
  if (options_.poll_after_ms > 0)
    reply.headers.push_back({"openai-poll-after-ms", std::to_string(options_.poll_after_ms)});
  if (faulted && fault.fault == FakeFault::kTruncate) reply.mode = LocalResponse::Mode::kTruncate;
  return reply;
}

LocalResponse FakeSora::Content(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  ++downloads_;
  FakeFaultSpec fault{};
  bool faulted = TakeFault(Endpoint::kContent, &fault);
  LocalResponse reply;
  if (faulted && FaultReply(fault, &reply)) return reply;
  auto it = videos_.find(id);
  if (it == videos_.end() || it->second.object["status"] != "completed")
    return Reply(
        404, OpenAiError("Video with id '" + id + "' has no content yet.", "invalid_request_error", nullptr, nullptr));
  int seconds = std::atoi(it->second.object["seconds"].get<std::string>().c_str());
  reply = LocalResponse::Text(200, FakeMp4Bytes(seconds));
  reply.headers = {{"Content-Type", "video/mp4"}};
  if (faulted && fault.fault == FakeFault::kTruncate) reply.mode = LocalResponse::Mode::kTruncate;
  return reply;
}

}  // namespace comfyrun::testing
