#pragma once
// Readers of the providers' success replies (PROVIDERS.md §1-3): pure functions from a reply
// body to what the job does next. The jobs in src/providers/ call them; keeping them apart
// from the jobs (which need an HTTP loop and a node context) lets tests/fuzz feed them
// arbitrary replies. Error replies (HTTP 4xx/5xx) are read by provider_util.h.
//
// None of them throws: any JSON shape, any value type, becomes a reply or a failure.
// Failures come without provider/model/cost; the job adds those (its Tag()).
#include <string>

#include "comfyrun/core/json.h"
#include "comfyrun/engine/node_result.h"

namespace comfyrun {

/// A Gemini generateContent reply: the first image, or why there is none.
struct GeminiImageReply {
  std::string mime_type;  ///< "image/png", ...; set together with data
  std::string data;       ///< the image, base64 as sent; empty when `failure` says why
  /// When data is empty: kUnavailable (not a JSON object), kContentBlocked (promptFeedback
  /// blockReason, or a safety finishReason) or kNoImage (text only), with the provider's
  /// reason in details.
  NodeResult failure;
};
/// `body` is the reply text; `what` names the call in messages ("gemini generateContent M").
GeminiImageReply ParseGeminiImageReply(const std::string& body, const std::string& what);

/// A Veo long-running operation (the predictLongRunning reply or a poll of it).
struct VeoOperationReply {
  enum class State {
    kRunning,  ///< not done yet: poll again
    kFailed,   ///< done without a video, or the operation names none: `failure`
    kInline,   ///< done, the video is in `encoded_video` (base64)
    kUri,      ///< done, the video is to be downloaded from `uri`
  };
  State state = State::kRunning;
  NodeResult failure;         ///< kFailed; its submission_finished says whether to re-attach
  std::string encoded_video;  ///< kInline
  std::string uri;            ///< kUri
};
/// `op` is the parsed reply object; `label` names the job in messages.
VeoOperationReply ParseVeoOperation(const Json& op, const std::string& label);

/// A Sora video object (the POST /videos reply or a poll of it).
struct SoraVideoReply {
  enum class State {
    kWaiting,    ///< queued, in_progress or no status yet: poll again
    kCompleted,  ///< download the content
    kFailed,     ///< failed, or a state this client does not know: `failure`
  };
  State state = State::kWaiting;
  std::string status;  ///< as the provider wrote it ("" when absent)
  int progress = 0;    ///< percent, 0..100, while waiting
  NodeResult failure;  ///< kFailed
};
/// `video` is the parsed reply object; `label` names the job in messages.
SoraVideoReply ParseSoraVideo(const Json& video, const std::string& label);

}  // namespace comfyrun
