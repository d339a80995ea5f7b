// The generic queue node types `fal` and `replicate`: declarations, and the node kind that
// reads the inputs and starts a QueueJob (providers/queue_job.h), or an offline placeholder.
#include <fmt/format.h>

#include "comfyrun/core/util.h"
#include "comfyrun/nodes/node_table.h"
#include "comfyrun/nodes/queue_nodes.h"
#include "comfyrun/providers/jobs.h"
#include "comfyrun/providers/queue_job.h"

namespace comfyrun {
namespace {
using T = ValueType;

NodeTypeSpec QueueSpec(const std::string& name, const std::string& summary, const std::string& model_doc) {
  NodeTypeSpec s;
  s.name = name;
  s.summary = summary;
  s.inputs = {
      Required("model", T::kString, model_doc),
      Optional("input", T::kObject, Json::object(), "the model's input, passed through (local files are sent inline)"),
      Optional("outputs", T::kArray, nullptr,
               "result fields that hold files to download (default: every image, video or audio URL)"),
      Optional("kind", T::kString, nullptr, "what the model makes, for --offline placeholders and plan",
               {"image", "video", "audio"}),
      Optional("prompt", T::kString, nullptr, "text for the --offline placeholder (the input's prompt otherwise)"),
      Optional("pollInterval", T::kDuration, nullptr, "how often to poll the provider (default 2s)"),
      Optional("costPerRun", T::kNumber, nullptr, "USD one run costs, when the provider does not report it"),
      Optional("seed", T::kInteger, nullptr, "part of the cache key"),
  };
  s.outputs = {
      Out("files", T::kArray, "every downloaded file, in result order"),
      Out("imagePath", T::kString, "the first downloaded image (null when none)"),
      Out("videoPath", T::kString, "the first downloaded video (null when none)"),
      Out("audioPath", T::kString, "the first downloaded audio file (null when none)"),
      Out("result", T::kObject, "the provider's raw result JSON"),
      Out("requestId", T::kString, "the provider's request / prediction id"),
      Out("cost", T::kNumber, "USD charged (reported, costPerRun, or the model table; 0 offline)"),
      Out("model", T::kString, "the model id"),
      Out("provider", T::kString, name + " or offline"),
  };
  s.expected_seconds = 60;
  s.default_attempt_timeout = 1800;
  s.paid = true;
  return s;
}

class QueueNodeKind : public NodeKind {
 public:
  explicit QueueNodeKind(const QueueProtocol& protocol) : protocol_(protocol) {}
  Mode mode() const override { return Mode::kAsync; }

  void Start(std::shared_ptr<NodeContext> ctx, LoopServices loop, std::function<void(NodeResult)> done) override {
    try {
      std::shared_ptr<RemoteJob> job = MakeJob(ctx, done);
      if (job) job->Start(loop.http);
    } catch (const std::exception& e) {
      done(NodeResult::Failure(ErrorType::kInternal, std::string("unexpected error: ") + e.what()));
    }
  }

  void Cancel(std::shared_ptr<NodeContext> ctx) override {
    ctx->cancel_requested = true;
    if (!CancelQueueJobFor(ctx.get())) CancelJobFor(ctx.get());
  }

 private:
  std::shared_ptr<RemoteJob> MakeJob(const std::shared_ptr<NodeContext>& ctx,
                                     const std::function<void(NodeResult)>& done) {
    if (!ctx->config) {
      done(NodeResult::Failure(ErrorType::kInternal, "no configuration in the node context"));
      return nullptr;
    }
    QueueRequest request;
    std::string err;
    if (!ParseQueueRequest(ctx->inputs, &request, &err)) {
      done(NodeResult::Failure(ErrorType::kInvalidInput, err));
      return nullptr;
    }
    if (request.kind.empty())
      if (const QueueModelInfo* m = FindQueueModel(protocol_.provider, request.model)) request.kind = m->kind;
    if (ctx->config->offline) return MakeOffline(ctx, request, done);
    return MakeQueueJob(ctx, protocol_, std::move(request), done);
  }

  /// --offline: a placeholder image or video, with this type's outputs.
  std::shared_ptr<RemoteJob> MakeOffline(const std::shared_ptr<NodeContext>& ctx, const QueueRequest& request,
                                         const std::function<void(NodeResult)>& done) {
    std::string prompt = JsonStringField(ctx->inputs, "prompt");
    if (prompt.empty()) prompt = JsonStringField(request.input, "prompt");
    if (prompt.empty()) prompt = request.model;
    if (request.kind == "audio") {
      done(NodeResult::Failure(ErrorType::kInvalidInput,
                               fmt::format("--offline has no audio placeholder ({} makes audio)", request.model)));
      return nullptr;
    }
    auto wrap = [done, model = request.model](NodeResult r) {
      if (r.ok()) {
        std::string path = JsonStringField(r.outputs, "videoPath");
        bool video = !path.empty();
        if (!video) path = JsonStringField(r.outputs, "imagePath");
        r.outputs = {{"files", Json::array({path})},
                     {"imagePath", video ? Json(nullptr) : Json(path)},
                     {"videoPath", video ? Json(path) : Json(nullptr)},
                     {"audioPath", nullptr},
                     {"result", Json::object()},
                     {"requestId", "offline"},
                     {"cost", 0},
                     {"model", model},
                     {"provider", "offline"}};
      }
      done(std::move(r));
    };
    if (request.kind == "video") {
      VideoRequest video;
      video.prompt = prompt;
      if (request.input.contains("duration") && request.input["duration"].is_number())
        video.seconds = std::clamp(static_cast<int>(request.input["duration"].get<double>()), 1, 60);
      else
        video.seconds = 5;
      return MakeOfflineVideoJob(ctx, request.model, video, wrap);
    }
    ImageRequest image;  // image, or unknown: an image is the cheaper guess
    image.prompt = prompt;
    return MakeOfflineImageJob(ctx, request.model, image, wrap);
  }

  const QueueProtocol& protocol_;
};

}  // namespace

NodeTypeSpec FalSpec() {
  return QueueSpec(
      "fal", "any model hosted on fal.ai, through its queue API (FAL_KEY)",
      "fal endpoint id, e.g. \"fal-ai/flux/schnell\" or \"fal-ai/kling-video/v2.1/standard/image-to-video\"");
}

NodeTypeSpec ReplicateSpec() {
  return QueueSpec("replicate", "any model hosted on Replicate, through its predictions API (REPLICATE_API_TOKEN)",
                   "\"owner/name\", \"owner/name:version\" or a version id, e.g. \"black-forest-labs/flux-schnell\"");
}

NodeKind* FalNodeKind() {
  static QueueNodeKind kind(FalProtocol());
  return &kind;
}

NodeKind* ReplicateNodeKind() {
  static QueueNodeKind kind(ReplicateProtocol());
  return &kind;
}

}  // namespace comfyrun
