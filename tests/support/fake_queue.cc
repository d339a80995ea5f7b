#include "support/fake_queue.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider_util.h"
#include "support/fake_gemini.h"

namespace comfyrun::testing {
namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

LocalResponse Reply(int status, const Json& body) { return LocalResponse::Json(status, body.dump()); }

std::string PromptOf(const Json& input) {
  return input.is_object() && input.contains("prompt") && input["prompt"].is_string()
             ? input["prompt"].get<std::string>()
             : "";
}

/// "/a/b/requests/ID/status" -> {"a/b", "ID", "status"}; false when not a request path.
bool SplitRequestPath(const std::string& path, std::string* app, std::string* id, std::string* rest) {
  size_t at = path.find("/requests/");
  if (at == std::string::npos) return false;
  *app = path.substr(1, at - 1);
  std::string tail = path.substr(at + 10);
  size_t slash = tail.find('/');
  *id = tail.substr(0, slash);
  *rest = slash == std::string::npos ? "" : tail.substr(slash + 1);
  return !id->empty();
}

LocalResponse FileReply(FakeQueueCore& core, const std::string& name) {
  // "<id>-1.png" / "<id>-1.mp4"
  std::string id = name.substr(0, name.rfind('-'));
  if (core.Expired(id)) return Reply(404, {{"detail", "file not found"}});
  core.CountDownload();
  bool video = EndsWith(name, ".mp4");
  LocalResponse r;
  r.status = 200;
  r.body = video ? FakeMp4Bytes(4) : FakePngBytes();
  r.headers = {{"Content-Type", video ? "video/mp4" : "image/png"}};
  return r;
}

}  // namespace

// --- the simulated queue ---------------------------------------------------------------------

void FakeQueueCore::Advance(double now) {
  // Jobs start in submission order as slots free (fal and Replicate queue what they cannot run).
  for (;;) {
    auto it = std::find_if(order_.begin(), order_.end(), [&](const std::string& id) {
      const Job& j = jobs_[id];
      return j.started < 0 && !j.canceled;
    });
    if (it == order_.end()) return;
    Job& job = jobs_[*it];
    double t = std::max(job.submitted, last_start_);
    std::multiset<double> ends;
    for (const auto& [id, j] : jobs_)
      if (j.started >= 0 && !j.canceled && j.ends > t) ends.insert(j.ends);
    if (static_cast<int>(ends.size()) >= options_.max_running) {
      auto nth = ends.begin();
      std::advance(nth, ends.size() - options_.max_running);
      t = *nth;
    }
    if (t > now) return;
    job.started = t;
    job.ends = t + options_.job_seconds * (PromptOf(job.input).find("[slow]") != std::string::npos ? 5 : 1);
    last_start_ = t;
    int running = 1;
    for (double e : ends)
      if (e > t) ++running;
    peak_running_ = std::max(peak_running_, running);
  }
}

FakeQueueCore::State FakeQueueCore::StateOf(const Job& j, double now) const {
  if (j.canceled) return State::kCanceled;
  if (j.started < 0) return State::kQueued;
  if (j.ends > now) return State::kRunning;
  return j.fail ? State::kFailed : State::kCompleted;
}

double FakeQueueCore::Submit(const std::string& model, const Json& input, std::string* id) {
  std::lock_guard<std::mutex> lock(mu_);
  double now = NowSeconds();
  if (force_429_ > 0) {
    --force_429_;
    ++rejected_;
    return force_retry_after_;
  }
  while (!submit_times_.empty() && submit_times_.front() <= now - 60) submit_times_.erase(submit_times_.begin());
  if (options_.submit_per_minute > 0 && submit_times_.size() >= options_.submit_per_minute) {
    ++rejected_;
    return std::max(1.0, std::ceil(submit_times_.front() + 60 - now));
  }
  submit_times_.push_back(now);
  Job j;
  j.id = fmt::format("req-{:04d}", next_id_++);
  j.model = model;
  j.input = input;
  j.submitted = now;
  std::string prompt = PromptOf(input);
  j.fail = prompt.find("[fail]") != std::string::npos;
  j.expire_at_once = prompt.find("[expire]") != std::string::npos;
  j.video = prompt.find("[video]") != std::string::npos;
  *id = j.id;
  jobs_[j.id] = j;
  order_.push_back(j.id);
  ++accepted_;
  Advance(now);
  return -1;
}

