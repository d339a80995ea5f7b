// --offline generation (DESIGN.md §3): placeholder media rendered locally by the media
// module (media/render.h, reached through media/module.h: loaded on the first render), at
// cost 0 and provider "offline". No network, no keys.
//
// Rendering blocks for a while (encoding a video), so it runs on a worker thread. It writes
// to a temporary name and renames only if the attempt was not cancelled meanwhile, so a
// cancelled attempt never leaves a half-written output where a retry would look for one.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "comfyrun/core/util.h"
#include "comfyrun/media/module.h"
#include "comfyrun/providers/jobs.h"

namespace comfyrun {
namespace {

class OfflineJob : public RemoteJob {
 public:
  /// `render` writes the output to the path it is given; returns false with *err.
  using Render = std::function<bool(const std::string& path, std::string* err)>;
  OfflineJob(std::shared_ptr<NodeContext> ctx, std::string model_id, std::string file_name, double seconds,
             Render render, Done done)
      : RemoteJob(std::move(ctx), std::move(done)),
        model_id_(std::move(model_id)),
        file_name_(std::move(file_name)),
        seconds_(seconds),
        render_(std::move(render)) {}

 protected:
  void Begin() override {
    auto self = std::static_pointer_cast<OfflineJob>(shared_from_this());
    OffLoop([self] { self->Work(); });
  }

 private:
  void Work() {
    namespace fs = std::filesystem;
    fs::path final_path = fs::path(ctx_->node_dir) / file_name_;
    fs::path temp = fs::path(ctx_->node_dir) / fmt::format("{}.offline-{}{}", final_path.stem().string(), ctx_->attempt,
                                                           final_path.extension().string());
    ctx_->Progress("offline: rendering");
    std::string err;
    if (!render_(temp.string(), &err)) {
      Finish(Tag(NodeResult::Failure(ErrorType::kInternal, "offline rendering failed: " + err)));
      return;
    }
    if (finished() || ctx_->cancelled()) {  // cancelled while rendering: leave nothing behind
      std::error_code ec;
      fs::remove(temp, ec);
      return;
    }
    NodeResult r;
    std::error_code ec;
    if (seconds_ > 0) {
      double duration = 0;
      if (!CheckVideoFile(temp.string(), &duration, &err)) {
        Finish(Tag(NodeResult::Failure(ErrorType::kOutputInvalid, "offline video does not validate: " + err)));
        return;
      }
      fs::rename(temp, final_path, ec);
      r = NodeResult::Success({{"videoPath", fs::absolute(final_path, ec).string()},
                               {"duration", std::round(duration * 1000) / 1000},
                               {"jobId", "offline"}});
    } else {
      int w = 0, h = 0;
      if (!CheckImageFile(temp.string(), &w, &h, &err)) {
        Finish(Tag(NodeResult::Failure(ErrorType::kOutputInvalid, "offline image does not validate: " + err)));
        return;
      }
      fs::rename(temp, final_path, ec);
      std::string abs = fs::absolute(final_path, ec).string();
      r = NodeResult::Success({{"characterImagePath", abs}, {"imagePath", abs}, {"mimeType", "image/png"}});
    }
    if (ec) {
      Finish(Tag(NodeResult::Failure(ErrorType::kInternal, "offline output: " + ec.message())));
      return;
    }
    r = Tag(std::move(r));
    r.outputs["cost"] = 0;
    r.outputs["model"] = r.model;
    r.outputs["provider"] = "offline";
    Finish(std::move(r));
  }

  NodeResult Tag(NodeResult r) const {
    r.provider = "offline";
    r.model = model_id_;
    r.cost = 0;
    return r;
  }

  std::string model_id_;
  std::string file_name_;
  double seconds_;
  Render render_;
};

}  // namespace

std::shared_ptr<RemoteJob> MakeOfflineImageJob(std::shared_ptr<NodeContext> ctx, std::string model_id,
                                               const ImageRequest& request, RemoteJob::Done done) {
  std::string aspect = request.aspect_ratio.empty() ? "1:1" : request.aspect_ratio;
  auto render = [prompt = request.prompt, aspect](const std::string& path, std::string* err) {
    const media::Module* module = media::LoadModule(err);
    return module && module->render_offline_image(prompt, aspect, path, err);
  };
  return std::make_shared<OfflineJob>(std::move(ctx), std::move(model_id), "image.png", 0, std::move(render),
                                      std::move(done));
}

std::shared_ptr<RemoteJob> MakeOfflineVideoJob(std::shared_ptr<NodeContext> ctx, std::string model_id,
                                               const VideoRequest& request, RemoteJob::Done done) {
  double seconds = request.seconds;
  auto render = [request](const std::string& path, std::string* err) {
    const media::Module* module = media::LoadModule(err);
    return module && module->render_offline_video(request.prompt, request.seconds, request.aspect_ratio,
                                                  request.resolution, request.image_path, path, err);
  };
  return std::make_shared<OfflineJob>(std::move(ctx), std::move(model_id), "video.mp4", seconds, std::move(render),
                                      std::move(done));
}

bool OfflineRenderingAvailable() {
  std::string err;
  return media::LoadModule(&err) != nullptr;
}

}  // namespace comfyrun
