#include "comfyrun/remote/remote_attempt.h"

#include "comfyrun/core/config.h"
#include "comfyrun/net/off_loop_threads.h"

namespace comfyrun {

RemoteAttempt::RemoteAttempt(std::shared_ptr<NodeContext> ctx, HttpLoop* loop, Done done)
    : ctx_(std::move(ctx)), done_(std::move(done)), http_(loop) {}

void RemoteAttempt::Send(HttpRequest request, std::function<void(HttpResponse)> then) {
  if (!http_) {
    Report(NodeResult::Failure(ErrorType::kInternal, "no HTTP loop in the node context"));
    return;
  }
  auto self = shared_from_this();
  uint64_t seq = ++request_seq_;
  request_active_ = true;
  HttpLoop::RequestId id = http_->Send(std::move(request), [self, seq, then = std::move(then)](HttpResponse response) {
    if (self->request_seq_ == seq) self->request_active_ = false;
    if (self->stopped()) return;
    then(std::move(response));
  });
  // The callback may already have run (Send on the loop thread can fail at once).
  if (request_seq_ == seq && request_active_) request_ = id;
}

void RemoteAttempt::SendAfterStop(HttpRequest request, std::function<void(HttpResponse)> then) {
  if (!http_) {
    Report(NodeResult::Failure(ErrorType::kInternal, "no HTTP loop in the node context"));
    return;
  }
  auto self = shared_from_this();
  http_->Send(std::move(request), [self, then = std::move(then)](HttpResponse response) {
    if (self->reported()) return;
    then(std::move(response));
  });
}

void RemoteAttempt::Arm(Timer* timer, double seconds, std::function<void()> then) {
  if (!http_) {
    Report(NodeResult::Failure(ErrorType::kInternal, "no HTTP loop in the node context"));
    return;
  }
  CancelTimer(timer);
  auto self = shared_from_this();
  uint64_t seq = timer->seq;
  timer->active = true;
  HttpLoop::TimerId id = http_->After(seconds, [self, timer, seq, then = std::move(then)] {
    // `timer` is a member of the attempt, which `self` keeps alive.
    if (timer->seq != seq || !timer->active) return;  // re-armed or cancelled meanwhile
    timer->active = false;
    if (self->stopped()) return;
    then();
  });
  if (timer->seq == seq && timer->active) timer->id = id;
}

void RemoteAttempt::CancelTimer(Timer* timer) {
  if (timer->active && http_) http_->CancelTimer(timer->id);
  timer->active = false;
  ++timer->seq;
}

void RemoteAttempt::ReportingErrors(const std::function<void()>& fn) {
  // No exception crosses into the loop or a worker thread's start function.
  try {
    fn();
  } catch (const std::exception& e) {
    Report(NodeResult::Failure(ErrorType::kInternal, std::string("unexpected error: ") + e.what()));
  } catch (...) {
    Report(NodeResult::Failure(ErrorType::kInternal, "unexpected error"));
  }
}

void RemoteAttempt::OffLoop(std::function<void()> work) {
  auto self = shared_from_this();
  std::string err;
  bool started = StartOffLoopThread([self, work = std::move(work)] { self->ReportingErrors(work); }, &err);
  if (!started) Report(NodeResult::Failure(ErrorType::kInternal, "cannot start a worker thread: " + err));
}

void RemoteAttempt::OnLoop(std::function<void()> fn) {
  // A stopped attempt has nothing to hand back; its loop may be gone already (a worker
  // thread that outlived a cancelled attempt).
  if (stopped()) return;
  auto self = shared_from_this();
  auto guarded = [self, fn = std::move(fn)] {
    if (!self->stopped()) self->ReportingErrors(fn);
  };
  if (http_)
    http_->Post(std::move(guarded));
  else
    guarded();
}

bool RemoteAttempt::Stop() {
  if (stopped_.exchange(true)) return false;
  if (request_active_ && http_) http_->Cancel(request_);
  request_active_ = false;
  CancelTimer(&timer_);
  OnStop();
  return true;
}

void RemoteAttempt::Report(NodeResult result) {
  if (reported_.exchange(true)) return;
  stopped_ = true;
  result.message = Redactor::Redact(std::move(result.message));
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(result));
}

}  // namespace comfyrun
