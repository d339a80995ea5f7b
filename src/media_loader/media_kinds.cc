// The executable's video_stitch and media_probe node kinds (media/media_nodes.h): thin
// NodeKinds that load the media module on their first Run and call its node body. Looking a
// kind up (validate, plan, the node table) loads nothing. Also: which node types need the
// module (NodeTypeNeedsModule), for a check before a run starts.
#include <string>

#include "comfyrun/media/media_nodes.h"
#include "comfyrun/media/module.h"

namespace comfyrun {
namespace {

class ModuleNodeKind : public NodeKind {
 public:
  using Body = NodeResult (*)(const media::Module& module, NodeContext& ctx);
  ModuleNodeKind(const char* type, Body body) : type_(type), body_(body) {}

  Mode mode() const override { return Mode::kBlocking; }

  NodeResult Run(NodeContext& ctx) override {
    std::string err;
    const media::Module* module = media::LoadModule(&err);
    if (!module) return NodeResult::Failure(ErrorType::kInternal, type_ + ": " + err);
    return body_(*module, ctx);
  }

 private:
  std::string type_;
  Body body_;
};

}  // namespace

namespace media {
bool NodeTypeNeedsModule(std::string_view type) {
  return type == "video_stitch" || type == "media_probe" || type == "character_image" || type == "video_generation" ||
         type == "sora2_video";
}
}  // namespace media

NodeKind* VideoStitchNodeKind() {
  static ModuleNodeKind kind("video_stitch",
                             [](const media::Module& m, NodeContext& ctx) { return m.run_video_stitch(ctx); });
  return &kind;
}

NodeKind* MediaProbeNodeKind() {
  static ModuleNodeKind kind("media_probe",
                             [](const media::Module& m, NodeContext& ctx) { return m.run_media_probe(ctx); });
  return &kind;
}

}  // namespace comfyrun
