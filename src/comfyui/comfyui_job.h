#pragma once
// ComfyuiJob: one attempt of a comfyui node as a state machine driven by HttpLoop callbacks
// (see include/comfyrun/comfyui/comfyui_node.h for the protocol steps). Private to
// src/comfyui/.
//
// Threading: constructed on the executor thread; every other method runs on the HttpLoop
// thread, so its fields need no locks. The job keeps itself alive through the shared_ptr
// captured by its pending request callbacks, timers and pool waiter (Finish cancels them);
// `finished_` makes late callbacks no-ops.
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "comfyrun/comfyui/events.h"
#include "comfyrun/comfyui/pool.h"
#include "comfyrun/comfyui/protocol.h"
#include "comfyrun/node_kind.h"

namespace comfyrun {

class ComfyuiJob : public std::enable_shared_from_this<ComfyuiJob> {
 public:
  /// `graph` is the loaded graph with overrides applied (ignored when re-attaching).
  /// `on_finish` runs on the loop thread right before `done` (the kind unregisters the job).
  ComfyuiJob(std::shared_ptr<NodeContext> ctx, std::function<void(NodeResult)> done, Json graph,
             std::function<void()> on_finish);

  /// Starts the attempt (loop thread).
  void Begin();
  /// Stops the attempt: interrupts and dequeues the prompt if one was submitted, gives the
  /// slot back and calls done with `type` (loop thread). No-op once finished.
  void Abort(ErrorType type, const std::string& message);

 private:
  void AcquireSlot();
  void OnSlot(const std::string& server, const std::string& error);
  void UploadNext(size_t index);
  void SubmitPrompt();
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
  void SendInterrupt();
  void ReleaseSlot();
  /// Routes the server's socket events for prompt_id_ to this job; UnwatchPrompt stops that.
  void WatchPrompt();
  void UnwatchPrompt();
  void OnEvent(const ComfyEvent& event);
  void OnLink(bool up);
  /// "KSampler #3" when the graph names the node's class, else "node 3".
  std::string NodeLabel(const std::string& node) const;
  void ShowProgress(const std::string& text);
  void Fail(ErrorType type, const std::string& message, bool submission_finished,
            Json details = Json::object());
  void Finish(NodeResult result);
  /// Sends a request as the job's current one; `then` runs unless the job has finished.
  void Send(HttpRequest request, std::function<void(const HttpResponse&)> then);
  std::string Host() const;

  std::shared_ptr<NodeContext> ctx_;
  std::function<void(NodeResult)> done_;
  std::function<void()> on_finish_;
  ComfyuiPool* pool_;
  HttpLoop* loop_;

  Json graph_;          ///< with overrides, local paths still in place
  Json prompt_graph_;   ///< graph_ with uploaded names, for the current server
  std::vector<ComfyUpload> uploads_;
  std::string pinned_;  ///< server the attempt must use ("" = any)
  std::string server_;  ///< server holding our slot
  bool holding_slot_ = false;
  ComfyuiPool::WaiterId waiter_ = 0;
  int failovers_ = 0;

  bool reattach_ = false;
  bool unconfirmed_ = false; ///< re-attached to a prompt journaled before its POST, whose
                             ///< acceptance the journal never saw: the server may not have it
  bool submitting_ = false;  ///< POST /prompt in flight (prompt_id_ is our proposed id)
  bool accepted_ = false;    ///< the server holds prompt_id_
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
  ComfyuiEvents* events_ = nullptr;     ///< the pool's sockets; null when off
  ComfyuiEvents::WatchId watch_ = 0;
  bool ws_covers_ = false;     ///< prompt sent with this process's client_id: its events reach us
  bool polling_ = false;       ///< accepted and waiting for /history to show the outcome
  bool poll_again_ = false;    ///< an event asked for a poll while a request was in flight
  bool terminal_hint_ = false; ///< an event said the prompt ended
  int settle_polls_ = 0;       ///< quick polls made since the terminal event
  bool live_progress_ = false; ///< the status line shows per-node progress from events
  std::string current_node_;   ///< last `executing` node

  HttpLoop::RequestId request_ = 0;
  HttpLoop::TimerId poll_timer_ = 0;
  double poll_due_ = 0;        ///< steady seconds when poll_timer_ fires
  uint64_t poll_seq_ = 0;      ///< identifies the live poll timer (see SchedulePoll)
  HttpLoop::TimerId timeout_timer_ = 0;
  int poll_failures_ = 0;
  int absent_count_ = 0;
  std::string last_progress_;

  std::vector<ComfyOutputFile> files_;
  std::vector<std::string> local_paths_;
  std::set<std::string> used_names_;
  bool finished_ = false;
};

}  // namespace comfyrun
