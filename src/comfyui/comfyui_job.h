#pragma once
// ComfyuiJob: one attempt of a comfyui node as a state machine driven by HttpLoop callbacks
// (see include/comfyrun/comfyui/comfyui_node.h for the protocol steps). Private to
// src/comfyui/.
//
// The request, timer, stop and report machinery is RemoteAttempt's
// (comfyrun/remote/remote_attempt.h), the frame RemoteJob's providers run on too. ComfyUI
// uses both of its ends: Stop() ends the protocol (OnStop gives back the pool slot or its
// waiter and the socket watch, and cancels the poll and attempt timers), and Abort's
// /interrupt and queue delete still go out after it (SendAfterStop) before Finish reports.
//
// Threading: constructed on the executor thread; every other method runs on the HttpLoop
// thread, so its fields need no locks. The job keeps itself alive through the shared_ptr
// captured by its pending request callbacks, timers and pool waiter (Stop cancels them);
// once stopped, late callbacks are no-ops.
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "comfyrun/comfyui/events.h"
#include "comfyrun/comfyui/pool.h"
#include "comfyrun/comfyui/protocol.h"
#include "comfyrun/engine/node_kind.h"
#include "comfyrun/remote/remote_attempt.h"

namespace comfyrun {

class ComfyuiJob : public RemoteAttempt {
 public:
  /// `graph` is the loaded graph with overrides applied (ignored when re-attaching).
  /// `on_finish` runs on the loop thread right before `done` (the kind unregisters the job).
  /// `pool` and `loop` outlive the job (the event-loop backend's).
  ComfyuiJob(std::shared_ptr<NodeContext> ctx, ComfyuiPool* pool, HttpLoop* loop, std::function<void(NodeResult)> done,
             Json graph, std::function<void()> on_finish);

  /// Starts the attempt (loop thread).
  void Begin();
  /// Stops the attempt and cancels its prompt, if one may be on the server: POST /interrupt
  /// {prompt_id} (it stops a running prompt once its current node ends) and POST /queue
  /// {delete: [id]} (a queued one), then waits for both replies (at most 3 s) and
  /// calls done with `type`. The submission is finished only when both were answered 200
  /// and no POST /prompt was in flight; otherwise it is kept, and resume or a retry looks
  /// the prompt up again. For a timeout, and for Ctrl-C with --cancel-remote (loop thread).
  /// No-op once finished.
  void Abort(ErrorType type, const std::string& message);
  /// Stops the attempt and leaves its prompt on the server: the submission is kept, so resume
  /// re-attaches to it (Ctrl-C, SIGTERM and --fail-fast without --cancel-remote). Loop
  /// thread; no-op once finished.
  void Detach(const std::string& message);
  /// Whether another prompt of this graph makes new outputs (ComfySeedsFixed): it decides
  /// whether an OutputInvalid is retried (engine/retry.h). Before Begin.
  void set_seeds_fixed(bool fixed) { seeds_fixed_ = fixed; }

 private:
  void AcquireSlot();
  void OnSlot(const std::string& server, const std::string& error);
  void UploadNext(size_t index);
  void SubmitPrompt();
  /// The server took prompt_id_ (a 200 reply, or a 409 for an id sent again): journal it, wait.
  void OnPromptAccepted();
  /// POST /prompt went out and its reply was lost: look the prompt up before anything else.
  void OnPostUnanswered(const std::string& reason);
  void OnServerUnreachable(const std::string& reason);
  void SchedulePoll(double delay);
  /// The delay before the next /history poll: short after a terminal event, slow while the
  /// server's socket carries our events, poll_interval otherwise.
  double NextPollDelay();
  /// Polls now (or right after the poll in flight) because an event said the prompt ended.
  void PollSoon();
  void Poll();
  void CheckQueue();
  void OnPollFailure(const std::string& reason);
  void DownloadNext(size_t index);
  void FinishSuccess();
  /// Sends /interrupt and the queue delete for prompt_id_ to `server`; OnCancelReply counts
  /// the replies.
  void SendCancel(const std::string& server);
  void OnCancelReply(const std::string& what, const HttpResponse& r);
  /// A prompt of this attempt that the server may hold and that has not ended there.
  bool PromptMayBeLive() const;
  /// Checks the downloaded files by decoding them (media module, on a worker thread), then
  /// finishes with success or OutputInvalid.
  void CheckOutputs();
  void OnOutputsChecked(const std::string& error, const std::string& path, uintmax_t bytes);
  /// An OutputInvalid result, with whether another attempt would make new outputs.
  void FailOutput(const std::string& message, Json details);
  void ReleaseSlot();
  /// Routes the server's socket events for prompt_id_ to this job; UnwatchPrompt stops that.
  void WatchPrompt();
  void UnwatchPrompt();
  void OnEvent(const ComfyEvent& event);
  void OnLink(bool up);
  /// "KSampler #3" when the graph names the node's class, else "node 3".
  std::string NodeLabel(const std::string& node) const;
  void ShowProgress(const std::string& text);
  void Fail(ErrorType type, const std::string& message, bool submission_finished, Json details = Json::object());
  /// Stop(), then on_finish_, then Report(): the single exit. No-op once reported.
  void Finish(NodeResult result);
  /// Gives back what Stop() leaves to the subclass: the socket watch, the poll and attempt
  /// timers, the pool waiter or slot.
  void OnStop() override;
  std::string Host() const;

