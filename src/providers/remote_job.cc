#include "comfyrun/providers/remote_job.h"

#include <list>
#include <mutex>
#include <thread>

#include "comfyrun/core/config.h"

namespace comfyrun {
namespace {

/// The threads OffLoop started. A thread marks itself done as its last step; OffLoop joins
/// the done ones as it starts another, so the list stays as long as the work in progress.
/// (They used to be detached: an offline render of a cancelled attempt then went on after
/// the run, and when the process exited under it, LeakSanitizer saw libx264's encoder
/// context, which only that thread's stack still held, as leaked.)
struct OffLoopThread {
  std::thread thread;
  bool done = false;  ///< guarded by g_off_loop_mutex
};
std::mutex g_off_loop_mutex;
std::list<OffLoopThread> g_off_loop_threads;

/// Takes the finished threads out of the list (mutex held), to be joined without it.
std::list<OffLoopThread> TakeDone() {
  std::list<OffLoopThread> done;
  for (auto it = g_off_loop_threads.begin(); it != g_off_loop_threads.end();) {
    auto next = std::next(it);
    if (it->done) done.splice(done.end(), g_off_loop_threads, it);
    it = next;
  }
  return done;
}

}  // namespace

void JoinOffLoopThreads() {
  std::list<OffLoopThread> all;
  {
    std::lock_guard<std::mutex> lock(g_off_loop_mutex);
    all.swap(g_off_loop_threads);
  }
  std::list<OffLoopThread> self;
  for (auto it = all.begin(); it != all.end();) {
    auto next = std::next(it);
    if (it->thread.get_id() == std::this_thread::get_id())
      self.splice(self.end(), all, it);
    else
      it->thread.join();
    it = next;
  }
  if (!self.empty()) {  // the caller's own thread: it cannot join itself; it goes back
    std::lock_guard<std::mutex> lock(g_off_loop_mutex);
    g_off_loop_threads.splice(g_off_loop_threads.end(), self);
  }
}
RemoteJob::RemoteJob(std::shared_ptr<NodeContext> ctx, Done done) : ctx_(std::move(ctx)), done_(std::move(done)) {}

void RemoteJob::Start() {
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
  if (request_active_ && ctx_->http) ctx_->http->Cancel(request_);
  if (timer_active_ && ctx_->http) ctx_->http->CancelTimer(timer_);
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
  if (!ctx_->http) {
    Finish(NodeResult::Failure(ErrorType::kInternal, "no HTTP loop in the node context"));
    return;
  }
  auto self = shared_from_this();
  uint64_t seq = ++request_seq_;
  request_active_ = true;
  HttpLoop::RequestId id =
      ctx_->http->Send(std::move(request), [self, seq, then = std::move(then)](HttpResponse response) {
        if (self->request_seq_ == seq) self->request_active_ = false;
        if (self->finished()) return;
        then(std::move(response));
      });
  // The callback may already have run (Send on the loop thread can fail at once).
  if (request_seq_ == seq && request_active_) request_ = id;
}

void RemoteJob::After(double seconds, std::function<void()> then) {
  if (!ctx_->http) {
    Finish(NodeResult::Failure(ErrorType::kInternal, "no HTTP loop in the node context"));
    return;
  }
  auto self = shared_from_this();
  uint64_t seq = ++timer_seq_;
  timer_active_ = true;
  HttpLoop::TimerId id = ctx_->http->After(seconds, [self, seq, then = std::move(then)] {
    if (self->timer_seq_ == seq) self->timer_active_ = false;
    if (self->finished()) return;
    then();
  });
  if (timer_seq_ == seq && timer_active_) timer_ = id;
}

bool StartOffLoopThread(std::function<void()> work, std::string* err) {
  std::list<OffLoopThread> done;
  try {
    std::lock_guard<std::mutex> lock(g_off_loop_mutex);
    done = TakeDone();
    g_off_loop_threads.emplace_back();
    auto entry = std::prev(g_off_loop_threads.end());
    try {
      // The entry's iterator stays valid: list nodes only move by splice, under the mutex,
      // which this thread holds until the entry has its std::thread.
      entry->thread = std::thread([entry, work = std::move(work)]() mutable {
        work();
        work = nullptr;  // what it holds (a job) goes before the thread is marked done
        std::lock_guard<std::mutex> l(g_off_loop_mutex);
        entry->done = true;
      });
    } catch (...) {
      g_off_loop_threads.erase(entry);
      throw;
    }
  } catch (const std::exception& e) {
    *err = e.what();
    return false;
  }
  for (auto& t : done) t.thread.join();  // finished already: returns at once
  return true;
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
  if (ctx_->http)
    ctx_->http->Post(std::move(guarded));
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
