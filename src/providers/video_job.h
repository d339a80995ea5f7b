#pragma once
// VideoJobBase: the part Veo and Sora share (internal to src/providers/): polling bookkeeping,
// downloading the result to node_dir/video.mp4 with bounded re-fetches, validating it off
// the loop thread, and the success result.
//
// Thread: as RemoteJob. Members are touched on the loop thread, except `request_` and
// `model_` which are set before Start() and only read afterwards.
#include <string>
#include <vector>

#include "comfyrun/providers/jobs.h"
#include "comfyrun/providers/models.h"

namespace comfyrun {

class VideoJobBase : public RemoteJob {
 public:
  VideoJobBase(std::shared_ptr<NodeContext> ctx, ModelInfo model, VideoRequest request, Done done);

 protected:
  /// Downloads `url` to the part file with `request` as a template (headers, secrets), then
  /// validates it and finishes. Re-fetches on failure up to kMaxDownloadTries times.
  void Download(HttpRequest request);
  /// Writes already decoded bytes (Veo encodedVideo) and validates them like a download.
  void SaveInline(std::string bytes);
  /// A poll that failed transiently: poll again after `delay` unless too many failed in a
  /// row; then the attempt fails keeping the submission for re-attachment.
  void PollFailed(NodeResult failure, double delay, std::function<void()> poll_again);
  /// Resets the consecutive-failure count after a good poll.
  void PollSucceeded() { poll_failures_.Reset(); }
  /// Seconds until the next poll: the request's pollInterval or `provider_default`.
  double PollInterval(double provider_default) const;
  /// Fills provider/model/cost into a result.
  NodeResult Tag(NodeResult result, bool charged) const;
  /// Human label for messages: "veo operation models/x/operations/y".
  virtual std::string JobLabel() const = 0;
  virtual const char* provider_name() const = 0;

  ModelInfo model_;
  VideoRequest request_;
  std::string job_id_;      ///< operation name or video id, once known
  std::string part_path_;   ///< node_dir/video.mp4.part
  std::string final_path_;  ///< node_dir/video.mp4

 private:
  void Validate();
  void DownloadFailed(NodeResult failure);

  HttpRequest download_request_;
  int download_tries_ = 0;
  PollFailures poll_failures_{kMaxPollFailures};
};

}  // namespace comfyrun
