#pragma once
// The generation node kinds (DESIGN.md §3): character_image (alias image_generation),
// video_generation and sora2_video. All three are NodeKind::Mode::kAsync: Start() returns at
// once and the attempt runs as HttpLoop requests and timers (see providers/remote_job.h).
//
// With Config::offline they render placeholder media locally (media/render.h) at cost 0 and
// provider "offline", and never touch the network.
#include "comfyrun/engine/node_kind.h"

namespace comfyrun {

/// character_image / image_generation: a Gemini image model (generateContent). Static
/// singleton; never null.
NodeKind* ImageGenerationNodeKind();
/// video_generation: Veo (predictLongRunning) or Sora (POST /videos), chosen by the resolved
/// model's provider. Static singleton; never null.
NodeKind* VideoGenerationNodeKind();
/// sora2_video: video_generation restricted to Sora models. Static singleton; never null.
NodeKind* Sora2VideoNodeKind();

}  // namespace comfyrun
