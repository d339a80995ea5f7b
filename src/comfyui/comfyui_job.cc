// Implementation details: each step sends at most one request at a time (RemoteAttempt's
// current request) or arms the poll timer; the attempt timeout is a separate timer. Finish()
// is the single exit: it stops whatever is pending, gives the slot back and reports once.
//
// Events: the job watches its prompt_id on the server's socket from just before POST /prompt
// (with the prompt_id we propose), so even a prompt that finishes before the reply arrives is
// heard on a socket that is already open (the pool opens them when it starts). Progress
// events go to the status line; a terminal event makes the job poll /history at once instead
// of at its next (slow) tick.
#include "comfyui_job.h"

#include <filesystem>

#include "comfyrun/core/util.h"

namespace comfyrun {
namespace {

/// True when a failed POST certainly never reached the server: the connection was never made
/// (refused, no route, name not resolved, connect timeout). Anything else (a timeout or a
/// reset after the request went out, an empty reply) may have delivered the prompt.
bool NeverSent(const HttpResponse& r) {
  if (r.transport_error != ErrorType::kUnavailable && r.transport_error != ErrorType::kTimeout) return false;
  for (const char* s : {"Failed to connect", "Couldn't connect", "Could not connect", "Connection refused",
                        "Could not resolve", "Couldn't resolve", "Connection timed out", "No route to host"})
    if (r.error.find(s) != std::string::npos) return true;
  return false;
}

std::string JsonDump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

/// Consecutive failed polls (transport errors, 5xx) before the attempt gives up on a server.
constexpr int kMaxComfyPollFailures = 5;

}  // namespace

ComfyuiJob::ComfyuiJob(std::shared_ptr<NodeContext> ctx, ComfyuiPool* pool, HttpLoop* loop,
                       std::function<void(NodeResult)> done, Json graph, std::function<void()> on_finish)
    : RemoteAttempt(std::move(ctx), loop, std::move(done)),
      on_finish_(std::move(on_finish)),
      pool_(pool),
      graph_(std::move(graph)),
      poll_failures_(kMaxComfyPollFailures) {}

std::string ComfyuiJob::Host() const {
  std::string h = server_;
  size_t scheme = h.find("://");
  return scheme == std::string::npos ? h : h.substr(scheme + 3);
}

void ComfyuiJob::Begin() {
  if (stopped()) return;
  if (ctx_->cancelled()) {
    Abort(ErrorType::kCancelled, "cancelled before start");
    return;
  }
  if (ctx_->attempt_timeout > 0) {
    // Timers hold the job strongly (between polls nothing else does); Stop cancels them.
    double limit = ctx_->attempt_timeout;
    Arm(&timeout_timer_, limit,
        [this, limit] { Abort(ErrorType::kTimeout, "no result from ComfyUI after " + FormatDuration(limit)); });
  }
  const Json& sub = ctx_->submission;
  if (sub.is_object() && sub.value("provider", "comfyui") == "comfyui" && sub.contains("promptId") &&
      sub["promptId"].is_string() && sub.contains("server") && sub["server"].is_string()) {
    reattach_ = true;
    accepted_ = true;  // as far as we know: a cancel interrupts it
    unconfirmed_ = sub.contains("accepted") && sub["accepted"] == false;
    prompt_id_ = sub["promptId"].get<std::string>();
    client_id_ = sub.value("clientId", "");
    pinned_ = sub["server"].get<std::string>();
  } else {
    const Json& server = ctx_->inputs.contains("server") ? ctx_->inputs["server"] : Json();
    if (server.is_string()) pinned_ = ComfyuiPool::NormalizeUrl(server.get<std::string>());
    client_id_ = pool_->client_id();
  }
  // An unconfirmed re-attach may have to submit after all (CheckQueue): it has the graph too.
  if (!reattach_ || unconfirmed_) uploads_ = FindComfyUploads(graph_);
  AcquireSlot();
}

void ComfyuiJob::AcquireSlot() {
  ShowProgress(pinned_.empty() ? "waiting for a ComfyUI server" : "waiting for " + pinned_);
  auto self = std::static_pointer_cast<ComfyuiJob>(shared_from_this());
  waiter_ = pool_->Acquire(pinned_, [self](const std::string& server, const std::string& error) {
    self->waiter_ = 0;
    if (self->stopped()) {
      if (!server.empty()) self->pool_->Release(server);
      return;
    }
    self->OnSlot(server, error);
  });
}

void ComfyuiJob::OnSlot(const std::string& server, const std::string& error) {
  if (server.empty()) {
    // A re-attach whose server is gone cannot learn the prompt's fate; the next attempt
    // submits again rather than waiting forever on a dead host. It comes no sooner than the
    // pool's next health check: earlier ones would be refused the same way. Servers that
    // answer 401/403 are up but refuse us: Auth, which is not retried.
    NodeResult r = NodeResult::Failure(pool_->RefusesAuth(pinned_) ? ErrorType::kAuth : ErrorType::kUnavailable, error);
    r.provider = "comfyui";
    r.submission_finished = true;
    r.retry_after = pool_->SecondsUntilRecheck(pinned_);
    Finish(std::move(r));
    return;
  }
  server_ = server;
  holding_slot_ = true;
  events_ = pool_->events();
  if (reattach_) {
    ShowProgress("re-attaching to " + prompt_id_ + " on " + Host());
    polling_ = true;
    WatchPrompt();
    if (events_) events_->Connect(server_);
    Poll();
    return;
  }
  SubmitFresh();
}

void ComfyuiJob::SubmitFresh() {
  prompt_graph_ = graph_;
  UploadNext(0);
}

void ComfyuiJob::UploadNext(size_t index) {
  if (index == uploads_.size()) {
    SubmitPrompt();
    return;
  }
  const ComfyUpload& up = uploads_[index];
  ShowProgress("uploading " + std::filesystem::path(up.local_path).filename().string() + " to " + Host());
  HttpRequest req;
  req.method = "POST";
  req.url = server_ + "/upload/image";
  req.timeout = pool_->options().download_timeout;
  MultipartPart file;
  file.name = "image";
  file.file_path = up.local_path;
  file.filename = std::filesystem::path(up.local_path).filename().string();
  MultipartPart type;
  type.name = "type";
  type.data = "input";
  req.multipart = {file, type};
  Send(std::move(req), [this, index](const HttpResponse& r) {
    const ComfyUpload& u = uploads_[index];
    std::string what = "uploading " + Quote(u.local_path) + " for node " + u.node_id;
    if (r.transport_error == ErrorType::kUnavailable) {
      OnServerUnreachable(r.error);
      return;
    }
    if (!r.ok()) {
      ErrorType type = r.transport_error != ErrorType::kNone ? r.transport_error : ClassifyHttpError(r);
      Fail(type, what + ": " + (r.transport_error != ErrorType::kNone ? r.error : "HTTP " + std::to_string(r.status)),
           true);
      return;
    }
    std::string err;
    auto name = ParseUploadReply(r.body, &err);
    if (!name) {
      Fail(ErrorType::kUnavailable, what + ": " + err, true);
      return;
    }
    prompt_graph_[u.node_id]["inputs"][u.input] = *name;
    UploadNext(index + 1);
  });
}

Json ComfyuiJob::SubmissionRecord(bool accepted) const {
  Json record = {{"provider", "comfyui"}, {"server", server_}, {"promptId", prompt_id_}, {"clientId", client_id_}};
  if (!accepted) record["accepted"] = false;
  return record;
}

void ComfyuiJob::ConfirmFound() {
  if (!unconfirmed_) return;
  unconfirmed_ = false;
  lost_post_ = false;
  ctx_->RecordSubmission(SubmissionRecord(true));
}

void ComfyuiJob::SubmitPrompt() {
  // Proposing our own prompt_id (a UUID, which every server version accepts) lets a cancel
  // that races the reply still name the prompt; the id the server answers is authoritative.
  // A prompt journaled before a POST that the server does not have is sent again under the
  // same id (CheckQueue): a server that got the first POST after all then refuses the second
  // (2026 servers: 409) instead of running the graph twice.
  resending_ = resubmit_same_id_ && !prompt_id_.empty();
  if (!resending_) prompt_id_ = NewUuid4();
  resubmit_same_id_ = false;
  // Journaled (durably) before the POST, marked not yet accepted: a crash after the server
  // took the prompt but before its reply was journaled would otherwise leave a prompt that
  // resume cannot see and submits again. Resume looks this id up on the server instead
  // (ComfyUI is the one provider where the client names the job).
  ctx_->RecordSubmission(SubmissionRecord(false));
  if (stopped()) return;
  submitting_ = true;
  WatchPrompt();
  ShowProgress("submitting to " + Host());
  HttpRequest req;
  req.method = "POST";
  req.url = server_ + "/prompt";
  req.headers = {{"Content-Type", "application/json"}};
  req.body = JsonDump(BuildPromptBody(prompt_graph_, client_id_, prompt_id_));
  req.timeout = pool_->options().request_timeout;
  req.max_redirects = 0;
  Send(std::move(req), [this](const HttpResponse& r) {
    submitting_ = false;
    if (r.transport_error != ErrorType::kNone && r.transport_error != ErrorType::kCancelled && !NeverSent(r)) {
      OnPostUnanswered(r.error);
      return;
    }
    if (r.transport_error == ErrorType::kUnavailable || r.transport_error == ErrorType::kTimeout) {
      UnwatchPrompt();  // the next server gets a new prompt_id
      OnServerUnreachable(r.error);
      return;
    }
    if (r.status == 409 && resending_) {
      // Sent again under the same id, and the server says it has that id: the first POST
      // did arrive after all. Wait for that prompt.
      OnPromptAccepted();
      return;
    }
    ComfyPromptReply reply = ParsePromptReply(r);
    if (reply.error != ErrorType::kNone) {
      Json details = reply.details;
      details["server"] = server_;
      Fail(reply.error, reply.message, true, details);
      return;
    }
    if (reply.prompt_id != prompt_id_) {  // the server's id is authoritative
      UnwatchPrompt();
      prompt_id_ = reply.prompt_id;
      WatchPrompt();
    }
    OnPromptAccepted();
  });
}

void ComfyuiJob::OnPromptAccepted() {
  accepted_ = true;
  polling_ = true;
  lost_post_ = false;
  ctx_->RecordSubmission(SubmissionRecord(true));
  if (stopped()) return;  // RecordSubmission cannot finish us, but stay defensive
  // Normally open since the pool started; reopens one that dropped with nobody watching,
  // or opens one for a server that was not configured (a `server` input).
  if (events_) events_->Connect(server_);
  if (!live_progress_) ShowProgress("queued on " + Host());
  SchedulePoll(NextPollDelay());
}

void ComfyuiJob::OnPostUnanswered(const std::string& reason) {
  // The POST went out but its reply was lost (a timeout, a reset): the server may well have
  // queued the prompt. Its id was journaled before the POST, so look it up the way resume
  // does (/history, then /queue): found, wait for it; absent several times over, send it
  // again under the same id. Never a second prompt for one that may be running.
  lost_post_ = true;
  unconfirmed_ = true;
  accepted_ = true;  // as far as we know: a cancel interrupts it
  polling_ = true;
  absent_count_ = 0;
  ShowProgress("no reply to POST /prompt from " + Host() + " (" + reason + "); looking for prompt " + prompt_id_);
  Poll();
}

void ComfyuiJob::OnServerUnreachable(const std::string& reason) {
  std::string failed = server_;
  pool_->MarkDown(failed, reason);
  ReleaseSlot();
  int limit = static_cast<int>(pool_->servers().size());
  if (!pinned_.empty() || ++failovers_ >= limit) {
    Fail(ErrorType::kUnavailable, "ComfyUI server " + failed + " is unreachable: " + reason, true,
         Json{{"server", failed}});
    return;
  }
  ShowProgress(Host() + " is down, trying another server");
  server_.clear();
  AcquireSlot();
}

void ComfyuiJob::ReleaseSlot() {
  if (!holding_slot_) return;
  holding_slot_ = false;
  pool_->Release(server_);
}

void ComfyuiJob::Fail(ErrorType type, const std::string& message, bool submission_finished, Json details) {
  NodeResult r = NodeResult::Failure(type, message);
  r.provider = "comfyui";
  r.submission_finished = submission_finished;
  r.details = std::move(details);
  Finish(std::move(r));
}

void ComfyuiJob::ShowProgress(const std::string& text) {
  if (text == last_progress_) return;
  last_progress_ = text;
  ctx_->Progress(text);
}

void ComfyuiJob::Finish(NodeResult result) {
  if (reported()) return;
  Stop();
  if (on_finish_) on_finish_();
  Report(std::move(result));
}

void ComfyuiJob::OnStop() {
  UnwatchPrompt();
  CancelTimer(&poll_timer_);
  CancelTimer(&timeout_timer_);
  if (waiter_) pool_->CancelAcquire(waiter_);
  waiter_ = 0;
  ReleaseSlot();
}

}  // namespace comfyrun
