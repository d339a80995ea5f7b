// Sora through the OpenAI videos API (PROVIDERS.md §3), or any endpoint speaking it:
//   submit   POST {base}/videos, multipart: model, prompt, seconds ("4"), size ("1280x720"),
//            input_reference (file part) -> video object {id, status}
//   journal  {provider: "sora", videoId, model, seconds}   (before any poll)
//   poll     GET {base}/videos/{id}, waiting openai-poll-after-ms when the reply has it;
//            status queued | in_progress | completed | failed (error {code, message})
//   download GET {base}/videos/{id}/content
#include <fmt/format.h>

#include <filesystem>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider.h"
#include "comfyrun/providers/replies.h"
#include "video_job.h"

namespace comfyrun {
namespace {

constexpr double kSoraDefaultPoll = 2;

class SoraJob : public VideoJobBase {
 public:
  using VideoJobBase::VideoJobBase;

 protected:
  const char* provider_name() const override { return "sora"; }
  std::string JobLabel() const override {
    return job_id_.empty() ? fmt::format("sora {}", model_.id) : fmt::format("sora video {}", job_id_);
  }

  void Begin() override {
    base_ = ProviderBaseUrl(*ctx_->config, "sora");
    key_ = ProviderKey(*ctx_->config, "sora");
    if (key_.empty()) {
      Finish(Tag(NodeResult::Failure(ErrorType::kAuth, fmt::format("no OpenAI API key: set {} in the environment or "
                                                                   ".env, or run with --offline",
                                                                   ProviderKeyVariable("sora"))),
                 false));
      return;
    }
    const Json& s = ctx_->submission;
    if (std::string id = JournaledSubmissionId(*FindProvider("sora"), s); !id.empty()) {
      job_id_ = id;
      reattached_ = true;
      if (s.contains("seconds") && s["seconds"].is_number_integer()) request_.seconds = s["seconds"].get<int>();
      ctx_->Progress("sora: re-attached to " + job_id_);
      Poll();
      return;
    }
    Submit();
  }

 private:
  HttpRequest Authorized(std::string url) const {
    HttpRequest r;
    r.url = std::move(url);
    r.headers = {{"Authorization", "Bearer " + key_}};
    r.secret_headers = {"authorization"};
    return r;
  }

  void Submit() {
    HttpRequest r = Authorized(base_ + "/videos");
    r.method = "POST";
    r.multipart = {{"model", model_.id},
                   {"prompt", request_.prompt},
                   {"seconds", std::to_string(request_.seconds)},
                   {"size", SoraSize(request_)}};
    if (!request_.image_path.empty()) {
      MultipartPart part;
      part.name = "input_reference";
      part.file_path = request_.image_path;
      part.filename = std::filesystem::path(request_.image_path).filename().string();
      part.content_type = GuessMimeType(request_.image_path, "");
      r.multipart.push_back(std::move(part));
    }
    r.timeout = RequestTimeout(120);
    r.stall_timeout = RequestTimeout(60);
    ctx_->Progress("sora: submitting");
    auto self = std::static_pointer_cast<SoraJob>(shared_from_this());
    Send(std::move(r), [self](const HttpResponse& resp) { self->OnSubmitted(resp); });
  }

  void OnSubmitted(const HttpResponse& resp) {
    std::string what = fmt::format("sora POST /videos {}", model_.id);
    if (!resp.ok()) {
      NodeResult f = OpenAiHttpFailure(resp, what);
      if (f.error == ErrorType::kInvalidInput && resp.status == 404)
        f.message = fmt::format(
            "{}: model {} is not available at this endpoint (HTTP 404); OpenAI retired the Sora 2 "
            "API on 2026-09-24, set OPENAI_BASE_URL to an endpoint that speaks it",
            what, Quote(model_.id));
      f.submission_finished = true;
      Finish(Tag(std::move(f), false));
      return;
    }
    auto body = ParseJsonBody(resp.body);
    if (!body || !body->is_object() || !body->contains("id") || !(*body)["id"].is_string()) {
      Finish(
          Tag(NodeResult::Failure(ErrorType::kUnavailable,
                                  fmt::format("{}: the reply is not a video object (malformed JSON or no id)", what)),
              false));
      return;
    }
    job_id_ = (*body)["id"].get<std::string>();
    ctx_->RecordSubmission(
        {{"provider", "sora"}, {"videoId", job_id_}, {"model", model_.id}, {"seconds", request_.seconds}});
    OnPolled(*body, resp);
  }

