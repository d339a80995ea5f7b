#pragma once
// RemoteAttempt: the machinery every attempt on the event loop shares, whatever its protocol:
// RemoteJob (Gemini image, Veo, Sora, the queue providers, offline) and ComfyuiJob both run
// on it. It lives below providers/ and comfyui/ so that neither depends on the other for it.
//
// It keeps two ends of an attempt apart, because ComfyUI needs them apart:
//  - Stop() ends the protocol: the current request and the timers are cancelled, the
//    subclass releases what it holds (OnStop: a pool slot, a socket watch), and every later
//    callback of Send/After/Arm/OnLoop is ignored. It does not report.
//  - Report() hands the result to `done`, exactly once. A cancel that must still talk to the
//    server after the protocol stopped (ComfyUI's /interrupt and /queue delete) sends with
//    SendAfterStop(), whose callbacks run until the result is reported.
// A job that needs nothing in between calls Report() alone (RemoteJob::Finish does): later
// callbacks are ignored all the same.
//
// Threading:
//  - Send, SendAfterStop, After, Arm, CancelTimer, Stop and the callbacks run on the loop thread.
//    The members that track the current request and the timers are touched only there.
//  - Report() may run on any thread (a worker thread of OffLoop); an atomic flag makes the
//    first call win, so `done` runs exactly once and late callbacks become no-ops.
//  - The attempt keeps itself alive through the shared_ptrs its pending callbacks and worker
//    threads capture.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "comfyrun/engine/node_kind.h"
#include "comfyrun/engine/node_result.h"
#include "comfyrun/net/http_loop.h"

namespace comfyrun {

class RemoteAttempt : public std::enable_shared_from_this<RemoteAttempt> {
 public:
  using Done = std::function<void(NodeResult)>;

  /// `loop` may be null (set it later with set_loop; with none, OnLoop runs inline and Send
  /// and After/Arm report an internal error).
  RemoteAttempt(std::shared_ptr<NodeContext> ctx, HttpLoop* loop, Done done);
  virtual ~RemoteAttempt() = default;
  RemoteAttempt(const RemoteAttempt&) = delete;
  RemoteAttempt& operator=(const RemoteAttempt&) = delete;

  /// The loop the attempt's steps run on.
  HttpLoop* loop() const { return http_; }

 protected:
  /// A one-shot timer the attempt can re-arm and cancel. A timer cancelled while already due
  /// may still fire in the loop: only the latest arming of a Timer runs its callback.
  struct Timer {
    uint64_t seq = 0;
    bool active = false;
    HttpLoop::TimerId id = 0;
  };

  /// Consecutive failed polls. Count() adds one and says whether that was one too many.
  class PollFailures {
   public:
    explicit PollFailures(int limit) : limit_(limit) {}
    bool Count() { return ++count_ >= limit_; }
    void Reset() { count_ = 0; }
    int count() const { return count_; }

   private:
    int limit_;
    int count_ = 0;
  };

  void set_loop(HttpLoop* loop) { http_ = loop; }

  /// Starts a request as the attempt's current one; `then` runs on the loop thread unless
  /// the attempt stopped first. One at a time (a later Send replaces the tracked one).
  void Send(HttpRequest request, std::function<void(HttpResponse)> then);
  /// A request of the attempt's cleanup after Stop() (not tracked, not cancelled by Stop);
  /// `then` runs unless the result was reported first.
  void SendAfterStop(HttpRequest request, std::function<void(HttpResponse)> then);
  /// Whether the current request is in flight.
  bool request_active() const { return request_active_; }
  /// Arms `timer` (cancelling its previous arming) to run `then` after `seconds` on the loop
  /// thread, unless the attempt stopped first.
  void Arm(Timer* timer, double seconds, std::function<void()> then);
  /// Arm() on the attempt's default timer.
  void After(double seconds, std::function<void()> then) { Arm(&timer_, seconds, std::move(then)); }
  void CancelTimer(Timer* timer);
  /// Runs `work` on a new worker thread (it holds a reference to the attempt). The thread is
  /// tracked, not detached: JoinOffLoopThreads waits for it. An exception reports kInternal.
  void OffLoop(std::function<void()> work);
  /// Runs `fn` on the loop thread unless the attempt stopped first (inline without a loop).
  /// Any thread. An exception reports kInternal.
  void OnLoop(std::function<void()> fn);

  /// Ends the protocol without reporting (see the top). Loop thread; returns false when it
  /// had stopped already.
  bool Stop();
  /// Releases what the subclass holds besides the request and the default timer: other
  /// Timers, pool slots, watches. Called once, by the first Stop().
  virtual void OnStop() {}
  /// Hands `result` (message redacted) to `done`: first call wins; any thread. It stops
  /// later callbacks but cancels nothing: call Stop() first on the loop thread for that.
  void Report(NodeResult result);

  bool stopped() const { return stopped_.load(); }
  bool reported() const { return reported_.load(); }

  std::shared_ptr<NodeContext> ctx_;

 private:
  /// Runs `fn`; an exception reports kInternal ("unexpected error: ...").
  void ReportingErrors(const std::function<void()>& fn);

  Done done_;
  HttpLoop* http_ = nullptr;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> reported_{false};
  // Loop thread only.
  uint64_t request_seq_ = 0;
  bool request_active_ = false;
  HttpLoop::RequestId request_ = 0;
  Timer timer_;
};

}  // namespace comfyrun
