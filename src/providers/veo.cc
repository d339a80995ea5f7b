// Veo through the Gemini API (PROVIDERS.md §2):
//   submit   POST {base}/v1beta/models/{model}:predictLongRunning -> {name}
//   journal  {provider: "veo", operation: name, model, durationSeconds}   (before any poll)
//   poll     GET {base}/v1beta/{name} every pollInterval until done
//   result   response.generateVideoResponse.generatedSamples[0].video.{uri|encodedVideo};
//            done without samples = RAI filtered -> ContentBlocked with the reasons
//   download GET uri (key header only when uri has the base URL's origin; redirects
//            followed, and the loop strips the key when one leaves that origin)
#include <fmt/format.h>

#include <filesystem>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/provider.h"
#include "comfyrun/providers/replies.h"
#include "video_job.h"

namespace comfyrun {
namespace {

constexpr double kVeoDefaultPoll = 5;

class VeoJob : public VideoJobBase {
 public:
  using VideoJobBase::VideoJobBase;

 protected:
  const char* provider_name() const override { return "veo"; }
  std::string JobLabel() const override {
    return job_id_.empty() ? fmt::format("veo {}", model_.id) : fmt::format("veo operation {}", job_id_);
  }

  void Begin() override {
    base_ = ProviderBaseUrl(*ctx_->config, "veo");
    key_ = ProviderKey(*ctx_->config, "veo");
    if (key_.empty()) {
      Finish(Tag(NodeResult::Failure(ErrorType::kAuth, fmt::format("no Gemini API key: set {} in the environment or "
                                                                   ".env, or run with --offline",
                                                                   ProviderKeyVariable("veo"))),
                 false));
      return;
    }
    const Json& s = ctx_->submission;
    if (std::string id = JournaledSubmissionId(*FindProvider("veo"), s); !id.empty()) {
      job_id_ = id;
      reattached_ = true;
      if (s.contains("durationSeconds") && s["durationSeconds"].is_number_integer())
        request_.seconds = s["durationSeconds"].get<int>();
      ctx_->Progress("veo: re-attached to " + job_id_);
      Poll();
      return;
    }
    auto self = std::static_pointer_cast<VeoJob>(shared_from_this());
    OffLoop([self] {
      Json instance = {{"prompt", self->request_.prompt}};
      if (!self->request_.image_path.empty()) {
        std::string bytes, err;
        if (!ReadFile(self->request_.image_path, &bytes, &err)) {
          self->Finish(NodeResult::Failure(ErrorType::kInvalidInput,
                                           fmt::format("reading image {}: {}", Quote(self->request_.image_path), err)));
          return;
        }
        instance["image"] = {{"bytesBase64Encoded", Base64Encode(bytes)},
                             {"mimeType", GuessMimeType(self->request_.image_path, bytes.substr(0, 16))}};
      }
      Json parameters = {{"aspectRatio", self->request_.aspect_ratio},
                         {"durationSeconds", self->request_.seconds},
                         {"resolution", self->request_.resolution}};
      if (!self->request_.negative_prompt.empty()) parameters["negativePrompt"] = self->request_.negative_prompt;
      Json body = {{"instances", Json::array({instance})}, {"parameters", parameters}};
      std::string text = body.dump();
      self->OnLoop([self, text = std::move(text)]() mutable { self->Submit(std::move(text)); });
    });
  }

 private:
  HttpRequest Authorized(std::string url) const {
    HttpRequest r;
    r.url = std::move(url);
    r.headers = {{"x-goog-api-key", key_}};
    r.secret_headers = {"x-goog-api-key"};
    r.secret_query_params = {"key"};
    return r;
  }

  void Submit(std::string body) {
    HttpRequest r = Authorized(fmt::format("{}/v1beta/models/{}:predictLongRunning", base_, model_.id));
    r.method = "POST";
    r.headers.push_back({"Content-Type", "application/json"});
    r.body = std::move(body);
    r.timeout = RequestTimeout(120);
    r.stall_timeout = RequestTimeout(60);
    ctx_->Progress("veo: submitting");
    auto self = std::static_pointer_cast<VeoJob>(shared_from_this());
    Send(std::move(r), [self](const HttpResponse& resp) { self->OnSubmitted(resp); });
  }