  void Poll() {
    HttpRequest r = Authorized(fmt::format("{}/videos/{}", base_, job_id_));
    r.timeout = RequestTimeout(60);
    r.stall_timeout = RequestTimeout(30);
    auto self = std::static_pointer_cast<SoraJob>(shared_from_this());
    Send(std::move(r), [self](const HttpResponse& resp) {
      std::string what = fmt::format("polling {}", self->JobLabel());
      if (!resp.ok()) {
        NodeResult f = OpenAiHttpFailure(resp, what);
        if (resp.transport_error == ErrorType::kNone && resp.status == 404) {
          f.error = ErrorType::kUnavailable;
          f.message =
              fmt::format("{}: the provider does not know this video (HTTP 404){}; the next attempt submits anew", what,
                          self->reattached_ ? " (expired since it was journaled?)" : "");
          f.submission_finished = true;
          self->Finish(self->Tag(std::move(f), false));
          return;
        }
        if (f.error == ErrorType::kAuth || f.error == ErrorType::kInvalidInput) {
          f.submission_finished = false;
          self->Finish(self->Tag(std::move(f), false));
          return;
        }
        self->PollFailed(std::move(f), self->NextDelay(resp), [self] { self->Poll(); });
        return;
      }
      auto body = ParseJsonBody(resp.body);
      if (!body || !body->is_object()) {
        self->PollFailed(NodeResult::Failure(ErrorType::kUnavailable, what + ": malformed JSON in the reply"),
                         self->NextDelay(resp), [self] { self->Poll(); });
        return;
      }
      self->PollSucceeded();
      self->OnPolled(*body, resp);
    });
  }

  /// The server's openai-poll-after-ms when present, else the configured interval.
  double NextDelay(const HttpResponse& resp) const {
    if (auto it = resp.headers.find("openai-poll-after-ms"); it != resp.headers.end()) {
      if (auto ms = ParseDelaySeconds(it->second)) return std::max(*ms / 1000.0, PollInterval(0));
    }
    return PollInterval(kSoraDefaultPoll);
  }

  void OnPolled(const Json& body, const HttpResponse& resp) {
    SoraVideoReply video = ParseSoraVideo(body, JobLabel());
    switch (video.state) {
      case SoraVideoReply::State::kWaiting: {
        ctx_->Progress(fmt::format("sora: {} {}%", video.status.empty() ? "waiting" : video.status, video.progress));
        auto self = std::static_pointer_cast<SoraJob>(shared_from_this());
        After(NextDelay(resp), [self] { self->Poll(); });
        return;
      }
      case SoraVideoReply::State::kCompleted: {
        HttpRequest r = Authorized(fmt::format("{}/videos/{}/content", base_, job_id_));
        r.headers.push_back({"Accept", "application/binary"});
        Download(std::move(r));
        return;
      }
      case SoraVideoReply::State::kFailed:
        Finish(Tag(std::move(video.failure), false));
        return;
    }
  }

  std::string base_;
  std::string key_;
  bool reattached_ = false;
};

}  // namespace

SoraVideoReply ParseSoraVideo(const Json& video, const std::string& label) {
  SoraVideoReply out;
  // Fields are read type-checked: Json::value() threw on {"status": 5} or {"error": {"code":
  // 429}}, out of the poll callback, and get<int>() of a progress of 1e300 is undefined
  // (both found by tests/fuzz provider_replies). A value of another type is shown as JSON.
  auto text = [](const Json& obj, const char* key) -> std::string {
    if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return "";
    return obj[key].is_string() ? obj[key].get<std::string>() : obj[key].dump();
  };
  if (!video.is_object()) {
    out.state = SoraVideoReply::State::kFailed;
    out.failure = NodeResult::Failure(ErrorType::kUnavailable, label + ": the video is not a JSON object");
    return out;
  }
  out.status = text(video, "status");
  const std::string& status = out.status;
  if (status == "queued" || status == "in_progress" || status.empty()) {
    if (video.contains("progress") && video["progress"].is_number()) {
      double p = video["progress"].get<double>();
      out.progress = p >= 100 ? 100 : p > 0 ? static_cast<int>(p) : 0;
    }
    return out;
  }
  if (status == "completed") {
    out.state = SoraVideoReply::State::kCompleted;
    return out;
  }
  // failed, or a state this client does not know (cancelled, expired, ...): the job is over.
  out.state = SoraVideoReply::State::kFailed;
  Json error = video.contains("error") && video["error"].is_object() ? video["error"] : Json::object();
  std::string code = text(error, "code");
  std::string message = text(error, "message");
  ErrorType type = ErrorType::kExecution;
  auto has = [&](const char* word) {
    return code.find(word) != std::string::npos || message.find(word) != std::string::npos;
  };
  if (has("moderation") || has("policy") || has("safety") || has("blocked"))
    type = ErrorType::kContentBlocked;
  else if (has("invalid"))
    type = ErrorType::kInvalidInput;
  NodeResult f =
      NodeResult::Failure(type, fmt::format("{}: {}{}{}", label, status, code.empty() ? "" : " (" + code + ")",
                                            message.empty() ? "" : ": " + message));
  if (!code.empty()) f.details["code"] = code;
  f.submission_finished = true;
  out.failure = std::move(f);
  return out;
}

std::shared_ptr<RemoteJob> MakeSoraJob(std::shared_ptr<NodeContext> ctx, ModelInfo model, VideoRequest request,
                                       RemoteJob::Done done) {
  return std::make_shared<SoraJob>(std::move(ctx), std::move(model), std::move(request), std::move(done));
}

}  // namespace comfyrun
