// Declarations of the generation node types (character_image, video_generation, sora2_video).
// Their execution lives in src/providers/ and src/nodes/generation_nodes.cc; their pool,
// depth and prices come from their provider row (providers/provider.h).
#include "comfyrun/nodes/node_table.h"

namespace comfyrun {
namespace {
using T = ValueType;

const std::vector<Json> kImageAspects = {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"};

std::vector<OutputSpec> GenerationOutputs() {
  return {Out("cost", T::kNumber, "USD charged for this node (0 offline or cached)"),
          Out("model", T::kString, "the provider's model id the alias resolved to"),
          Out("provider", T::kString, "gemini, veo, sora or offline")};
}

std::vector<InputSpec> VideoInputs(const std::string& default_model) {
  return {
      Required("prompt", T::kString, "what the video shows"),
      Optional("model", T::kString, default_model, "model alias or provider model id"),
      WithRange(Optional("duration", T::kNumber, 8, "seconds of video"), 1, 60),
      Optional("aspectRatio", T::kString, "16:9", "frame shape", {"16:9", "9:16"}),
      Optional("resolution", T::kString, "720p", "output resolution", {"720p", "1080p", "4k"}),
      Optional("characterImagePath", T::kString, nullptr, "first frame / reference image (a file)"),
      Optional("imagePath", T::kString, nullptr, "same as characterImagePath"),
      Optional("negativePrompt", T::kString, nullptr, "what the video must not show (Veo)"),
      Optional("fps", T::kNumber, nullptr, "accepted for older workflows; providers choose the rate"),
      Optional("seed", T::kInteger, nullptr, "part of the cache key; sent where the provider takes it"),
      Optional("pollInterval", T::kDuration, nullptr, "how often to poll the provider (default 5s Veo, 2s Sora)"),
  };
}

std::vector<OutputSpec> VideoOutputs() {
  auto outputs = std::vector<OutputSpec>{Out("videoPath", T::kString, "the downloaded video file"),
                                         Out("duration", T::kNumber, "seconds, as probed from the file"),
                                         Out("jobId", T::kString, "the provider's operation or video id")};
  auto common = GenerationOutputs();
  outputs.insert(outputs.end(), common.begin(), common.end());
  return outputs;
}
}  // namespace

NodeTypeSpec ImageGenerationSpec() {
  NodeTypeSpec s;
  s.name = "character_image";
  s.aliases = {"image_generation"};
  s.summary = "image from a prompt (+ reference images) with a Gemini image model (Nano Banana)";
  s.inputs = {
      Optional("characterPrompt", T::kString, nullptr, "what the image shows"),
      Optional("prompt", T::kString, nullptr, "same as characterPrompt"),
      Optional("model", T::kString, "nanobanana", "model alias or Gemini model id"),
      Optional("referenceImages", T::kArray, Json::array(), "image files sent with the prompt"),
      Optional("aspectRatio", T::kString, nullptr, "frame shape (default: square, or the reference's)", kImageAspects),
      Optional("imageSize", T::kString, nullptr, "1K, 2K or 4K", {"1K", "2K", "4K"}),
      Optional("preserveFeatures", T::kBoolean, false, "ask the model to keep the reference's features"),
      Optional("seed", T::kInteger, nullptr, "part of the cache key"),
  };
  s.one_of_required = {"characterPrompt", "prompt"};
  s.outputs = {Out("characterImagePath", T::kString, "the image file"),
               Out("imagePath", T::kString, "the image file (same as characterImagePath)"),
               Out("mimeType", T::kString, "image/png, image/jpeg, ...")};
  for (auto& o : GenerationOutputs()) s.outputs.push_back(o);
  s.expected_seconds = 15;
  s.default_attempt_timeout = 1800;  // a generation that takes longer has stalled
  s.paid = true;
  return s;
}

NodeTypeSpec VideoGenerationSpec() {
  NodeTypeSpec s;
  s.name = "video_generation";
  s.summary = "video from a prompt (+ first frame); Veo via the Gemini API or Sora by model";
  s.inputs = VideoInputs("veo3-fast");
  s.outputs = VideoOutputs();
  s.expected_seconds = 90;
  s.default_attempt_timeout = 1800;  // a generation that takes longer has stalled
  s.paid = true;
  return s;
}

NodeTypeSpec Sora2VideoSpec() {
  NodeTypeSpec s;
  s.name = "sora2_video";
  s.summary = "video_generation with a Sora model (OpenAI videos API protocol)";
  s.inputs = VideoInputs("sora-2");
  for (auto& input : s.inputs) {
    if (input.name == "duration") input.doc = "seconds of video (Sora: 4, 8 or 12)";
    if (input.name == "resolution") input.allowed = {"720p", "1080p"};
  }
  s.inputs.push_back(Optional("size", T::kString, nullptr, "WIDTHxHEIGHT, overrides aspectRatio/resolution",
                              {"720x1280", "1280x720", "1024x1792", "1792x1024"}));
  s.outputs = VideoOutputs();
  s.expected_seconds = 120;
  s.default_attempt_timeout = 1800;  // a generation that takes longer has stalled
  s.paid = true;
  return s;
}

}  // namespace comfyrun