bool FakeQueueCore::Look(const std::string& id, Job* job, State* state) {
  std::lock_guard<std::mutex> lock(mu_);
  double now = NowSeconds();
  Advance(now);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  *job = it->second;
  *state = StateOf(it->second, now);
  if (*state == State::kQueued) {
    int position = 0;
    for (const auto& other : order_) {
      if (other == id) break;
      const Job& o = jobs_[other];
      if (o.started < 0 && !o.canceled) ++position;
    }
    job->queue_position = position;
  }
  return true;
}

bool FakeQueueCore::Expired(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  double now = NowSeconds();
  Advance(now);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return true;
  const Job& j = it->second;
  if (expired_.count(id)) return true;  // once deleted, a result stays deleted
  if (StateOf(j, now) != State::kCompleted) return false;
  bool gone = j.expire_at_once || now > j.ends + options_.result_ttl;
  if (gone) expired_.insert(id);
  return gone;
}

bool FakeQueueCore::Cancel(const std::string& id, State* state) {
  std::lock_guard<std::mutex> lock(mu_);
  double now = NowSeconds();
  Advance(now);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  *state = StateOf(it->second, now);
  if (*state != State::kQueued && *state != State::kRunning) return false;
  it->second.canceled = true;
  ++cancels_;
  *state = State::kCanceled;
  return true;
}

void FakeQueueCore::Force429(int n, double retry_after) {
  std::lock_guard<std::mutex> lock(mu_);
  force_429_ = n;
  force_retry_after_ = retry_after;
}

void FakeQueueCore::Force429Polls(int n, double retry_after) {
  std::lock_guard<std::mutex> lock(mu_);
  force_poll_429_ = n;
  force_poll_retry_after_ = retry_after;
}

bool FakeQueueCore::TakePoll429(double* retry_after) {
  std::lock_guard<std::mutex> lock(mu_);
  if (force_poll_429_ <= 0) return false;
  --force_poll_429_;
  *retry_after = force_poll_retry_after_;
  return true;
}

void FakeQueueCore::FailUploads(int n) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_uploads_ = n;
}

bool FakeQueueCore::StoreUpload(Upload upload, std::string* name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fail_uploads_ > 0) {
    --fail_uploads_;
    ++failed_uploads_;
    return false;
  }
  if (name->empty())
    *name = fmt::format("up-{}-{}", upload_order_.size() + 1, upload.filename.empty() ? "file" : upload.filename);
  uploads_[*name] = std::make_unique<Upload>(std::move(upload));
  upload_order_.push_back(*name);
  return true;
}

const FakeQueueCore::Upload* FakeQueueCore::FindUpload(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = uploads_.find(name);
  return it == uploads_.end() ? nullptr : it->second.get();
}

std::vector<FakeQueueCore::Upload> FakeQueueCore::uploads() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Upload> out;
  for (const auto& name : upload_order_) out.push_back(*uploads_.at(name));
  return out;
}

void FakeQueueCore::SetResultTtl(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  options_.result_ttl = seconds;
}

Json FakeQueueCore::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {{"submissions", accepted_ + rejected_},
          {"accepted", accepted_},
          {"rejected429", rejected_},
          {"cancels", cancels_},
          {"polls", polls_},
          {"downloads", downloads_},
          {"uploads", upload_order_.size()},
          {"failedUploads", failed_uploads_},
          {"peakRunning", peak_running_}};
}

int FakeQueueCore::accepted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}
int FakeQueueCore::rejected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rejected_;
}
int FakeQueueCore::cancels() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancels_;
}
int FakeQueueCore::peak_running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_running_;
}

// --- what both fakes share ---------------------------------------------------------------------

