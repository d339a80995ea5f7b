#include "comfyrun/providers/queue_job.h"

#include <fmt/format.h>

#include <filesystem>
#include <regex>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/jobs.h"
#include "comfyrun/providers/provider.h"
#include "comfyrun/providers/provider_util.h"

namespace comfyrun {
namespace {

constexpr double kDefaultPoll = 2;
constexpr double kRateLimitedPollDelay = 5;

/// The provider's own words from an error body: fal and Replicate use `detail` (a string, or
/// a list of {msg} for validation errors); some replies use `error` or `title`.
std::string ProviderMessage(const std::string& body) {
  auto json = ParseJsonBody(body);
  if (!json || !json->is_object()) return Abbreviate(body, 300);
  const Json& j = *json;
  if (j.contains("detail")) {
    const Json& d = j["detail"];
    if (d.is_string()) return d.get<std::string>();
    if (d.is_array()) {
      std::string out;
      for (const auto& e : d) {
        std::string msg = e.is_object() ? JsonStringField(e, "msg") : e.is_string() ? e.get<std::string>() : "";
        if (msg.empty()) continue;
        if (!out.empty()) out += "; ";
        if (e.is_object() && e.contains("loc") && e["loc"].is_array()) {
          std::string loc;
          for (const auto& l : e["loc"])
            loc += (loc.empty() ? "" : ".") + (l.is_string() ? l.get<std::string>() : l.dump());
          out += loc + ": ";
        }
        out += msg;
      }
      if (!out.empty()) return out;
    }
  }
  for (const char* key : {"error", "title", "message"}) {
    std::string s = JsonStringField(j, key);
    if (!s.empty()) return s;
  }
  return Abbreviate(body, 300);
}

/// Retry-After, else Replicate's "Your rate limit resets in ~30s." in the body; -1 if neither.
double RetryAfterOf(const HttpResponse& resp) {
  if (resp.retry_after >= 0) return resp.retry_after;
  static const std::regex kResets(R"(resets in ~?(\d+(?:\.\d+)?)\s*s)");
  std::smatch m;
  if (std::regex_search(resp.body, m, kResets)) return std::stod(m[1]);
  return -1;
}

class QueueJob : public RemoteJob {
 public:
  QueueJob(std::shared_ptr<NodeContext> ctx, const QueueProtocol& protocol, QueueRequest request, Done done)
      : RemoteJob(std::move(ctx), std::move(done)), p_(protocol), request_(std::move(request)) {}

  /// Executor thread: stops the attempt on the loop, cancelling on the provider when asked.
  void CancelQueue(bool cancel_remote) {
    ctx_->cancel_requested = true;
    auto self = std::static_pointer_cast<QueueJob>(shared_from_this());
    OnLoop([self, cancel_remote] { self->OnCancelQueue(cancel_remote); });
  }

 protected:
  void Begin() override {
    key_ = ProviderKey(*ctx_->config, p_.provider);
    base_ = ProviderBaseUrl(*ctx_->config, p_.provider);
    if (key_.empty()) {
      NodeResult f = NodeResult::Failure(
          ErrorType::kAuth, fmt::format("no {} key: set {} in the environment or .env, or run with --offline",
                                        p_.provider, p_.key_variable));
      f.submission_finished = ctx_->submission.is_null();
      Finish(Tag(std::move(f)));
      return;
    }
    const Json& s = ctx_->submission;
    if (s.is_object() && JsonStringField(s, "provider") == p_.provider && !JsonStringField(s, "requestId").empty()) {
      handle_.request_id = JsonStringField(s, "requestId");
      handle_.status_url = JsonStringField(s, "statusUrl");
      handle_.result_url = JsonStringField(s, "resultUrl");
      handle_.cancel_url = JsonStringField(s, "cancelUrl");
      reattached_ = true;
      ctx_->Progress(fmt::format("{}: re-attached to {}", p_.provider, handle_.request_id));
      Poll();
      return;
    }
    PrepareAndSubmit();
  }

 private:
  std::string Label() const {
    return handle_.request_id.empty()
               ? fmt::format("{} {}", p_.provider, request_.model)
               : fmt::format("{} request {} ({})", p_.provider, handle_.request_id, request_.model);
  }

