// Waiting for a submitted prompt's outcome: /history polls (and /queue while history is
// empty) on a timer, sped up by the server's WebSocket events. Part of ComfyuiJob (see
// comfyui_job.h and the notes at the top of comfyui_job.cc).
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "comfyrun/core/util.h"
#include "comfyui_job.h"

namespace comfyrun {
namespace {

/// A prompt whose POST went unanswered is sent again only after this many lookups in a row
/// found it neither in /history nor in /queue (see OnPostUnanswered).
constexpr int kLostPostAbsences = 3;
/// After a terminal event, /history is polled this often (ComfyUI sends execution_success
/// just before it writes the history entry), at most kMaxSettlePolls times.
constexpr double kSettleDelay = 0.1;
constexpr int kMaxSettlePolls = 20;

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string FormatCount(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

void ComfyuiJob::SchedulePoll(double delay) {
  if (poll_again_) {
    poll_again_ = false;
    delay = 0;
  }
  poll_due_ = NowSeconds() + delay;
  Arm(&poll_timer_, delay, [this] { Poll(); });  // replaces an armed poll
}

double ComfyuiJob::NextPollDelay() {
  double normal = pool_->options().poll_interval;
  if (terminal_hint_) {
    if (settle_polls_++ < kMaxSettlePolls) return std::min(normal, kSettleDelay);
    terminal_hint_ = false;  // the history never showed it: back to the ordinary cadence
  }
  if (ws_covers_ && events_ && events_->up(server_)) return std::max(normal, pool_->options().ws_poll_interval);
  return normal;
}

void ComfyuiJob::PollSoon() {
  if (!polling_ || stopped()) return;  // still submitting: acceptance schedules the poll
  if (request_active()) {
    poll_again_ = true;  // the poll or queue check in flight re-polls at once when it ends
    return;
  }
  CancelTimer(&poll_timer_);
  Poll();
}

void ComfyuiJob::Poll() {
  HttpRequest req;
  req.url = server_ + "/history/" + PercentEncode(prompt_id_);
  req.timeout = pool_->options().request_timeout;
  Send(std::move(req), [this](const HttpResponse& r) {
    if (!r.ok()) {
      OnPollFailure(r.transport_error != ErrorType::kNone ? r.error
                                                          : "GET /history answered HTTP " + std::to_string(r.status));
      return;
    }
    std::string err;
    auto h = ParseHistoryReply(r.body, prompt_id_, &err);
    if (!h) {
      OnPollFailure(err);
      return;
    }
    poll_failures_.Reset();
    if (h->state != ComfyHistory::State::kAbsent) ConfirmFound();
    switch (h->state) {
      case ComfyHistory::State::kAbsent:
        CheckQueue();
        return;
      case ComfyHistory::State::kFailed: {
        accepted_ = false;  // terminal on the server: nothing left to interrupt
        polling_ = false;
        Json details = h->details;
        details["server"] = server_;
        details["promptId"] = prompt_id_;
        Fail(h->error, h->message, true, details);
        return;
      }
      case ComfyHistory::State::kSuccess:
        accepted_ = false;
        polling_ = false;
        done_on_server_ = true;
        UnwatchPrompt();
        ReleaseSlot();  // the GPU is free; downloads need no slot
        files_ = h->files;
        DownloadNext(0);
        return;
    }
  });
}

void ComfyuiJob::CheckQueue() {
  HttpRequest req;
  req.url = server_ + "/queue";
  req.timeout = pool_->options().request_timeout;
  Send(std::move(req), [this](const HttpResponse& r) {
    if (!r.ok()) {
      OnPollFailure(r.transport_error != ErrorType::kNone ? r.error
                                                          : "GET /queue answered HTTP " + std::to_string(r.status));
      return;
    }
    std::string err;
    auto pos = ParseQueueReply(r.body, prompt_id_, &err);
    if (!pos) {
      OnPollFailure(err);
      return;
    }
    std::string text;
    if (pos->state != ComfyQueuePosition::State::kAbsent) ConfirmFound();
    switch (pos->state) {
      case ComfyQueuePosition::State::kRunning:
        absent_count_ = 0;
        // Keep the finer per-node progress that events show.
        if (!live_progress_) text = "running on " + Host();
        break;
      case ComfyQueuePosition::State::kPending:
        absent_count_ = 0;
        text = "queued on " + Host() + (pos->ahead > 0 ? " (" + std::to_string(pos->ahead) + " ahead)" : "");
        break;
      case ComfyQueuePosition::State::kAbsent:
        // Not in history, not in the queue. It may have finished between the two requests,
        // so look at the history once more before declaring the prompt gone.
        if (++absent_count_ < 2) {
          Poll();
          return;
        }
        if (lost_post_ && absent_count_ < kLostPostAbsences) {
          // The server may still be handling the POST that timed out: look again later.
          SchedulePoll(pool_->options().poll_interval);
          return;
        }
        if (unconfirmed_) {
          // Journaled before its POST, and the server does not have it: the run stopped in
          // between, or the POST that went unanswered never arrived. Submit it now, on this
          // server, journaled the same way and under the same id.
          unconfirmed_ = false;
          reattach_ = false;
          accepted_ = false;
          polling_ = false;
          absent_count_ = 0;
          resubmit_same_id_ = true;
          ShowProgress("prompt " + prompt_id_ + " never reached " + Host() + "; submitting it");
          client_id_ = pool_->client_id();  // this process's socket hears the new prompt
          SubmitFresh();
          return;
        }
        accepted_ = false;
        polling_ = false;
        Fail(ErrorType::kUnavailable,
             "prompt " + prompt_id_ + " is no longer known to " + server_ +
                 " (server restarted?); the next attempt submits it again",
             /*submission_finished=*/true, Json{{"server", server_}, {"promptId", prompt_id_}});
        return;
    }
    if (!text.empty()) ShowProgress(text);
    SchedulePoll(NextPollDelay());
  });
}

void ComfyuiJob::OnPollFailure(const std::string& reason) {
  if (!poll_failures_.Count()) {
    SchedulePoll(pool_->options().poll_interval);
    return;
  }
  pool_->MarkDown(server_, reason);
  // The prompt may still be alive on the server: keep the submission so a retry re-attaches.
  Fail(ErrorType::kUnavailable, "lost contact with ComfyUI server " + server_ + ": " + reason, false,
       Json{{"server", server_}, {"promptId", prompt_id_}});
}

void ComfyuiJob::WatchPrompt() {
  if (!events_ || watch_) return;
  ws_covers_ = client_id_ == events_->client_id();
  std::weak_ptr<ComfyuiJob> weak = std::static_pointer_cast<ComfyuiJob>(shared_from_this());
  ComfyuiEvents::Watcher w;
  w.on_event = [weak](const ComfyEvent& e) {
    if (auto self = weak.lock()) self->OnEvent(e);
  };
  w.on_link = [weak](bool up) {
    if (auto self = weak.lock()) self->OnLink(up);
  };
  watch_ = events_->Watch(server_, prompt_id_, std::move(w));
}

void ComfyuiJob::UnwatchPrompt() {
  if (events_ && watch_) events_->Unwatch(watch_);
  watch_ = 0;
}

void ComfyuiJob::OnEvent(const ComfyEvent& e) {
  if (stopped() || !(submitting_ || polling_)) return;
  if (e.terminal()) {
    terminal_hint_ = true;
    settle_polls_ = 0;
    PollSoon();
    return;
  }
  switch (e.kind) {
    case ComfyEvent::Kind::kStart:
      ShowProgress("running on " + Host());
      break;
    case ComfyEvent::Kind::kExecuting:
      current_node_ = e.node;
      live_progress_ = true;
      ShowProgress(NodeLabel(e.node) + " on " + Host());
      break;
    case ComfyEvent::Kind::kProgress:
      if (e.max <= 0) break;
      live_progress_ = true;
      ShowProgress(NodeLabel(e.node.empty() ? current_node_ : e.node) + " " + FormatCount(e.value) + "/" +
                   FormatCount(e.max) + " on " + Host());
      break;
    default:
      break;
  }
}

void ComfyuiJob::OnLink(bool up) {
  if (stopped() || !polling_ || up) return;
  // Events may be lost while the socket is down: fall back to the ordinary cadence now
  // rather than after a slow tick.
  double normal = pool_->options().poll_interval;
  if (poll_timer_.active && poll_due_ > NowSeconds() + normal) SchedulePoll(normal);  // re-arms the poll timer
}

std::string ComfyuiJob::NodeLabel(const std::string& node) const {
  if (node.empty()) return "running";
  const Json& g = prompt_graph_;
  if (g.is_object() && g.contains(node) && g[node].is_object() && g[node].contains("class_type") &&
      g[node]["class_type"].is_string())
    return g[node]["class_type"].get<std::string>() + " #" + node;
  return "node " + node;
}

}  // namespace comfyrun
