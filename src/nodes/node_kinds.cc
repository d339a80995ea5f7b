// The one table of node implementations: canonical type name -> NodeKind. Declarations (inputs,
// outputs) live in the specs; this table says who runs each type.
#include <string>

#include "comfyrun/comfyui/comfyui_node.h"
#include "comfyrun/engine/node_kind.h"
#include "comfyrun/media/media_nodes.h"
#include "comfyrun/nodes/builtin_nodes.h"
#include "comfyrun/nodes/generation_nodes.h"
#include "comfyrun/nodes/queue_nodes.h"

namespace comfyrun {

NodeKind* FindNodeKind(const std::string& type) {
  if (type == "value") return ValueNodeKind();
  if (type == "shell") return ShellNodeKind();
  if (type == "http") return HttpNodeKind();
  if (type == "character_image") return ImageGenerationNodeKind();
  if (type == "video_generation") return VideoGenerationNodeKind();
  if (type == "sora2_video") return Sora2VideoNodeKind();
  if (type == "comfyui") return ComfyuiNodeKind();
  if (type == "video_stitch") return VideoStitchNodeKind();
  if (type == "media_probe") return MediaProbeNodeKind();
  if (type == "fal") return FalNodeKind();
  if (type == "replicate") return ReplicateNodeKind();
  return nullptr;
}

}  // namespace comfyrun
