// Implementation details: each step sends at most one request at a time (request_) or arms
// the poll timer; the attempt timeout is a separate timer. Finish() is the single exit: it
// cancels whatever is pending, gives the slot back and calls done_ exactly once.
//
// Events: the job watches its prompt_id on the server's socket from just before POST /prompt
// (with the prompt_id we propose), so even a prompt that finishes before the reply arrives is
// heard on a socket that is already open (the pool opens them when it starts). Progress
// events go to the status line; a terminal event makes the job poll /history at once instead
// of at its next (slow) tick.
#include "comfyui_job.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "comfyrun/util.h"

namespace comfyrun {
namespace {

/// Consecutive failed polls (transport errors, 5xx) before the attempt gives up on a server.
constexpr int kMaxPollFailures = 5;
/// Seconds allowed for the fire-and-forget /interrupt and /queue delete.
constexpr double kCancelRequestTimeout = 10;
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

std::string JsonDump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

ComfyuiJob::ComfyuiJob(std::shared_ptr<NodeContext> ctx, std::function<void(NodeResult)> done,
                       Json graph, std::function<void()> on_finish)
    : ctx_(std::move(ctx)),
      done_(std::move(done)),
      on_finish_(std::move(on_finish)),
      pool_(ctx_->comfyui),
      loop_(ctx_->http),
      graph_(std::move(graph)) {}

std::string ComfyuiJob::Host() const {
  std::string h = server_;
  size_t scheme = h.find("://");
  return scheme == std::string::npos ? h : h.substr(scheme + 3);
}

void ComfyuiJob::Begin() {
  if (finished_) return;
  if (ctx_->cancelled()) {
    Abort(ErrorType::kCancelled, "cancelled before start");
    return;
  }
  if (ctx_->attempt_timeout > 0) {
    // Timers hold the job strongly (between polls nothing else does); Finish cancels them.
    auto self = shared_from_this();
    double limit = ctx_->attempt_timeout;
    timeout_timer_ = loop_->After(limit, [self, limit] {
      self->timeout_timer_ = 0;
      self->Abort(ErrorType::kTimeout, "no result from ComfyUI after " + FormatDuration(limit));
    });
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
  auto self = shared_from_this();
  waiter_ = pool_->Acquire(pinned_, [self](const std::string& server, const std::string& error) {
    self->waiter_ = 0;
    if (self->finished_) {
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

void ComfyuiJob::Send(HttpRequest request, std::function<void(const HttpResponse&)> then) {
  auto self = shared_from_this();
  request_ = loop_->Send(std::move(request), [self, then = std::move(then)](HttpResponse r) {
    self->request_ = 0;
    if (self->finished_) return;
    then(r);
  });
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
  ctx_->RecordSubmission(SubmissionRecord(true));
}

void ComfyuiJob::SubmitPrompt() {
  // Proposing our own prompt_id (a UUID, which every server version accepts) lets a cancel
  // that races the reply still name the prompt; the id the server answers is authoritative.
  prompt_id_ = NewUuid4();
  // Journaled (durably) before the POST, marked not yet accepted: a crash after the server
  // took the prompt but before its reply was journaled would otherwise leave a prompt that
  // resume cannot see and submits again. Resume looks this id up on the server instead
  // (ComfyUI is the one provider where the client names the job).
  ctx_->RecordSubmission(SubmissionRecord(false));
  if (finished_) return;
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
    if (r.transport_error == ErrorType::kUnavailable) {
      UnwatchPrompt();  // the next server gets a new prompt_id
      OnServerUnreachable(r.error);
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
    accepted_ = true;
    polling_ = true;
    ctx_->RecordSubmission(SubmissionRecord(true));
    if (finished_) return;  // RecordSubmission cannot finish us, but stay defensive
    // Normally open since the pool started; reopens one that dropped with nobody watching,
    // or opens one for a server that was not configured (a `server` input).
    if (events_) events_->Connect(server_);
    if (!live_progress_) ShowProgress("queued on " + Host());
    SchedulePoll(NextPollDelay());
  });
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

void ComfyuiJob::SchedulePoll(double delay) {
  if (poll_again_) {
    poll_again_ = false;
    delay = 0;
  }
  poll_due_ = NowSeconds() + delay;
  auto self = shared_from_this();
  uint64_t seq = ++poll_seq_;
  poll_timer_ = loop_->After(delay, [self, seq] {
    // A timer that was cancelled while already due may still run: only the latest counts.
    if (seq != self->poll_seq_ || !self->poll_timer_) return;
    self->poll_timer_ = 0;
    if (!self->finished_) self->Poll();
  });
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
  if (!polling_ || finished_) return;  // still submitting: acceptance schedules the poll
  if (request_) {
    poll_again_ = true;  // the poll or queue check in flight re-polls at once when it ends
    return;
  }
  if (poll_timer_) loop_->CancelTimer(poll_timer_);
  poll_timer_ = 0;
  ++poll_seq_;
  Poll();
}

void ComfyuiJob::Poll() {
  HttpRequest req;
  req.url = server_ + "/history/" + PercentEncode(prompt_id_);
  req.timeout = pool_->options().request_timeout;
  Send(std::move(req), [this](const HttpResponse& r) {
    if (!r.ok()) {
      OnPollFailure(r.transport_error != ErrorType::kNone ? r.error : "GET /history answered HTTP " + std::to_string(r.status));
      return;
    }
    std::string err;
    auto h = ParseHistoryReply(r.body, prompt_id_, &err);
    if (!h) {
      OnPollFailure(err);
      return;
    }
    poll_failures_ = 0;
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
      OnPollFailure(r.transport_error != ErrorType::kNone ? r.error : "GET /queue answered HTTP " + std::to_string(r.status));
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
        if (unconfirmed_) {
          // Journaled before its POST, and the server never got it: the run stopped in
          // between. Submit it now, on this server; a new id, journaled the same way.
          unconfirmed_ = false;
          reattach_ = false;
          accepted_ = false;
          polling_ = false;
          absent_count_ = 0;
          UnwatchPrompt();
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
  if (++poll_failures_ < kMaxPollFailures) {
    SchedulePoll(pool_->options().poll_interval);
    return;
  }
  pool_->MarkDown(server_, reason);
  // The prompt may still be alive on the server: keep the submission so a retry re-attaches.
  Fail(ErrorType::kUnavailable, "lost contact with ComfyUI server " + server_ + ": " + reason, false,
       Json{{"server", server_}, {"promptId", prompt_id_}});
}

void ComfyuiJob::DownloadNext(size_t index) {
  if (index == files_.size()) {
    FinishSuccess();
    return;
  }
  if (index == 0) {
    std::string err;
    if (!MakeDirs(ctx_->node_dir, &err)) {
      Fail(ErrorType::kInternal, "creating " + ctx_->node_dir + ": " + err, false);
      return;
    }
  }
  const ComfyOutputFile& f = files_[index];
  std::string path = (std::filesystem::path(ctx_->node_dir) / LocalOutputName(f, &used_names_)).string();
  ShowProgress("downloading " + std::to_string(index + 1) + "/" + std::to_string(files_.size()));
  HttpRequest req;
  req.url = ComfyViewUrl(server_, f);
  req.download_path = path + ".part";
  req.timeout = pool_->options().download_timeout;
  Send(std::move(req), [this, index, path](const HttpResponse& r) {
    const ComfyOutputFile& file = files_[index];
    std::error_code ec;
    if (!r.ok()) {
      std::filesystem::remove(path + ".part", ec);
      std::string what = "downloading " + file.filename + " (node " + file.node + ")";
      if (r.transport_error == ErrorType::kNone && r.status == 404) {
        Fail(ErrorType::kOutputInvalid, what + ": the server has no such file (HTTP 404)", true);
      } else {
        // Transient: the prompt's history survives, so a retry re-attaches and downloads again.
        Fail(ErrorType::kUnavailable,
             what + ": " + (r.transport_error != ErrorType::kNone ? r.error : "HTTP " + std::to_string(r.status)),
             false);
      }
      return;
    }
    std::filesystem::rename(path + ".part", path, ec);
    if (ec) {
      Fail(ErrorType::kInternal, "renaming " + path + ".part: " + ec.message(), false);
      return;
    }
    uintmax_t size = std::filesystem::file_size(path, ec);
    if (ec) size = 0;
    const char* limit_name = file.kind == "image" ? "minImageBytes" : file.kind == "video" ? "minVideoBytes" : nullptr;
    if (limit_name) {
      const Json& lim = ctx_->inputs.contains(limit_name) ? ctx_->inputs[limit_name] : Json();
      double min = lim.is_number() ? lim.get<double>() : (file.kind == "image" ? 1024 : 10240);
      if (static_cast<double>(size) < min) {
        Fail(ErrorType::kOutputInvalid,
             file.kind + " " + file.filename + " from ComfyUI node " + file.node + " is " + std::to_string(size) +
                 " bytes, below " + limit_name + " " + std::to_string(static_cast<long long>(min)),
             true, Json{{"path", path}, {"bytes", size}});
        return;
      }
    }
    local_paths_.push_back(path);
    DownloadNext(index + 1);
  });
}

void ComfyuiJob::FinishSuccess() {
  Json images = Json::array(), videos = Json::array(), audio = Json::array(), files = Json::array();
  for (size_t i = 0; i < files_.size(); ++i) {
    const ComfyOutputFile& f = files_[i];
    const std::string& path = local_paths_[i];
    if (f.kind == "image") images.push_back(path);
    if (f.kind == "video") videos.push_back(path);
    if (f.kind == "audio") audio.push_back(path);
    files.push_back(Json{{"node", f.node}, {"kind", f.kind}, {"path", path}, {"filename", f.filename}});
  }
  Json out = Json::object();
  out["images"] = images;
  out["videos"] = videos;
  out["audio"] = audio;
  out["files"] = files;
  if (!images.empty()) out["imagePath"] = images[0];
  if (!videos.empty()) out["videoPath"] = videos[0];
  out["promptId"] = prompt_id_;
  out["server"] = server_;
  NodeResult result = NodeResult::Success(std::move(out));
  result.provider = "comfyui";
  Finish(std::move(result));
}

void ComfyuiJob::SendInterrupt() {
  if (server_.empty() || prompt_id_.empty()) return;
  // Fire and forget: the interrupt lands only when the running ComfyUI node finishes (it took
  // 50 s on a real server), and the attempt must not wait for that.
  HttpRequest interrupt;
  interrupt.method = "POST";
  interrupt.url = server_ + "/interrupt";
  interrupt.headers = {{"Content-Type", "application/json"}};
  interrupt.body = JsonDump(Json{{"prompt_id", prompt_id_}});
  interrupt.timeout = kCancelRequestTimeout;
  interrupt.max_redirects = 0;
  HttpRequest dequeue = interrupt;
  dequeue.url = server_ + "/queue";
  dequeue.body = JsonDump(Json{{"delete", Json::array({prompt_id_})}});
  loop_->Send(std::move(interrupt), [](HttpResponse) {});
  loop_->Send(std::move(dequeue), [](HttpResponse) {});
}

void ComfyuiJob::Abort(ErrorType type, const std::string& message) {
  if (finished_) return;
  if (accepted_ || submitting_) SendInterrupt();
  Json details = Json::object();
  if (!prompt_id_.empty() && (accepted_ || submitting_)) {
    details = Json{{"server", server_}, {"promptId", prompt_id_}, {"interrupted", true}};
  }
  Fail(type, message, true, details);
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

void ComfyuiJob::WatchPrompt() {
  if (!events_ || watch_) return;
  ws_covers_ = client_id_ == events_->client_id();
  std::weak_ptr<ComfyuiJob> weak = weak_from_this();
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
  if (finished_ || !(submitting_ || polling_)) return;
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
  if (finished_ || !polling_ || up) return;
  // Events may be lost while the socket is down: fall back to the ordinary cadence now
  // rather than after a slow tick.
  double normal = pool_->options().poll_interval;
  if (poll_timer_ && poll_due_ > NowSeconds() + normal) {
    loop_->CancelTimer(poll_timer_);
    poll_timer_ = 0;
    SchedulePoll(normal);  // bumps poll_seq_: the cancelled timer can no longer poll
  }
}

std::string ComfyuiJob::NodeLabel(const std::string& node) const {
  if (node.empty()) return "running";
  const Json& g = prompt_graph_;
  if (g.is_object() && g.contains(node) && g[node].is_object() && g[node].contains("class_type") &&
      g[node]["class_type"].is_string())
    return g[node]["class_type"].get<std::string>() + " #" + node;
  return "node " + node;
}

void ComfyuiJob::ShowProgress(const std::string& text) {
  if (text == last_progress_) return;
  last_progress_ = text;
  ctx_->Progress(text);
}

void ComfyuiJob::Finish(NodeResult result) {
  if (finished_) return;
  finished_ = true;
  UnwatchPrompt();
  if (request_) loop_->Cancel(request_);
  request_ = 0;
  if (poll_timer_) loop_->CancelTimer(poll_timer_);
  poll_timer_ = 0;
  if (timeout_timer_) loop_->CancelTimer(timeout_timer_);
  timeout_timer_ = 0;
  if (waiter_) pool_->CancelAcquire(waiter_);
  waiter_ = 0;
  ReleaseSlot();
  if (on_finish_) on_finish_();
  auto done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(result));
}

}  // namespace comfyrun
