// The generation node kinds: character_image, video_generation, sora2_video. Each Start()
// reads the inputs, resolves the model through the catalog (models.h), and starts the job
// of the model's provider row (providers/provider.h), or an offline job under --offline.
#include "comfyrun/nodes/generation_nodes.h"

#include <fmt/format.h>

#include "comfyrun/core/util.h"
#include "comfyrun/providers/jobs.h"
#include "comfyrun/providers/models.h"
#include "comfyrun/providers/provider.h"

namespace comfyrun {
namespace {

enum class Accepts { kImage, kAnyVideo, kSoraOnly };

class GenerationNodeKind : public NodeKind {
 public:
  GenerationNodeKind(Accepts accepts, std::string default_model)
      : accepts_(accepts), default_model_(std::move(default_model)) {}

  Mode mode() const override { return Mode::kAsync; }

  void Start(std::shared_ptr<NodeContext> ctx, LoopServices loop, std::function<void(NodeResult)> done) override {
    try {
      std::shared_ptr<RemoteJob> job = MakeJob(ctx, done);
      if (job) job->Start(loop.http);
    } catch (const std::exception& e) {
      done(NodeResult::Failure(ErrorType::kInternal, std::string("unexpected error: ") + e.what()));
    } catch (...) {
      done(NodeResult::Failure(ErrorType::kInternal, "unexpected error"));
    }
  }

  void Cancel(std::shared_ptr<NodeContext> ctx) override {
    ctx->cancel_requested = true;
    CancelJobFor(ctx.get());
  }

 private:
  /// Builds the job, or calls `done` with InvalidInput and returns null.
  std::shared_ptr<RemoteJob> MakeJob(const std::shared_ptr<NodeContext>& ctx,
                                     const std::function<void(NodeResult)>& done) {
    auto fail = [&](ErrorType type, const std::string& message) {
      done(NodeResult::Failure(type, message));
      return nullptr;
    };
    if (!ctx->config) return fail(ErrorType::kInternal, "no configuration in the node context");
    const Json& in = ctx->inputs;
    std::string name = default_model_;
    if (in.contains("model") && in["model"].is_string() && !in["model"].get<std::string>().empty())
      name = in["model"].get<std::string>();
    std::string err;
    const ModelInfo* found = ActiveModelCatalog().Resolve(name, &err);
    if (!found) return fail(ErrorType::kInvalidInput, err);
    ModelInfo model = *found;
    bool image_model = model.provider == Provider::kGemini;
    if (accepts_ == Accepts::kImage && !image_model)
      return fail(ErrorType::kInvalidInput, fmt::format("{} is a video model; {} needs an image model such as "
                                                        "'nanobanana'",
                                                        Quote(model.id), ctx->type));
    if (accepts_ != Accepts::kImage && image_model)
      return fail(ErrorType::kInvalidInput, fmt::format("{} is an image model; {} needs a video model such as "
                                                        "'veo3-fast' or 'sora-2'",
                                                        Quote(model.id), ctx->type));
    if (accepts_ == Accepts::kSoraOnly && model.provider != Provider::kSora)
      return fail(ErrorType::kInvalidInput, fmt::format("sora2_video runs Sora models; {} is a Veo model (use "
                                                        "video_generation for Veo)",
                                                        Quote(model.id)));

    if (ctx->config->offline) {
      if (accepts_ == Accepts::kImage) {
        ImageRequest request;
        if (!ParseImageRequest(in, &request, &err)) return fail(ErrorType::kInvalidInput, err);
        return MakeOfflineImageJob(ctx, model.id, request, done);
      }
      VideoRequest request;
      if (!ParseVideoRequest(in, &request, &err)) return fail(ErrorType::kInvalidInput, err);
      return MakeOfflineVideoJob(ctx, model.id, request, done);
    }
    // The model's provider row makes the attempt (providers/provider.h).
    const ProviderDescriptor* provider = FindProvider(ProviderName(model.provider));
    if (!provider || !provider->make_job)
      return fail(ErrorType::kInternal, fmt::format("no provider runs model {}", Quote(model.id)));
    std::shared_ptr<RemoteJob> job = provider->make_job(ctx, model, done, &err);
    if (!job) return fail(ErrorType::kInvalidInput, err);
    return job;
  }

  Accepts accepts_;
  std::string default_model_;
};

}  // namespace

NodeKind* ImageGenerationNodeKind() {
  static GenerationNodeKind kind(Accepts::kImage, "nanobanana");
  return &kind;
}

NodeKind* VideoGenerationNodeKind() {
  static GenerationNodeKind kind(Accepts::kAnyVideo, "veo3-fast");
  return &kind;
}

NodeKind* Sora2VideoNodeKind() {
  static GenerationNodeKind kind(Accepts::kSoraOnly, "sora-2");
  return &kind;
}

}  // namespace comfyrun
