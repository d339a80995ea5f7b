#pragma once
// RemoteJob: the frame every generation attempt runs in (Gemini image, Veo, Sora, offline).
//
// A job is a small state machine whose steps run on the HttpLoop thread, one at a time:
// Begin() -> Send()/After() -> callbacks -> ... -> Finish(). Blocking work (reading and
// base64-encoding reference images, decoding a reply, probing a downloaded video, offline
// rendering) goes to a short-lived worker thread through OffLoop(), which hands its result
// back with OnLoop(). Send, After, OffLoop and OnLoop are RemoteAttempt's
// (comfyrun/remote/remote_attempt.h), the frame ComfyuiJob runs on too; a RemoteJob finishes
// in one step (Finish reports, and every later callback is ignored).
//
// Threading:
//  - Start() and Cancel() may be called from any thread (the executor thread in practice);
//    both only post work to the loop.
//  - Begin(), Send/After callbacks and OnLoop functions run on the loop thread.
//  - Finish() may run on the loop thread or a worker thread; the first call wins, so `done`
//    runs exactly once.
//  - Start() leaves a weak_ptr to the job in ctx->kind_state for CancelJobFor; both run on
//    the executor thread, so kind_state needs no lock.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "comfyrun/engine/node_kind.h"
#include "comfyrun/engine/node_result.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/net/off_loop_threads.h"
#include "comfyrun/remote/remote_attempt.h"

namespace comfyrun {

class RemoteJob : public RemoteAttempt {
 public:
  RemoteJob(std::shared_ptr<NodeContext> ctx, Done done);

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

  /// Ends the attempt: redacts the message and calls `done`. First call wins; any thread.
  void Finish(NodeResult result) { Report(std::move(result)); }

  bool finished() const { return stopped(); }
  /// Seconds since Start().
  double Elapsed() const;
  /// Per-request timeout: `wanted`, capped by the attempt timeout when one is set.
  double RequestTimeout(double wanted) const;

 private:
  void OnCancel();

  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

/// Cancels the running job started for `ctx` (see RemoteJob::Cancel), found through
/// ctx->kind_state. Returns false when there is none (never started, or already gone).
/// Call it on the thread that called Start (the executor thread).
bool CancelJobFor(const NodeContext* ctx);

}  // namespace comfyrun
