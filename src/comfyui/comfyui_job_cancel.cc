// Stopping a ComfyUI attempt: cancelling its prompt on the server (Abort: a timeout, or a
// run stopping with --cancel-remote) or leaving it there for resume (Detach: a run stopping
// without --cancel-remote). Part of ComfyuiJob (see comfyui_job.h).
//
// Why Abort waits for the replies: the executor destroys the HTTP loop soon after a run stops,
// and that drops requests still in flight. Sent "fire and forget", an interrupt after Ctrl-C
// seldom left the process, and the prompt ran on while the journal said it was over. Now the
// journal says the prompt was cancelled only when the server answered both requests.
#include "comfyui_job.h"

namespace comfyrun {
namespace {

/// Seconds allowed for /interrupt and the queue delete. The executor waits up to 5 s for the
/// attempts of a stopping run to end, so this stays below that.
constexpr double kCancelTimeout = 3;

std::string DumpJson(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

bool ComfyuiJob::PromptMayBeLive() const {
  return !prompt_id_.empty() && !done_on_server_ && (accepted_ || submitting_ || reattach_ || lost_post_);
}

void ComfyuiJob::Abort(ErrorType type, const std::string& message) {
  if (stopped()) return;
  std::string server = !server_.empty() ? server_ : pinned_;
  if (!PromptMayBeLive() || server.empty()) {
    // Nothing on a server to cancel. A prompt that finished there keeps its submission: its
    // outputs can still be downloaded by re-attaching, at no cost.
    Fail(type, message, !done_on_server_,
         done_on_server_ ? Json{{"server", server_}, {"promptId", prompt_id_}} : Json::object());
    return;
  }
  cancel_type_ = type;
  cancel_message_ = message;
  // A POST /prompt in flight may still reach the server after the queue delete did.
  cancel_while_posting_ = submitting_ || (lost_post_ && unconfirmed_);
  Stop();  // no more polls or events; the cancel's own requests follow
  SendCancel(server);
}

void ComfyuiJob::SendCancel(const std::string& server) {
  HttpRequest interrupt;
  interrupt.method = "POST";
  interrupt.url = server + "/interrupt";
  interrupt.headers = {{"Content-Type", "application/json"}};
  interrupt.body = DumpJson(Json{{"prompt_id", prompt_id_}});
  interrupt.timeout = kCancelTimeout;
  interrupt.connect_timeout = kCancelTimeout;
  interrupt.max_redirects = 0;
  HttpRequest dequeue = interrupt;
  dequeue.url = server + "/queue";
  dequeue.body = DumpJson(Json{{"delete", Json::array({prompt_id_})}});
  cancel_pending_ = 2;
  cancel_ok_ = true;
  // The job stays alive through these callbacks until the second reply reports.
  SendAfterStop(std::move(interrupt), [this](const HttpResponse& r) { OnCancelReply("POST /interrupt", r); });
  SendAfterStop(std::move(dequeue), [this](const HttpResponse& r) { OnCancelReply("POST /queue {delete}", r); });
}

void ComfyuiJob::OnCancelReply(const std::string& what, const HttpResponse& r) {
  if (!r.ok()) {
    cancel_ok_ = false;
    if (!cancel_errors_.empty()) cancel_errors_ += "; ";
    cancel_errors_ +=
        what + ": " + (r.transport_error != ErrorType::kNone ? r.error : "HTTP " + std::to_string(r.status));
  }
  if (--cancel_pending_ > 0) return;
  std::string server = !server_.empty() ? server_ : pinned_;
  Json details = {{"server", server}, {"promptId", prompt_id_}, {"cancelled", cancel_ok_}};
  // Finished (resume submits anew) only when the server took both requests and no POST was
  // in flight; otherwise resume looks the prompt up and waits for it if it is still there.
  bool finished = cancel_ok_ && !cancel_while_posting_;
  std::string text = cancel_message_;
  if (cancel_ok_) {
    text += "; prompt " + prompt_id_ + " cancelled on " + server;
  } else {
    text += "; could not cancel prompt " + prompt_id_ + " on " + server + " (" + cancel_errors_ +
            "): it may still run, and resume re-attaches to it";
  }
  if (!cancel_ok_) details["cancelError"] = cancel_errors_;
  Fail(cancel_type_, text, finished, details);
}

void ComfyuiJob::Detach(const std::string& message) {
  if (stopped()) return;
  bool keep = PromptMayBeLive() || done_on_server_;
  if (!keep) {
    Fail(ErrorType::kCancelled, message, true);
    return;
  }
  std::string server = !server_.empty() ? server_ : pinned_;
  Fail(ErrorType::kCancelled,
       message + "; prompt " + prompt_id_ + " left on " + server +
           " (resume re-attaches to it; --cancel-remote cancels it)",
       false, Json{{"server", server}, {"promptId", prompt_id_}, {"detached", true}});
}

}  // namespace comfyrun