  /// Price of one run: the provider's report, the node's costPerRun, or the model table.
  double Price() const {
    if (reported_cost_ >= 0) return reported_cost_;
    if (request_.cost_per_run >= 0) return request_.cost_per_run;
    const QueueModelInfo* m = FindQueueModel(p_.provider, request_.model);
    return m ? m->usd_per_run : 0;
  }

  NodeResult Tag(NodeResult r) const {
    r.provider = p_.provider;
    r.model = request_.model;
    if (!handle_.request_id.empty()) r.details["requestId"] = handle_.request_id;
    return r;
  }

  HttpRequest Authorized(std::string url) const {
    HttpRequest r;
    r.url = std::move(url);
    r.headers = {{"Authorization", fmt::format("{} {}", p_.auth_scheme, key_)}};
    r.secret_headers = {"authorization"};
    return r;
  }

  double PollDelay() const { return request_.poll_interval >= 0 ? request_.poll_interval : kDefaultPoll; }

  void PrepareAndSubmit() {
    if (!HasLocalFiles(request_.input)) {
      Submit();
      return;
    }
    auto self = std::static_pointer_cast<QueueJob>(shared_from_this());
    OffLoop([self] {
      std::string err;
      Json input = self->request_.input;
      if (!InlineLocalFiles(&input, kMaxInlineFileBytes, &err)) {
        self->Finish(self->Tag(NodeResult::Failure(ErrorType::kInvalidInput, "input: " + err)));
        return;
      }
      self->OnLoop([self, input = std::move(input)]() mutable {
        self->request_.input = std::move(input);
        self->Submit();
      });
    });
  }

  void Submit() {
    HttpRequest r = Authorized("");
    std::string err;
    if (!p_.build_submit(base_, request_.model, request_.input, &r, &err)) {
      Finish(Tag(NodeResult::Failure(ErrorType::kInvalidInput, err)));
      return;
    }
    r.timeout = RequestTimeout(120);
    r.stall_timeout = RequestTimeout(60);
    ctx_->Progress(fmt::format("{}: submitting", p_.provider));
    auto self = std::static_pointer_cast<QueueJob>(shared_from_this());
    Send(std::move(r), [self](const HttpResponse& resp) { self->OnSubmitted(resp); });
  }

  /// A reply that is not a success, as a failure of `what`.
  NodeResult HttpFailure(const HttpResponse& resp, const std::string& what) const {
    if (resp.transport_error != ErrorType::kNone)
      return NodeResult::Failure(resp.transport_error, fmt::format("{}: {}", what, resp.error));
    ErrorType type = ClassifyHttpError(resp);
    std::string message = ProviderMessage(resp.body);
    NodeResult f = NodeResult::Failure(
        type, fmt::format("{}: HTTP {}{}", what, resp.status, message.empty() ? "" : ": " + message));
    if (type == ErrorType::kAuth) f.message += fmt::format(" (check {})", p_.key_variable);
    if (type == ErrorType::kRateLimited) f.retry_after = RetryAfterOf(resp);
    f.details["status"] = resp.status;
    if (auto it = resp.headers.find("x-fal-error-type"); it != resp.headers.end()) f.details["errorType"] = it->second;
    return f;
  }

  void OnSubmitted(const HttpResponse& resp) {
    std::string what = fmt::format("{} submit {}", p_.provider, request_.model);
    if (!resp.ok()) {
      // Nothing was accepted (or, after a transport error, nothing is known to be): the next
      // attempt submits anew. A 429 here also slows the pool down (scheduler, rate_limit.h).
      NodeResult f = HttpFailure(resp, what);
      f.submission_finished = true;
      Finish(Tag(std::move(f)));
      return;
    }
    auto body = ParseJsonBody(resp.body);
    std::string err;
    QueueHandle h;
    if (!body || !body->is_object() || !p_.parse_submit(base_, request_.model, *body, &h, &err)) {
      Finish(Tag(NodeResult::Failure(ErrorType::kUnavailable,
                                     fmt::format("{}: {}", what, err.empty() ? "the reply is not JSON" : err))));
      return;
    }
    handle_ = h;
    // Durable before the first poll: a crash from here on re-attaches instead of paying again.
    ctx_->RecordSubmission({{"provider", p_.provider},
                            {"requestId", handle_.request_id},
                            {"model", request_.model},
                            {"statusUrl", handle_.status_url},
                            {"resultUrl", handle_.result_url},
                            {"cancelUrl", handle_.cancel_url}});
    ctx_->Progress(fmt::format("{}: submitted {}", p_.provider, handle_.request_id));
    auto self = std::static_pointer_cast<QueueJob>(shared_from_this());
    After(PollDelay(), [self] { self->Poll(); });
  }