  std::function<void()> on_finish_;
  ComfyuiPool* pool_;

  Json graph_;         ///< with overrides, local paths still in place
  Json prompt_graph_;  ///< graph_ with uploaded names, for the current server
  std::vector<ComfyUpload> uploads_;
  std::string pinned_;  ///< server the attempt must use ("" = any)
  std::string server_;  ///< server holding our slot
  bool holding_slot_ = false;
  ComfyuiPool::WaiterId waiter_ = 0;
  int failovers_ = 0;

  bool reattach_ = false;
  bool unconfirmed_ = false;  ///< re-attached to a prompt journaled before its POST, whose
                              ///< acceptance the journal never saw: the server may not have it
  bool submitting_ = false;   ///< POST /prompt in flight (prompt_id_ is our proposed id)
  bool accepted_ = false;     ///< the server holds prompt_id_
  std::string prompt_id_;
  std::string client_id_;

  /// The journal's record of prompt_id_ on server_; `accepted` false for the one written
  /// before the POST.
  Json SubmissionRecord(bool accepted) const;
  /// Journals prompt_id_ as accepted, once, for a prompt that was re-attached unconfirmed.
  void ConfirmFound();
  /// Uploads the graph's local files to server_, then submits it.
  void SubmitFresh();

  // Events (see comfyui/events.h): a faster signal; /history stays the source of truth.
  ComfyuiEvents* events_ = nullptr;  ///< the pool's sockets; null when off
  ComfyuiEvents::WatchId watch_ = 0;
  bool ws_covers_ = false;      ///< prompt sent with this process's client_id: its events reach us
  bool polling_ = false;        ///< accepted and waiting for /history to show the outcome
  bool poll_again_ = false;     ///< an event asked for a poll while a request was in flight
  bool terminal_hint_ = false;  ///< an event said the prompt ended
  int settle_polls_ = 0;        ///< quick polls made since the terminal event
  bool live_progress_ = false;  ///< the status line shows per-node progress from events
  std::string current_node_;    ///< last `executing` node

  Timer poll_timer_;
  double poll_due_ = 0;  ///< steady seconds when poll_timer_ fires
  Timer timeout_timer_;
  PollFailures poll_failures_;
  int absent_count_ = 0;
  std::string last_progress_;

  std::vector<ComfyOutputFile> files_;
  std::vector<std::string> local_paths_;
  std::set<std::string> used_names_;
  bool seeds_fixed_ = true;        ///< see set_seeds_fixed
  bool done_on_server_ = false;    ///< history showed success: the prompt is over
  bool lost_post_ = false;         ///< POST /prompt went unanswered; prompt_id_ is looked up
  bool resubmit_same_id_ = false;  ///< the next SubmitPrompt keeps prompt_id_
  bool resending_ = false;         ///< the POST in flight repeats a journaled prompt_id_
  // A cancel in progress (Abort): replies still awaited, and what they said.
  int cancel_pending_ = 0;
  bool cancel_ok_ = true;
  std::string cancel_errors_;
  ErrorType cancel_type_ = ErrorType::kCancelled;
  std::string cancel_message_;
  bool cancel_while_posting_ = false;
};

}  // namespace comfyrun
