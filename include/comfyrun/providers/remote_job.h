#pragma once
// RemoteJob: the frame every generation attempt runs in (Gemini image, Veo, Sora, offline).
//
// A job is a small state machine whose steps run on the HttpLoop thread, one at a time:
// Begin() -> Send()/After() -> callbacks -> ... -> Finish(). Blocking work (reading and
// base64-encoding reference images, decoding a reply, probing a downloaded video, offline
// rendering) goes to a short-lived worker thread through OffLoop(), which hands its result
// back with OnLoop().
//
// Threading:
//  - Start() and Cancel() may be called from any thread (the executor thread in practice);
//    both only post work to the loop.
//  - Begin(), Send/After callbacks and OnLoop functions run on the loop thread. The members
//    that track the current request and timer are touched only there, so they need no lock.
//  - Finish() may run on the loop thread or a worker thread; an atomic flag makes the first
//    call win and turns later ones (and late callbacks) into no-ops, so `done` runs exactly
//    once.
//  - The job keeps itself alive through the shared_ptrs captured by pending callbacks and
//    worker threads. Start() leaves a weak_ptr to it in ctx->kind_state for CancelJobFor;
//    both run on the executor thread, so kind_state needs no lock.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "comfyrun/engine/node_kind.h"
#include "comfyrun/engine/node_result.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/net/off_loop_threads.h"

namespace comfyrun {

class RemoteJob : public std::enable_shared_from_this<RemoteJob> {
 public:
  using Done = std::function<void(NodeResult)>;

  RemoteJob(std::shared_ptr<NodeContext> ctx, Done done);
  virtual ~RemoteJob() = default;
  RemoteJob(const RemoteJob&) = delete;
  RemoteJob& operator=(const RemoteJob&) = delete;

  /// Leaves a weak_ptr to the job in ctx->kind_state (for CancelJobFor) and runs Begin() on
  /// `http`'s loop thread (inline when it is null, e.g. an offline job in a unit test). Any
  /// thread; returns at once.
  void Start(HttpLoop* http);
  /// Stops the job: the current request and timer are cancelled and `done` gets kCancelled
  /// with submission_finished=false (the remote job may still be running; a resume
  /// re-attaches). Any thread; returns at once.
  void Cancel();

 protected:
  /// First step, on the loop thread. ctx_->cancelled() was checked just before.
  virtual void Begin() = 0;

  /// Starts a request on the loop; `then` runs on the loop thread unless the job finished
  /// first. One request at a time per job (a later Send replaces the tracked id).
  void Send(HttpRequest request, std::function<void(HttpResponse)> then);
  /// Runs `then` on the loop thread after `seconds`, unless the job finished first.
  void After(double seconds, std::function<void()> then);
  /// Runs `work` on a new worker thread (it holds a reference to the job). The thread is
  /// tracked, not detached: JoinOffLoopThreads waits for it.
  void OffLoop(std::function<void()> work);
  /// Runs `fn` on the loop thread unless the job finished first (inline without a loop).
  void OnLoop(std::function<void()> fn);
  /// Ends the attempt: redacts the message and calls `done`. First call
  /// wins; any thread.
  void Finish(NodeResult result);

  bool finished() const { return finished_.load(); }
  /// Seconds since Start().
  double Elapsed() const;
  /// Per-request timeout: `wanted`, capped by the attempt timeout when one is set.
  double RequestTimeout(double wanted) const;

  std::shared_ptr<NodeContext> ctx_;

 private:
  void OnCancel();

  Done done_;
  HttpLoop* http_ = nullptr;  ///< set by Start; null runs every step inline
  std::atomic<bool> finished_{false};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // Loop thread only.
  uint64_t request_seq_ = 0;
  bool request_active_ = false;
  HttpLoop::RequestId request_ = 0;
  uint64_t timer_seq_ = 0;
  bool timer_active_ = false;
  HttpLoop::TimerId timer_ = 0;
};

/// Cancels the running job started for `ctx` (see RemoteJob::Cancel), found through
/// ctx->kind_state. Returns false when there is none (never started, or already gone).
/// Call it on the thread that called Start (the executor thread).
bool CancelJobFor(const NodeContext* ctx);

}  // namespace comfyrun