  void Poll() {
    HttpRequest r = Authorized(handle_.status_url);
    r.timeout = RequestTimeout(60);
    r.stall_timeout = RequestTimeout(30);
    auto self = std::static_pointer_cast<QueueJob>(shared_from_this());
    Send(std::move(r), [self](const HttpResponse& resp) { self->OnPolled(resp); });
  }

  /// Transient trouble while polling or fetching: try `again` after `delay`, a few times.
  void Transient(NodeResult failure, double delay, std::function<void()> again) {
    if (++transient_failures_ > kMaxPollFailures) {
      failure.submission_finished = false;  // the request is journaled: resume re-attaches
      Finish(Tag(std::move(failure)));
      return;
    }
    After(delay, std::move(again));
  }

  void OnPolled(const HttpResponse& resp) {
    auto self = std::static_pointer_cast<QueueJob>(shared_from_this());
    auto again = [self] { self->Poll(); };
    if (!resp.ok()) {
      if (resp.transport_error == ErrorType::kNone && (resp.status == 404 || resp.status == 410)) {
        Expired();
        return;
      }
      NodeResult f = HttpFailure(resp, "polling " + Label());
      if (f.error == ErrorType::kRateLimited) {  // not a failure of the request: wait and ask again
        After(f.retry_after >= 0 ? f.retry_after : kRateLimitedPollDelay, again);
        return;
      }
      if (f.error == ErrorType::kAuth || f.error == ErrorType::kInvalidInput) {
        f.submission_finished = false;
        Finish(Tag(std::move(f)));
        return;
      }
      Transient(std::move(f), PollDelay(), again);
      return;
    }
    auto body = ParseJsonBody(resp.body);
    if (!body || !body->is_object()) {
      Transient(NodeResult::Failure(ErrorType::kUnavailable, "polling " + Label() + ": the reply is not JSON"),
                PollDelay(), again);
      return;
    }
    transient_failures_ = 0;
    QueueStatus s = p_.parse_status(*body);
    last_state_ = s.state;
    if (s.cost >= 0) reported_cost_ = s.cost;
    switch (s.state) {
      case QueueStatus::State::kQueued:
        ctx_->Progress(s.queue_position >= 0 ? fmt::format("{}: queued, position {}", p_.provider, s.queue_position)
                                             : fmt::format("{}: queued", p_.provider));
        After(PollDelay(), again);
        return;
      case QueueStatus::State::kRunning:
        ctx_->Progress(s.last_log.empty() ? fmt::format("{}: running", p_.provider)
                                          : fmt::format("{}: {}", p_.provider, Abbreviate(s.last_log, 80)));
        After(PollDelay(), again);
        return;
      case QueueStatus::State::kCompleted:
        if (s.result) {
          OnResult(*s.result);
        } else {
          FetchResult();
        }
        return;
      case QueueStatus::State::kFailed: {
        NodeResult f = NodeResult::Failure(
            ErrorType::kExecution,
            fmt::format("{} failed: {}", Label(), s.error.empty() ? "the provider gave no reason" : s.error));
        f.submission_finished = true;
        Finish(Tag(std::move(f)));
        return;
      }
      case QueueStatus::State::kCanceled: {
        NodeResult f = NodeResult::Failure(
            ErrorType::kCancelled,
            fmt::format("{} was cancelled on the provider{}", Label(), s.error.empty() ? "" : " (" + s.error + ")"));
        f.submission_finished = true;
        Finish(Tag(std::move(f)));
        return;
      }
      case QueueStatus::State::kExpired:
        Expired();
        return;
    }
  }