  void OnSubmitted(const HttpResponse& resp) {
    std::string what = fmt::format("veo predictLongRunning {}", model_.id);
    if (!resp.ok()) {
      NodeResult f = GeminiHttpFailure(resp, what, model_.id);
      f.submission_finished = true;  // nothing was accepted (or we cannot know its id)
      Finish(Tag(std::move(f), false));
      return;
    }
    auto body = ParseJsonBody(resp.body);
    if (!body || !body->is_object() || !body->contains("name") || !(*body)["name"].is_string()) {
      Finish(
          Tag(NodeResult::Failure(ErrorType::kUnavailable,
                                  fmt::format("{}: the reply is not an operation (malformed JSON or no name)", what)),
              false));
      return;
    }
    job_id_ = (*body)["name"].get<std::string>();
    // Durable before the first poll: a crash from here on re-attaches instead of paying again.
    ctx_->RecordSubmission(
        {{"provider", "veo"}, {"operation", job_id_}, {"model", model_.id}, {"durationSeconds", request_.seconds}});
    VeoOperationReply op = ParseVeoOperation(*body, JobLabel());
    if (op.state == VeoOperationReply::State::kRunning) {
      ScheduleNextPoll();
      return;
    }
    OnPolled(std::move(op));
  }

  void ScheduleNextPoll() {
    auto self = std::static_pointer_cast<VeoJob>(shared_from_this());
    After(PollInterval(kVeoDefaultPoll), [self] { self->Poll(); });
  }

  void Poll() {
    HttpRequest r = Authorized(fmt::format("{}/v1beta/{}", base_, job_id_));
    r.timeout = RequestTimeout(60);
    r.stall_timeout = RequestTimeout(30);
    auto self = std::static_pointer_cast<VeoJob>(shared_from_this());
    Send(std::move(r), [self](const HttpResponse& resp) {
      std::string what = fmt::format("polling {}", self->JobLabel());
      if (!resp.ok()) {
        NodeResult f = GeminiHttpFailure(resp, what, self->model_.id);
        if (resp.transport_error == ErrorType::kNone && resp.status == 404) {
          f.error = ErrorType::kUnavailable;
          f.message = fmt::format(
              "{}: the provider does not know this operation (HTTP 404){}; the next attempt "
              "submits anew",
              what, self->reattached_ ? " (expired since it was journaled?)" : "");
          f.submission_finished = true;
          self->Finish(self->Tag(std::move(f), false));
          return;
        }
        if (f.error == ErrorType::kAuth || f.error == ErrorType::kInvalidInput) {
          f.submission_finished = false;  // the job lives on; fix the key and resume
          self->Finish(self->Tag(std::move(f), false));
          return;
        }
        self->PollFailed(std::move(f), self->PollInterval(kVeoDefaultPoll), [self] { self->Poll(); });
        return;
      }
      auto body = ParseJsonBody(resp.body);
      if (!body || !body->is_object()) {
        self->PollFailed(NodeResult::Failure(ErrorType::kUnavailable, what + ": malformed JSON in the reply"),
                         self->PollInterval(kVeoDefaultPoll), [self] { self->Poll(); });
        return;
      }
      self->PollSucceeded();
      self->OnPolled(ParseVeoOperation(*body, self->JobLabel()));
    });
  }

  void OnPolled(VeoOperationReply op) {
    switch (op.state) {
      case VeoOperationReply::State::kRunning:
        ctx_->Progress(fmt::format("veo: generating ({:.0f}s)", Elapsed()));
        ScheduleNextPoll();
        return;
      case VeoOperationReply::State::kFailed:
        Finish(Tag(std::move(op.failure), false));
        return;
      case VeoOperationReply::State::kInline: {
        auto self = std::static_pointer_cast<VeoJob>(shared_from_this());
        OffLoop([self, encoded = std::move(op.encoded_video)] {
          auto bytes = Base64Decode(encoded);
          if (!bytes) {
            NodeResult f =
                NodeResult::Failure(ErrorType::kOutputInvalid, self->JobLabel() + ": encodedVideo is not base64");
            f.submission_finished = false;
            self->Finish(self->Tag(std::move(f), false));
            return;
          }
          self->OnLoop([self, b = std::move(*bytes)]() mutable { self->SaveInline(std::move(b)); });
        });
        return;
      }
      case VeoOperationReply::State::kUri: {
        HttpRequest r;
        r.url = op.uri;
        // The key goes only to the API's own origin; the loop drops it on a redirect elsewhere.
        if (UrlOrigin(op.uri) == UrlOrigin(base_)) r.headers = {{"x-goog-api-key", key_}};
        r.secret_headers = {"x-goog-api-key"};
        r.secret_query_params = {"key"};
        r.max_redirects = 5;
        Download(std::move(r));
        return;
      }
    }
  }