std::optional<LocalResponse> FakeQueueRoutes::Route(const LocalRequest& r, bool open) const {
  if (r.method == "GET" && r.path == "/_fake/stats") return Reply(200, core_->Stats());
  if (r.method == "POST" && r.path == "/_fake/force429") {
    int n = std::atoi(r.QueryParam("n").c_str());
    double retry_after = std::atof(r.QueryParam("retryAfter").c_str());
    if (r.QueryParam("polls") == "1")
      core_->Force429Polls(n, retry_after);
    else
      core_->Force429(n, retry_after);
    return Reply(200, Json::object());
  }
  if (r.method == "POST" && r.path == "/_fake/ttl") {
    core_->SetResultTtl(std::atof(r.QueryParam("seconds").c_str()));
    return Reply(200, Json::object());
  }
  if (r.method == "GET" && StartsWith(r.path, "/files/")) {
    std::string name = r.path.substr(7);
    if (EndsWith(name, ".webp")) name = name.substr(0, name.size() - 5) + ".png";  // PNG bytes will do
    return FileReply(*core_, name);
  }
  if (r.method == "GET" && StartsWith(r.path, "/uploads/")) {
    const FakeQueueCore::Upload* up = core_->FindUpload(r.path.substr(9));
    if (!up) return Reply(404, {{"detail", "no such upload"}});
    LocalResponse resp;
    resp.body = up->bytes;
    resp.headers = {{"Content-Type", up->content_type}};
    return resp;
  }
  if (!open && r.Header("authorization") != auth_header_) return unauthorized_;
  return std::nullopt;
}

std::optional<LocalResponse> FakeQueueRoutes::PollRateLimited() const {
  core_->CountPoll();
  double retry_after = 0;
  if (!core_->TakePoll429(&retry_after)) return std::nullopt;
  return rate_limited_(retry_after);
}

// --- fal ---------------------------------------------------------------------------------------

FakeFal::FakeFal(FakeQueueOptions options) {
  if (options.key.empty()) options.key = "fal-fake-key-0123456789abcdef";
  key_ = options.key;
  core_ = std::make_unique<FakeQueueCore>(std::move(options));
  routes_ = std::make_unique<FakeQueueRoutes>(
      core_.get(), "Key " + key_, Reply(401, {{"detail", "Invalid API key"}}), [](double retry) {
        LocalResponse resp = Reply(429, {{"detail", "Too many requests"}});
        resp.headers.push_back({"Retry-After", fmt::format("{}", static_cast<int>(retry))});
        return resp;
      });
  server_.Handle("*", "/*", [this](const LocalRequest& r) { return Handle(r); });
}

LocalResponse FakeFal::Storage(const LocalRequest& r) {
  // fal's storage (rest.fal.ai): initiate names the file and hands out a presigned upload URL.
  if (r.method != "POST" || r.path != "/storage/upload/initiate") return Reply(404, {{"detail", "not found"}});
  auto body = ParseJsonBody(r.body);
  if (!body || !body->is_object() || JsonStringField(*body, "file_name").empty())
    return Reply(422, {{"detail", "file_name and content_type are required"}});
  std::string file = JsonStringField(*body, "file_name");
  for (char& c : file)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  std::string name = fmt::format("fal-{}-{}", ++initiated_, file);
  std::string type = JsonStringField(*body, "content_type");
  return Reply(200, {{"upload_url", fmt::format("{}/_upload/{}?type={}&sig=fake", url(), name, type)},
                     {"file_url", url() + "/uploads/" + name}});
}

