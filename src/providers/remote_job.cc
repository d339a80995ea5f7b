#include "comfyrun/providers/remote_job.h"

#include "comfyrun/core/config.h"
#include "comfyrun/net/off_loop_threads.h"

namespace comfyrun {
RemoteJob::RemoteJob(std::shared_ptr<NodeContext> ctx, Done done)
    : RemoteAttempt(std::move(ctx), nullptr, std::move(done)) {}

void RemoteJob::Start(HttpLoop* http) {
  set_loop(http);
  started_ = std::chrono::steady_clock::now();
  // A weak_ptr: the context must not keep the job (which holds the context) alive.
  ctx_->kind_state =
      std::make_shared<std::weak_ptr<RemoteJob>>(std::static_pointer_cast<RemoteJob>(shared_from_this()));
  auto self = std::static_pointer_cast<RemoteJob>(shared_from_this());
  OnLoop([self] {
    if (self->ctx_->cancelled()) {
      NodeResult r = NodeResult::Failure(ErrorType::kCancelled, "cancelled before it started");
      r.submission_finished = self->ctx_->submission.is_null();
      self->Finish(std::move(r));
      return;
    }
    self->Begin();
  });
}

void RemoteJob::Cancel() {
  ctx_->cancel_requested = true;
  auto self = std::static_pointer_cast<RemoteJob>(shared_from_this());
  OnLoop([self] { self->OnCancel(); });
}

void RemoteJob::OnCancel() {
  if (!Stop()) return;  // cancels the request and the timer
  // A remote job that was accepted may still run: keep it for a resume to re-attach to. Veo
  // and Sora have no cancel in their APIs (docs/guarantees.md), so --cancel-remote cannot
  // change that.
  bool kept = !ctx_->submission.is_null();
  NodeResult r = NodeResult::Failure(
      ErrorType::kCancelled,
      kept ? "cancelled; the job stays on its provider, which has no cancel, and resume re-attaches to it"
           : "cancelled");
  r.submission_finished = !kept;
  if (kept) r.details = Json{{"detached", true}};
  Finish(std::move(r));
}

double RemoteJob::Elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

double RemoteJob::RequestTimeout(double wanted) const {
  if (ctx_->attempt_timeout > 0 && ctx_->attempt_timeout < wanted) return ctx_->attempt_timeout;
  return wanted;
}

bool CancelJobFor(const NodeContext* ctx) {
  auto weak = std::static_pointer_cast<std::weak_ptr<RemoteJob>>(ctx->kind_state);
  std::shared_ptr<RemoteJob> job = weak ? weak->lock() : nullptr;
  if (!job) return false;
  job->Cancel();
  return true;
}

}  // namespace comfyrun