  std::string base_;
  std::string key_;
  bool reattached_ = false;
};

}  // namespace

VeoOperationReply ParseVeoOperation(const Json& op, const std::string& label) {
  VeoOperationReply out;
  if (!op.is_object()) {
    out.state = VeoOperationReply::State::kFailed;
    out.failure = NodeResult::Failure(ErrorType::kUnavailable, label + ": the operation is not a JSON object");
    out.failure.submission_finished = false;
    return out;
  }
  // Only a JSON true is done. op.value("done", false) threw on {"done": 1} or "true", and
  // the exception escaped the poll callback (found by tests/fuzz provider_replies).
  if (!op.contains("done") || op["done"] != true) return out;  // still running
  out.state = VeoOperationReply::State::kFailed;
  if (op.contains("error") && op["error"].is_object()) {
    out.failure = RpcStatusFailure(op["error"], label);
    out.failure.submission_finished = true;
    return out;
  }
  const Json* resp = op.contains("response") && op["response"].is_object() ? &op["response"] : nullptr;
  const Json* gvr = resp && resp->contains("generateVideoResponse") && (*resp)["generateVideoResponse"].is_object()
                        ? &(*resp)["generateVideoResponse"]
                        : resp;
  const Json* samples = nullptr;
  if (gvr) {
    for (const char* key : {"generatedSamples", "generatedVideos", "videos"})
      if (gvr->contains(key) && (*gvr)[key].is_array() && !(*gvr)[key].empty()) samples = &(*gvr)[key];
  }
  if (!samples) {
    Json reasons = gvr && gvr->contains("raiMediaFilteredReasons") ? (*gvr)["raiMediaFilteredReasons"] : Json::array();
    int count = gvr && gvr->contains("raiMediaFilteredCount") && (*gvr)["raiMediaFilteredCount"].is_number_integer()
                    ? (*gvr)["raiMediaFilteredCount"].get<int>()
                    : 0;
    std::string text;
    if (reasons.is_array())
      for (const Json& r : reasons)
        if (r.is_string()) text += (text.empty() ? "" : "; ") + r.get<std::string>();
    NodeResult f = NodeResult::Failure(
        ErrorType::kContentBlocked,
        fmt::format("{}: finished without a video{}{}", label,
                    count > 0 ? fmt::format(" ({} filtered by the provider's safety filters)", count) : "",
                    text.empty() ? "" : ": " + text));
    f.details = {{"raiMediaFilteredCount", count}, {"raiMediaFilteredReasons", reasons}};
    f.submission_finished = true;
    out.failure = std::move(f);
    return out;
  }
  const Json& sample = (*samples)[0];
  const Json& video = sample.contains("video") ? sample["video"] : sample;
  if (video.contains("encodedVideo") && video["encodedVideo"].is_string()) {
    out.state = VeoOperationReply::State::kInline;
    out.encoded_video = video["encodedVideo"].get<std::string>();
    return out;
  }
  if (!video.contains("uri") || !video["uri"].is_string()) {
    out.failure = NodeResult::Failure(ErrorType::kUnavailable, label + ": the finished operation names no video");
    out.failure.submission_finished = false;
    return out;
  }
  out.state = VeoOperationReply::State::kUri;
  out.uri = video["uri"].get<std::string>();
  return out;
}

std::shared_ptr<RemoteJob> MakeVeoJob(std::shared_ptr<NodeContext> ctx, ModelInfo model, VideoRequest request,
                                      RemoteJob::Done done) {
  return std::make_shared<VeoJob>(std::move(ctx), std::move(model), std::move(request), std::move(done));
}

}  // namespace comfyrun
