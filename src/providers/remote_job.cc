#include "comfyrun/providers/remote_job.h"

#include "comfyrun/core/config.h"
#include "comfyrun/net/off_loop_threads.h"

namespace comfyrun {
RemoteJob::RemoteJob(std::shared_ptr<NodeContext> ctx, Done done) : ctx_(std::move(ctx)), done_(std::move(done)) {}

void RemoteJob::Start(HttpLoop* http) {
  http_ = http;
  started_ = std::chrono::steady_clock::now();
  // A weak_ptr: the context must not keep the job (which holds the context) alive.
  ctx_->kind_state = std::make_shared<std::weak_ptr<RemoteJob>>(weak_from_this());
  auto self = shared_from_this();
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
  auto self = shared_from_this();
  OnLoop([self] { self->OnCancel(); });
}

void RemoteJob::OnCancel() {
  if (finished()) return;
  if (request_active_ && http_) http_->Cancel(request_);
  if (timer_active_ && http_) http_->CancelTimer(timer_);
  request_active_ = timer_active_ = false;
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

void RemoteJob::Send(HttpRequest request, std::function<void(HttpResponse)> then) {
  if (!http_) {
    Finish(NodeResult::Failure(ErrorType::kInternal, "no HTTP loop in the node context"));
    return;
  }
  auto self = shared_from_this();
  uint64_t seq = ++request_seq_;
  request_active_ = true;
  HttpLoop::RequestId id = http_->Send(std::move(request), [self, seq, then = std::move(then)](HttpResponse response) {
    if (self->request_seq_ == seq) self->request_active_ = false;
    if (self->finished()) return;
    then(std::move(response));
  });
  // The callback may already have run (Send on the loop thread can fail at once).
  if (request_seq_ == seq && request_active_) request_ = id;
}

void RemoteJob::After(double seconds, std::function<void()> then) {
  if (!http_) {
    Finish(NodeResult::Failure(ErrorType::kInternal, "no HTTP loop in the node context"));
    return;
  }
  auto self = shared_from_this();
  uint64_t seq = ++timer_seq_;
  timer_active_ = true;
  HttpLoop::TimerId id = http_->After(seconds, [self, seq, then = std::move(then)] {
    if (self->timer_seq_ == seq) self->timer_active_ = false;
    if (self->finished()) return;
    then();
  });
  if (timer_seq_ == seq && timer_active_) timer_ = id;
}

void RemoteJob::OffLoop(std::function<void()> work) {
  auto self = shared_from_this();
  std::string err;
  bool started = StartOffLoopThread(
      [self, work = std::move(work)] {
        try {
          work();
        } catch (const std::exception& e) {
          self->Finish(NodeResult::Failure(ErrorType::kInternal, std::string("unexpected error: ") + e.what()));
        } catch (...) {
          self->Finish(NodeResult::Failure(ErrorType::kInternal, "unexpected error"));
        }
      },
      &err);
  if (!started) Finish(NodeResult::Failure(ErrorType::kInternal, "cannot start a worker thread: " + err));
}

void RemoteJob::OnLoop(std::function<void()> fn) {
  // A finished job has nothing to hand back; its loop may be gone already (a worker thread
  // that outlived a cancelled attempt).
  if (finished()) return;
  auto self = shared_from_this();
  auto guarded = [self, fn = std::move(fn)] {
    if (self->finished()) return;
    try {
      fn();
    } catch (const std::exception& e) {
      self->Finish(NodeResult::Failure(ErrorType::kInternal, std::string("unexpected error: ") + e.what()));
    } catch (...) {
      self->Finish(NodeResult::Failure(ErrorType::kInternal, "unexpected error"));
    }
  };
  if (http_)
    http_->Post(std::move(guarded));
  else
    guarded();
}

void RemoteJob::Finish(NodeResult result) {
  if (finished_.exchange(true)) return;
  result.message = Redactor::Redact(std::move(result.message));
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(result));
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