  void FetchResult() {
    HttpRequest r = Authorized(handle_.result_url);
    r.timeout = RequestTimeout(120);
    r.stall_timeout = RequestTimeout(60);
    ctx_->Progress(fmt::format("{}: fetching the result", p_.provider));
    auto self = std::static_pointer_cast<QueueJob>(shared_from_this());
    Send(std::move(r), [self](const HttpResponse& resp) {
      if (resp.ok()) {
        auto body = ParseJsonBody(resp.body);
        if (body) {
          self->OnResult(*body);
          return;
        }
        self->Transient(NodeResult::Failure(ErrorType::kUnavailable, self->Label() + ": the result is not JSON"),
                        self->PollDelay(), [self] { self->FetchResult(); });
        return;
      }
      if (resp.transport_error == ErrorType::kNone && (resp.status == 404 || resp.status == 410)) {
        self->Expired();
        return;
      }
      NodeResult f = self->HttpFailure(resp, "the result of " + self->Label());
      bool provider_error = resp.headers.count("x-fal-error-type") > 0 ||
                            (resp.transport_error == ErrorType::kNone && resp.status >= 400 && resp.status < 500 &&
                             resp.status != 429 && resp.status != 408 && f.error != ErrorType::kAuth);
      if (provider_error) {  // the request itself failed: the provider's message is the answer
        f.error = resp.status == 422 ? ErrorType::kInvalidInput : ErrorType::kExecution;
        f.message = fmt::format("{} failed: {}", self->Label(), ProviderMessage(resp.body));
        f.submission_finished = true;
        self->Finish(self->Tag(std::move(f)));
        return;
      }
      double delay = f.retry_after >= 0 ? f.retry_after : self->PollDelay();
      self->Transient(std::move(f), delay, [self] { self->FetchResult(); });
    });
  }

  void OnResult(Json result) {
    result_ = std::move(result);
    files_ = CollectResultFiles(result_, request_.outputs);
    paths_.clear();
    next_file_ = 0;
    download_tries_ = 0;
    DownloadNext();
  }

  void DownloadNext() {
    if (next_file_ >= files_.size()) {
      Succeed();
      return;
    }
    const ResultFile& f = files_[next_file_];
    std::string name = fmt::format("{}-{}{}", f.kind, next_file_ + 1, f.extension.empty() ? ".bin" : f.extension);
    std::string final_path = (std::filesystem::path(ctx_->node_dir) / name).string();
    HttpRequest r;
    r.url = f.url;
    // Replicate's file API URLs live on the API host and need the token; CDN URLs do not.
    if (UrlOrigin(f.url) == UrlOrigin(base_)) r = Authorized(f.url);
    r.download_path = final_path + ".part";
    r.timeout = RequestTimeout(600);
    r.stall_timeout = RequestTimeout(60);
    ctx_->Progress(fmt::format("{}: downloading {}/{}", p_.provider, next_file_ + 1, files_.size()));
    auto self = std::static_pointer_cast<QueueJob>(shared_from_this());
    Send(std::move(r), [self, final_path](const HttpResponse& resp) {
      std::error_code ec;
      if (resp.ok()) {
        std::filesystem::rename(final_path + ".part", final_path, ec);
        if (!ec) {
          self->paths_.push_back(final_path);
          ++self->next_file_;
          self->download_tries_ = 0;
          self->DownloadNext();
          return;
        }
      }
      std::filesystem::remove(final_path + ".part", ec);
      if (resp.transport_error == ErrorType::kNone &&
          (resp.status == 404 || resp.status == 410 || resp.status == 403)) {
        self->Expired();
        return;
      }
      if (++self->download_tries_ >= kMaxDownloadTries) {
        NodeResult f = resp.ok()
                           ? NodeResult::Failure(ErrorType::kInternal, "cannot rename a download: " + ec.message())
                           : self->HttpFailure(resp, "downloading a result of " + self->Label());
        f.submission_finished = false;
        self->Finish(self->Tag(std::move(f)));
        return;
      }
      self->After(1, [self] { self->DownloadNext(); });
    });
  }

  void Succeed() {
    Json outputs = {{"files", paths_},         {"result", result_},       {"requestId", handle_.request_id},
                    {"provider", p_.provider}, {"model", request_.model}, {"imagePath", nullptr},
                    {"videoPath", nullptr},    {"audioPath", nullptr}};
    for (size_t i = 0; i < paths_.size(); ++i) {
      std::string key = files_[i].kind + "Path";
      if (outputs.contains(key) && outputs[key].is_null()) outputs[key] = paths_[i];
    }
    NodeResult r = NodeResult::Success(std::move(outputs));
    r.cost = paid_before_ + Price();
    r.outputs["cost"] = r.cost;
    if (!expired_ids_.empty()) {
      r.details["expiredRequestIds"] = expired_ids_;
      r.outputs["expiredRequestIds"] = expired_ids_;
    }
    Finish(Tag(std::move(r)));
  }