LocalResponse FakeFal::Handle(const LocalRequest& r) {
  bool open = r.method == "PUT" && StartsWith(r.path, "/_upload/");
  if (auto common = routes_->Route(r, open)) return *common;
  if (StartsWith(r.path, "/storage/")) return Storage(r);
  if (open) {  // the presigned PUT
    std::string name = r.path.substr(9);
    FakeQueueCore::Upload up{name.substr(name.find('-', 4) + 1), r.Header("content-type"), r.body};
    if (!core_->StoreUpload(std::move(up), &name)) return Reply(500, {{"detail", "storage backend unavailable"}});
    return Reply(200, Json::object());
  }
  std::string app, id, rest;
  if (!SplitRequestPath(r.path, &app, &id, &rest)) {
    if (r.method != "POST" || r.path.size() < 2) return Reply(404, {{"detail", "not found"}});
    std::string model = r.path.substr(1);
    auto input = ParseJsonBody(r.body);
    if (!input || !input->is_object()) return Reply(422, {{"detail", "the body is not a JSON object"}});
    std::string request_id;
    double retry = core_->Submit(model, *input, &request_id);
    if (retry >= 0) return routes_->RateLimited(retry);
    // The URLs drop the model's subpath (owner/app only), as fal's do.
    size_t first = model.find('/');
    std::string base = url() + "/" + model.substr(0, model.find('/', first + 1)) + "/requests/" + request_id;
    return Reply(200, {{"request_id", request_id},
                       {"gateway_request_id", request_id},
                       {"status_url", base + "/status"},
                       {"response_url", base},
                       {"cancel_url", base + "/cancel"}});
  }
  FakeQueueCore::Job job;
  FakeQueueCore::State state;
  if (rest == "cancel" && r.method == "PUT") {
    if (!core_->Look(id, &job, &state)) return Reply(404, {{"detail", "Request not found"}});
    if (state != FakeQueueCore::State::kQueued) return Reply(400, {{"status", "ALREADY_COMPLETED"}});
    core_->Cancel(id, &state);
    return Reply(202, {{"status", "CANCELLATION_REQUESTED"}});
  }
  if (r.method == "GET" && (rest == "status" || rest.empty()))
    if (auto limited = routes_->PollRateLimited()) return *limited;
  if (!core_->Look(id, &job, &state)) return Reply(404, {{"detail", "Request not found"}});
  if (rest == "status" && r.method == "GET") {
    switch (state) {
      case FakeQueueCore::State::kQueued:
        return Reply(202, {{"status", "IN_QUEUE"}, {"queue_position", job.queue_position}});
      case FakeQueueCore::State::kRunning:
        return Reply(202,
                     {{"status", "IN_PROGRESS"},
                      {"logs", Json::array({{{"message", "step 1: loading"}}, {{"message", "step 2: sampling"}}})}});
      case FakeQueueCore::State::kCanceled:
        return Reply(200, {{"status", "CANCELED"}});
      default:
        return Reply(200, {{"status", "COMPLETED"}, {"response_url", url() + r.path.substr(0, r.path.size() - 7)}});
    }
  }
  if (rest.empty() && r.method == "GET") {
    if (state == FakeQueueCore::State::kQueued || state == FakeQueueCore::State::kRunning)
      return Reply(400, {{"detail", "Request is still in progress"}});
    if (state == FakeQueueCore::State::kFailed) {
      LocalResponse resp = Reply(500, {{"detail", "The model crashed: CUDA out of memory"}});
      resp.headers.push_back({"X-Fal-Error-Type", "runner_error"});
      return resp;
    }
    if (core_->Expired(id)) return Reply(404, {{"detail", "Request not found or expired"}});
    std::string file = fmt::format("{}/files/{}-1.{}", url(), id, job.video ? "mp4" : "png");
    if (job.video) return Reply(200, {{"video", {{"url", file}, {"content_type", "video/mp4"}}}, {"seed", 42}});
    // The size fal reports: input.image_size {width, height} when given (64x64 bytes either way).
    Json size = job.input.is_object() ? job.input.value("image_size", Json::object()) : Json::object();
    int width = size.is_object() ? size.value("width", 64) : 64;
    int height = size.is_object() ? size.value("height", 64) : 64;
    return Reply(200,
                 {{"images",
                   Json::array({{{"url", file}, {"content_type", "image/png"}, {"width", width}, {"height", height}}})},
                  {"seed", 42},
                  {"prompt", PromptOf(job.input)}});
  }
  return Reply(405, {{"detail", "method not allowed"}});
}

// --- Replicate ---------------------------------------------------------------------------------

FakeReplicate::FakeReplicate(FakeQueueOptions options) {
  if (options.key.empty()) options.key = "r8_fake_token_0123456789abcdef";
  key_ = options.key;
  core_ = std::make_unique<FakeQueueCore>(std::move(options));
  routes_ = std::make_unique<FakeQueueRoutes>(
      core_.get(), "Bearer " + key_,
      Reply(401, {{"title", "Unauthenticated"}, {"detail", "You did not pass a valid authentication token"}}),
      [](double retry) {
        LocalResponse resp = Reply(
            429, {{"detail",
                   fmt::format("Request was throttled. Your rate limit resets in ~{}s.", static_cast<int>(retry))}});
        resp.headers.push_back({"Retry-After", fmt::format("{}", static_cast<int>(retry))});
        return resp;
      });
  server_.Handle("*", "/*", [this](const LocalRequest& r) { return Handle(r); });
}

