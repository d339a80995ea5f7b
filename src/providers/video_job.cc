#include "video_job.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "comfyrun/core/util.h"
#include "comfyrun/engine/retry.h"

namespace comfyrun {

VideoJobBase::VideoJobBase(std::shared_ptr<NodeContext> ctx, ModelInfo model, VideoRequest request, Done done)
    : RemoteJob(std::move(ctx), std::move(done)), model_(std::move(model)), request_(std::move(request)) {
  part_path_ = (std::filesystem::path(ctx_->node_dir) / "video.mp4.part").string();
  final_path_ = (std::filesystem::path(ctx_->node_dir) / "video.mp4").string();
}

double VideoJobBase::PollInterval(double provider_default) const {
  return request_.poll_interval >= 0 ? request_.poll_interval : provider_default;
}

NodeResult VideoJobBase::Tag(NodeResult r, bool charged) const {
  r.provider = provider_name();
  r.model = model_.id;
  r.cost = charged
               ? EstimateGenerationCost(model_, request_.seconds,
                                        model_.provider == Provider::kSora ? SoraSize(request_) : request_.resolution)
               : 0;
  if (!job_id_.empty() && r.details.is_object()) r.details["jobId"] = job_id_;
  return r;
}

void VideoJobBase::PollFailed(NodeResult failure, double delay, std::function<void()> poll_again) {
  if (poll_failures_.Count()) {
    failure.submission_finished = false;  // the job may well be alive: re-attach next time
    failure.message += fmt::format(" ({} polls in a row failed; the next attempt re-attaches to {})",
                                   poll_failures_.count(), JobLabel());
    Finish(Tag(std::move(failure), false));
    return;
  }
  if (failure.retry_after > delay) delay = failure.retry_after;
  After(delay, std::move(poll_again));
}

void VideoJobBase::Download(HttpRequest request) {
  download_request_ = std::move(request);
  download_request_.method = "GET";
  download_request_.download_path = part_path_;
  download_request_.timeout = RequestTimeout(900);
  download_request_.stall_timeout = RequestTimeout(60);
  ++download_tries_;
  ctx_->Progress(fmt::format("{}: downloading", provider_name()));
  std::error_code ec;
  std::filesystem::remove(part_path_, ec);
  auto self = std::static_pointer_cast<VideoJobBase>(shared_from_this());
  Send(download_request_, [self](HttpResponse r) {
    if (r.ok()) {
      self->Validate();
      return;
    }
    NodeResult failure = self->model_.provider == Provider::kSora
                             ? OpenAiHttpFailure(r, fmt::format("downloading {}", self->JobLabel()))
                             : GeminiHttpFailure(r, fmt::format("downloading {}", self->JobLabel()), self->model_.id);
    if (r.transport_error == ErrorType::kNone && (r.status == 404 || r.status == 410)) {
      failure.error = ErrorType::kUnavailable;
      failure.message = fmt::format("downloading {}: the video is gone (HTTP {}); the next attempt submits anew",
                                    self->JobLabel(), r.status);
      failure.submission_finished = true;
      self->Finish(self->Tag(std::move(failure), false));
      return;
    }
    if (failure.error == ErrorType::kAuth) {
      failure.submission_finished = false;
      self->Finish(self->Tag(std::move(failure), false));
      return;
    }
    self->DownloadFailed(std::move(failure));
  });
}

void VideoJobBase::SaveInline(std::string bytes) {
  auto self = std::static_pointer_cast<VideoJobBase>(shared_from_this());
  ++download_tries_;
  OffLoop([self, bytes = std::move(bytes)] {
    std::string err;
    if (!WriteFileAtomic(self->part_path_, bytes, &err)) {
      NodeResult r = NodeResult::Failure(ErrorType::kInternal, fmt::format("writing {}: {}", self->part_path_, err));
      r.submission_finished = false;
      self->Finish(self->Tag(std::move(r), false));
      return;
    }
    self->OnLoop([self] { self->Validate(); });
  });
}

void VideoJobBase::DownloadFailed(NodeResult failure) {
  if (download_tries_ >= kMaxDownloadTries || download_request_.url.empty()) {
    failure.submission_finished = false;  // the video exists: re-attach and download again
    failure.message += fmt::format(" (after {} download tries)", download_tries_);
    Finish(Tag(std::move(failure), false));
    return;
  }
  auto self = std::static_pointer_cast<VideoJobBase>(shared_from_this());
  double delay = failure.retry_after > 0 ? failure.retry_after : 0.5 * download_tries_;
  After(delay, [self] { self->Download(self->download_request_); });
}

void VideoJobBase::Validate() {
  auto self = std::static_pointer_cast<VideoJobBase>(shared_from_this());
  OffLoop([self] {
    double duration = 0;
    std::string err;
    if (!CheckVideoFile(self->part_path_, &duration, &err)) {
      NodeResult failure = NodeResult::Failure(
          ErrorType::kOutputInvalid, fmt::format("{}: the downloaded video is not valid: {}", self->JobLabel(), err));
      self->OnLoop([self, failure] { self->DownloadFailed(failure); });
      return;
    }
    if (std::fabs(duration - self->request_.seconds) > 1.0) {
      NodeResult failure = NodeResult::Failure(
          ErrorType::kOutputInvalid, fmt::format("{}: the video lasts {:.2f}s but {}s were requested", self->JobLabel(),
                                                 duration, self->request_.seconds));
      failure.submission_finished = true;
      // Only a new job can help (the same one re-downloads the same video), with a new seed.
      MarkRegenerates(&failure, !SeedFixed(self->ctx_->inputs));
      self->Finish(self->Tag(std::move(failure), true));
      return;
    }
    std::error_code ec;
    std::filesystem::rename(self->part_path_, self->final_path_, ec);
    if (ec) {
      NodeResult r = NodeResult::Failure(ErrorType::kInternal, fmt::format("renaming the download: {}", ec.message()));
      r.submission_finished = false;
      self->Finish(self->Tag(std::move(r), false));
      return;
    }
    std::string abs = std::filesystem::absolute(self->final_path_, ec).string();
    NodeResult r = NodeResult::Success(
        {{"videoPath", abs}, {"duration", std::round(duration * 1000) / 1000}, {"jobId", self->job_id_}});
    r = self->Tag(std::move(r), true);
    r.outputs["cost"] = r.cost;
    r.outputs["model"] = r.model;
    r.outputs["provider"] = r.provider;
    r.submission_finished = true;
    self->Finish(std::move(r));
  });
}

}  // namespace comfyrun