  /// The request or its result is gone: OutputExpired, or a new submission when allowed.
  void Expired() {
    std::string id = handle_.request_id;
    bool was_completed = last_state_ == QueueStatus::State::kCompleted || reattached_;
    if (ctx_->config->resubmit_expired && expired_ids_.empty()) {
      expired_ids_.push_back(id);
      if (was_completed) paid_before_ += Price();
      ctx_->Progress(
          fmt::format("{}: the result of {} expired; submitting again (--resubmit-expired)", p_.provider, id));
      handle_ = QueueHandle{};
      reattached_ = false;
      last_state_ = QueueStatus::State::kQueued;
      PrepareAndSubmit();
      return;
    }
    NodeResult f = NodeResult::Failure(
        ErrorType::kOutputExpired,
        fmt::format("{}: the result has expired on the provider before it was downloaded ({} keeps results for an "
                    "hour or less); it is not submitted again unless you resume with --resubmit-expired, which pays "
                    "for it again",
                    Label(), p_.provider));
    // The lost payment is named, not counted: a later --resubmit-expired counts it with the new
    // one, and a resume that meets the same expired request again must not count it twice.
    f.cost = paid_before_;
    if (was_completed) f.details["lostCost"] = Price();
    // Kept: a later resume meets the same expired request, unless --resubmit-expired.
    f.submission_finished = false;
    Finish(Tag(std::move(f)));
  }

  void OnCancelQueue(bool cancel_remote) {
    if (finished()) return;
    bool have = !handle_.request_id.empty();
    bool can = have && cancel_remote && !handle_.cancel_url.empty() &&
               (!p_.cancel_only_queued || last_state_ == QueueStatus::State::kQueued);
    if (can) {
      HttpRequest r = Authorized(handle_.cancel_url);
      r.method = p_.cancel_method;
      r.timeout = 10;
      // Fire and forget: the attempt ends now (the reply is dropped); a resume polls the
      // request and sees the outcome.
      Send(std::move(r), [](const HttpResponse&) {});
    }
    std::string message;
    if (!have)
      message = "cancelled";
    else if (can)
      message = fmt::format("cancelled; asked {} to cancel request {}", p_.provider, handle_.request_id);
    else if (cancel_remote)
      message = fmt::format("cancelled; {} cannot cancel request {} once it runs, so it stays and resume re-attaches",
                            p_.provider, handle_.request_id);
    else
      message = fmt::format("cancelled; request {} stays on {} and resume re-attaches to it", handle_.request_id,
                            p_.provider);
    NodeResult r = NodeResult::Failure(ErrorType::kCancelled, message);
    r.submission_finished = !have;
    if (have) r.details = Json{{"detached", !can}, {"cancelSent", can}};
    Finish(Tag(std::move(r)));
  }

  const QueueProtocol& p_;
  QueueRequest request_;
  // Loop thread only.
  std::string key_, base_;
  QueueHandle handle_;
  bool reattached_ = false;
  QueueStatus::State last_state_ = QueueStatus::State::kQueued;
  double reported_cost_ = -1;
  double paid_before_ = 0;  ///< requests whose results expired and were resubmitted
  std::vector<std::string> expired_ids_;
  int transient_failures_ = 0;
  Json result_;
  std::vector<ResultFile> files_;
  std::vector<std::string> paths_;
  size_t next_file_ = 0;
  int download_tries_ = 0;
};

}  // namespace

bool CancelQueueJobFor(const NodeContext* ctx) {
  auto weak = std::static_pointer_cast<std::weak_ptr<RemoteJob>>(ctx->kind_state);
  std::shared_ptr<RemoteJob> job = weak ? weak->lock() : nullptr;
  auto queue = std::dynamic_pointer_cast<QueueJob>(job);
  if (!queue) return false;
  queue->CancelQueue(!ctx->detach_remote.load());
  return true;
}

std::shared_ptr<RemoteJob> MakeQueueJob(std::shared_ptr<NodeContext> ctx, const QueueProtocol& protocol,
                                        QueueRequest request, RemoteJob::Done done) {
  return std::make_shared<QueueJob>(std::move(ctx), protocol, std::move(request), std::move(done));
}

}  // namespace comfyrun
