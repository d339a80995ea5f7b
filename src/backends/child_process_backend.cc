// ChildProcessBackend (backends/local_backends.h): programs of process kinds, started and
// waited for on the executor thread (ProcessRunner: no thread per program).
#include <fmt/format.h>

#include "comfyrun/backends/local_backends.h"
#include "comfyrun/core/util.h"

namespace comfyrun {

void ChildProcessBackend::Start(NodeKind& kind, std::shared_ptr<NodeContext> ctx, AttemptDone done) {
  // The folder is made on this thread: mkdirs from several threads in one parent contend on
  // its inode lock (perf, 10,000 shell nodes: ~17% of all samples spinning there).
  std::string err;
  if (!MakeDirs(ctx->node_dir, &err)) return done(NodeResult::Failure(ErrorType::kInternal, err));
  const NodeContext* key = ctx.get();
  NodeKind* body = &kind;
  // Kinds promise not to throw; if one does, the attempt fails, not the run.
  auto finish = [this, key, body, ctx, done](ProcessOutcome outcome) {
    running_.erase(key);
    NodeResult r;
    try {
      r = body->FinishProcess(*ctx, std::move(outcome));
    } catch (const std::exception& e) {
      r = NodeResult::Failure(ErrorType::kInternal, fmt::format("unexpected error: {}", e.what()));
    }
    done(std::move(r));
  };
  ProcessSpec spec;
  NodeResult failure;
  bool described = false;
  try {
    described = kind.DescribeProcess(*ctx, &spec, &failure);
  } catch (const std::exception& e) {
    failure = NodeResult::Failure(ErrorType::kInternal, fmt::format("unexpected error: {}", e.what()));
  }
  if (!described) return done(std::move(failure));
  int spawn_error = 0;
  if (!runner_) runner_ = std::make_unique<ProcessRunner>();  // again after a Shutdown
  ProcessRunner::Id id = runner_->Start(spec, finish, &spawn_error);
  if (id == 0) {
    ProcessOutcome outcome;
    outcome.spawn_error = spawn_error;
    finish(std::move(outcome));
    return;
  }
  running_[key] = id;
}

void ChildProcessBackend::Cancel(NodeKind& /*kind*/, const std::shared_ptr<NodeContext>& ctx) {
  auto it = running_.find(ctx.get());
  if (it != running_.end() && runner_) runner_->Cancel(it->second);
}

void ChildProcessBackend::Wait(double seconds, int wake_fd) {
  if (!runner_) runner_ = std::make_unique<ProcessRunner>();  // it also waits for the wake fd
  runner_->Wait(seconds, wake_fd);
}

}  // namespace comfyrun
