#pragma once
// Constructors of the provider jobs (one attempt each). The node kinds in
// src/nodes/generation_nodes.cc pick one by model and call Start() on it.
#include <memory>
#include <string>
#include <vector>

#include "comfyrun/providers/models.h"
#include "comfyrun/providers/provider_util.h"
#include "comfyrun/providers/remote_job.h"

namespace comfyrun {

/// Image-generation settings read from a node's resolved inputs.
struct ImageRequest {
  std::string prompt;
  std::vector<std::string> reference_images;  ///< local files, sent as inlineData
  std::string aspect_ratio;                   ///< "" = the model's choice
  std::string image_size;                     ///< "1K", "2K", "4K" or ""
};

/// Reads an ImageRequest: characterPrompt or prompt; referenceImages (strings or {path}),
/// plus characterImagePath / imagePath / referenceImage from earlier nodes; aspectRatio,
/// imageSize, preserveFeatures (adds an instruction to keep the reference's features).
/// False with *err (an InvalidInput message) when the prompt is missing or a file is absent.
bool ParseImageRequest(const Json& inputs, ImageRequest* request, std::string* err);

/// Gemini generateContent (PROVIDERS.md §1): writes node_dir/image.{png,jpg,webp}.
std::shared_ptr<RemoteJob> MakeGeminiImageJob(std::shared_ptr<NodeContext> ctx, ModelInfo model, ImageRequest request,
                                              RemoteJob::Done done);
/// Veo predictLongRunning + operation polling + download (PROVIDERS.md §2): node_dir/video.mp4.
std::shared_ptr<RemoteJob> MakeVeoJob(std::shared_ptr<NodeContext> ctx, ModelInfo model, VideoRequest request,
                                      RemoteJob::Done done);
/// Sora POST /videos + GET /videos/{id} + /content (PROVIDERS.md §3): node_dir/video.mp4.
std::shared_ptr<RemoteJob> MakeSoraJob(std::shared_ptr<NodeContext> ctx, ModelInfo model, VideoRequest request,
                                       RemoteJob::Done done);
/// --offline: renders a placeholder image / video locally (media/render.h), cost 0.
std::shared_ptr<RemoteJob> MakeOfflineImageJob(std::shared_ptr<NodeContext> ctx, std::string model_id,
                                               const ImageRequest& request, RemoteJob::Done done);
std::shared_ptr<RemoteJob> MakeOfflineVideoJob(std::shared_ptr<NodeContext> ctx, std::string model_id,
                                               const VideoRequest& request, RemoteJob::Done done);

/// True when the media module (comfyrun_media.so, media/module.h), which renders offline
/// placeholders, loads; without it offline generation nodes fail with kInternal.
bool OfflineRenderingAvailable();

/// How many times a download that fails or does not validate is fetched again within one
/// attempt before the attempt fails (without a new submission).
constexpr int kMaxDownloadTries = 3;
/// Consecutive transient poll failures tolerated within one attempt.
constexpr int kMaxPollFailures = 3;

}  // namespace comfyrun
