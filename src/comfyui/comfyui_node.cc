// Implementation details: the kind validates the graph synchronously in Start (a small file
// read), then hands the attempt to a ComfyuiJob on the HttpLoop thread. A table of running
// jobs, keyed by their NodeContext, lets Cancel (executor thread) find the job; it is the
// only state shared between threads and is guarded by a mutex.
#include "comfyrun/comfyui/comfyui_node.h"

#include <mutex>
#include <unordered_map>

#include "comfyrun/comfyui/pool.h"
#include "comfyrun/comfyui/protocol.h"
#include "comfyrun/engine/shared_resources.h"
#include "comfyrun/net/http_loop.h"
#include "comfyui_job.h"

namespace comfyrun {
namespace {

class ComfyuiKind : public NodeKind {
 public:
  Mode mode() const override { return Mode::kAsync; }

  void Start(std::shared_ptr<NodeContext> ctx, LoopServices loop, std::function<void(NodeResult)> done) override {
    auto fail = [&](ErrorType type, const std::string& message) {
      NodeResult r = NodeResult::Failure(type, message);
      r.provider = "comfyui";
      done(std::move(r));
    };
    if (!loop.http || !loop.shared) {
      fail(ErrorType::kInternal, "comfyui node started without an HTTP loop");
      return;
    }
    std::string pool_error;
    ComfyuiPool* pool = SharedComfyuiPool(*ctx->config, loop, &pool_error);
    if (!pool) {
      fail(ErrorType::kInvalidInput,
           pool_error.empty() ? "no ComfyUI server: set COMFYUI_URL or pass --comfyui URL" : pool_error);
      return;
    }
    Json graph;
    // A re-attach needs no graph, unless the prompt was journaled before its POST: the server
    // may never have got it, and then it is submitted now.
    bool reattach = ctx->submission.is_object() && ctx->submission.contains("promptId") &&
                    ctx->submission.value("accepted", true) != false;
    std::string err;
    const Json& workflow = ctx->inputs.contains("workflow") ? ctx->inputs["workflow"] : Json();
    const Json& set = ctx->inputs.contains("set") ? ctx->inputs["set"] : Json();
    bool loaded = LoadComfyGraph(workflow, &graph, &err) && ApplyComfyOverrides(&graph, set, &err);
    if (!loaded && !reattach) {
      fail(ErrorType::kInvalidInput, err);
      return;
    }
    // A re-attach whose graph no longer loads still knows its prompt; it counts as fixed (no
    // retry of an OutputInvalid: no new GPU run on a guess).
    bool seeds_fixed = !loaded || ComfySeedsFixed(graph);
    if (reattach) graph = Json();
    const NodeContext* key = ctx.get();
    auto job = std::make_shared<ComfyuiJob>(ctx, pool, loop.http, std::move(done), std::move(graph), [this, key] {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.erase(key);
    });
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Attempts abandoned without finishing (their HttpLoop was destroyed) leave expired
      // entries; sweep them so the table stays as small as the number of live attempts.
      std::erase_if(jobs_, [](const auto& entry) { return entry.second.expired(); });
      jobs_[key] = job;
    }
    job->set_seeds_fixed(seeds_fixed);
    loop.http->Post([job] { job->Begin(); });
  }

  void Cancel(std::shared_ptr<NodeContext> ctx) override {
    ctx->cancel_requested = true;
    std::shared_ptr<ComfyuiJob> job;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = jobs_.find(ctx.get());
      if (it != jobs_.end()) job = it->second.lock();
    }
    if (!job) return;
    // A run that stops leaves its prompts on their servers for resume, unless --cancel-remote;
    // any other cancel (a timeout) interrupts the prompt.
    if (ctx->detach_remote)
      job->loop()->Post([job] { job->Detach("cancelled"); });
    else
      job->loop()->Post([job] { job->Abort(ErrorType::kCancelled, "cancelled"); });
  }

 private:
  std::mutex mu_;  ///< guards jobs_: written by Start (executor thread) and by jobs finishing (loop thread)
  std::unordered_map<const NodeContext*, std::weak_ptr<ComfyuiJob>> jobs_;
};

}  // namespace

ComfyuiPool* SharedComfyuiPool(const Config& config, const LoopServices& loop, std::string* err) {
  // One pool per run, made by the first comfyui attempt: its server connections and queue
  // counts are shared by every comfyui node, and the event-loop backend stops it at the end.
  return loop.shared->Get<ComfyuiPool>(
      "comfyui",
      [&](std::string* e) -> std::unique_ptr<SharedResource> { return ComfyuiPool::FromConfig(config, loop.http, e); },
      err);
}

NodeKind* ComfyuiNodeKind() {
  static ComfyuiKind kind;
  return &kind;
}

}  // namespace comfyrun