Json FakeReplicate::Prediction(const std::string& id) {
  FakeQueueCore::Job job;
  FakeQueueCore::State state;
  if (!core_->Look(id, &job, &state)) return nullptr;
  std::string base = url() + "/v1/predictions/" + id;
  Json p = {{"id", id},
            {"model", job.model},
            {"version", job.model},
            {"input", job.input},
            {"logs", ""},
            {"error", nullptr},
            {"output", nullptr},
            {"data_removed", false},
            {"urls", {{"get", base}, {"cancel", base + "/cancel"}}}};
  switch (state) {
    case FakeQueueCore::State::kQueued:
      p["status"] = "starting";
      break;
    case FakeQueueCore::State::kRunning:
      p["status"] = "processing";
      p["logs"] = "loading\n50%|#####     | 5/10\n";
      break;
    case FakeQueueCore::State::kFailed:
      p["status"] = "failed";
      p["error"] = "CUDA out of memory. Tried to allocate 2.00 GiB";
      break;
    case FakeQueueCore::State::kCanceled:
      p["status"] = "canceled";
      break;
    case FakeQueueCore::State::kCompleted:
      p["status"] = "succeeded";
      p["metrics"] = {{"predict_time", 1.5}};
      if (core_->Expired(id))
        p["data_removed"] = true;
      else
        p["output"] = Json::array({fmt::format("{}/files/{}-1.{}", url(), id, job.video ? "mp4" : "webp")});
      break;
  }
  return p;
}

LocalResponse FakeReplicate::UploadFile(const LocalRequest& r) {
  // replicate-python files.create: multipart/form-data, the file in part `content`.
  std::vector<LocalPart> parts = ParseMultipart(r);
  auto content = std::find_if(parts.begin(), parts.end(), [](const LocalPart& p) { return p.name == "content"; });
  if (content == parts.end() || content->filename.empty())
    return Reply(400, {{"detail", "a file is required in the `content` part"}});
  size_t size = content->data.size();
  FakeQueueCore::Upload up{content->filename, content->content_type, std::move(content->data)};
  std::string name;
  if (!core_->StoreUpload(std::move(up), &name)) return Reply(500, {{"detail", "Internal server error"}});
  return Reply(201, {{"id", name},
                     {"name", content->filename},
                     {"content_type", content->content_type},
                     {"size", size},
                     {"urls", {{"get", url() + "/uploads/" + name}}}});
}

LocalResponse FakeReplicate::Handle(const LocalRequest& r) {
  if (auto common = routes_->Route(r)) return *common;
  if (r.method == "POST" && r.path == "/v1/files") return UploadFile(r);
  if (r.method == "POST" && r.path == "/v1/predictions") {
    auto body = ParseJsonBody(r.body);
    if (!body || !body->is_object() || !(*body).contains("version") || !(*body)["version"].is_string())
      return Reply(422, {{"detail", "version is required"}});
    Json input = body->contains("input") ? (*body)["input"] : Json::object();
    std::string id;
    double retry = core_->Submit((*body)["version"].get<std::string>(), input, &id);
    if (retry >= 0) return routes_->RateLimited(retry);
    return Reply(201, Prediction(id));
  }
  const std::string prefix = "/v1/predictions/";
  if (!StartsWith(r.path, prefix)) return Reply(404, {{"detail", "Not found."}});
  std::string id = r.path.substr(prefix.size());
  bool cancel = EndsWith(id, "/cancel");
  if (cancel) id = id.substr(0, id.size() - 7);
  if (cancel && r.method == "POST") {
    FakeQueueCore::State state;
    core_->Cancel(id, &state);
  } else if (r.method == "GET") {
    if (auto limited = routes_->PollRateLimited()) return *limited;
  } else {
    return Reply(405, {{"detail", "Method not allowed."}});
  }
  Json p = Prediction(id);
  if (p.is_null()) return Reply(404, {{"detail", "Not found."}});
  return Reply(200, p);
}

}  // namespace comfyrun::testing
