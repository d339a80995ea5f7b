// Implementation details: each step sends at most one request at a time (request_) or arms
// the poll timer; the attempt timeout is a separate timer. Finish() is the single exit: it
// cancels whatever is pending, gives the slot back and calls done_ exactly once.
#include "comfyui_job.h"

#include <filesystem>
#include <system_error>

#include "comfyrun/util.h"

namespace comfyrun {
namespace {

/// Consecutive failed polls (transport errors, 5xx) before the attempt gives up on a server.
constexpr int kMaxPollFailures = 5;
/// Seconds allowed for the fire-and-forget /interrupt and /queue delete.
constexpr double kCancelRequestTimeout = 10;

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
    accepted_ = true;
    prompt_id_ = sub["promptId"].get<std::string>();
    client_id_ = sub.value("clientId", "");
    pinned_ = sub["server"].get<std::string>();
  } else {
    const Json& server = ctx_->inputs.contains("server") ? ctx_->inputs["server"] : Json();
    if (server.is_string()) pinned_ = ComfyuiPool::NormalizeUrl(server.get<std::string>());
    uploads_ = FindComfyUploads(graph_);
    client_id_ = "comfyrun-" + RandomHex(16);
  }
  AcquireSlot();
}

void ComfyuiJob::AcquireSlot() {
  ctx_->Progress(pinned_.empty() ? "waiting for a ComfyUI server" : "waiting for " + pinned_);
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
    // submits again rather than waiting forever on a dead host.
    Fail(ErrorType::kUnavailable, error, /*submission_finished=*/true);
    return;
  }
  server_ = server;
  holding_slot_ = true;
  if (reattach_) {
    ctx_->Progress("re-attaching to " + prompt_id_ + " on " + Host());
    Poll();
    return;
  }
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
  ctx_->Progress("uploading " + std::filesystem::path(up.local_path).filename().string() + " to " + Host());
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

void ComfyuiJob::SubmitPrompt() {
  // Proposing our own prompt_id (a UUID, which every server version accepts) lets a cancel
  // that races the reply still name the prompt; the id the server answers is authoritative.
  prompt_id_ = NewUuid4();
  submitting_ = true;
  ctx_->Progress("submitting to " + Host());
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
    prompt_id_ = reply.prompt_id;
    accepted_ = true;
    ctx_->RecordSubmission(
        Json{{"provider", "comfyui"}, {"server", server_}, {"promptId", prompt_id_}, {"clientId", client_id_}});
    if (finished_) return;  // RecordSubmission cannot finish us, but stay defensive
    ctx_->Progress("queued on " + Host());
    SchedulePoll(pool_->options().poll_interval);
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
  ctx_->Progress(Host() + " is down, trying another server");
  server_.clear();
  AcquireSlot();
}

void ComfyuiJob::SchedulePoll(double delay) {
  auto self = shared_from_this();
  poll_timer_ = loop_->After(delay, [self] {
    self->poll_timer_ = 0;
    if (!self->finished_) self->Poll();
  });
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
    switch (h->state) {
      case ComfyHistory::State::kAbsent:
        CheckQueue();
        return;
      case ComfyHistory::State::kFailed: {
        accepted_ = false;  // terminal on the server: nothing left to interrupt
        Json details = h->details;
        details["server"] = server_;
        details["promptId"] = prompt_id_;
        Fail(h->error, h->message, true, details);
        return;
      }
      case ComfyHistory::State::kSuccess:
        accepted_ = false;
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
    switch (pos->state) {
      case ComfyQueuePosition::State::kRunning:
        absent_count_ = 0;
        text = "running on " + Host();
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
        accepted_ = false;
        Fail(ErrorType::kUnavailable,
             "prompt " + prompt_id_ + " is no longer known to " + server_ +
                 " (server restarted?); the next attempt submits it again",
             /*submission_finished=*/true, Json{{"server", server_}, {"promptId", prompt_id_}});
        return;
    }
    if (text != last_progress_) {
      last_progress_ = text;
      ctx_->Progress(text);
    }
    SchedulePoll(pool_->options().poll_interval);
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
  ctx_->Progress("downloading " + std::to_string(index + 1) + "/" + std::to_string(files_.size()));
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

void ComfyuiJob::Finish(NodeResult result) {
  if (finished_) return;
  finished_ = true;
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
