// InProcessBackend (backends/local_backends.h): blocking node bodies, inline or on a worker.
#include <fmt/format.h>

#include "comfyrun/backends/local_backends.h"
#include "comfyrun/core/util.h"

namespace comfyrun {

void InProcessBackend::Start(NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done) {
  // Inline kinds write nothing, so they get no folder (100,000 value nodes, 100,000 mkdirs).
  if (kind.runs_inline()) {
    done(kind.Run(*ctx));
    return;
  }
  if (!workers_) workers_ = std::make_unique<WorkerPool>(max_threads_);
  NodeKind* body = &kind;  // kinds are process-wide singletons
  workers_->Submit([body, ctx = std::move(ctx), done = std::move(done)] {
    NodeResult r;
    std::string dir_error;
    try {
      // The folder is made here, not on the executor thread: a mkdir costs 40-200 us on ext4
      // and would hold up every other start there.
      if (!MakeDirs(ctx->node_dir, &dir_error))
        r = NodeResult::Failure(ErrorType::kInternal, dir_error);
      else
        r = body->Run(*ctx);
    } catch (const std::exception& e) {
      r = NodeResult::Failure(ErrorType::kInternal, fmt::format("unexpected error: {}", e.what()));
    } catch (...) {
      r = NodeResult::Failure(ErrorType::kInternal, "unexpected error");
    }
    done(std::move(r));
  });
}

}  // namespace comfyrun
