// EventLoopBackend (backends/local_backends.h): async kinds on one HttpLoop thread.
#include <fmt/format.h>

#include "comfyrun/backends/local_backends.h"
#include "comfyrun/core/util.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/net/off_loop_threads.h"

namespace comfyrun {

EventLoopBackend::EventLoopBackend() = default;
EventLoopBackend::~EventLoopBackend() { Shutdown(); }

void EventLoopBackend::Start(NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done) {
  std::string err;
  if (!MakeDirs(ctx->node_dir, &err)) return done(NodeResult::Failure(ErrorType::kInternal, err));
  if (!http_) http_ = std::make_unique<HttpLoop>();  // a run without remote work starts no loop
  try {
    kind.Start(std::move(ctx), LoopServices{http_.get(), &shared_}, std::move(done));
  } catch (const std::exception& e) {
    // Start promised not to throw; `done` may or may not have run, and the executor drops a
    // second result of the same attempt.
    done(NodeResult::Failure(ErrorType::kInternal, fmt::format("unexpected error: {}", e.what())));
  }
}

void EventLoopBackend::Cancel(NodeKind& kind, const std::shared_ptr<NodeContext>& ctx) { kind.Cancel(ctx); }

void EventLoopBackend::Shutdown() {
  // Threads that post to the loop stop first: the resources' own (a ComfyUI pool's event
  // sockets), then the short workers of remote jobs (an offline render, a file check), none of
  // which may still encode when the process exits. Then the loop, whose destructor runs
  // pending callbacks while the resources they use still exist; then the resources.
  shared_.StopAll();
  JoinOffLoopThreads();
  http_.reset();
  shared_.Clear();
}

}  // namespace comfyrun
