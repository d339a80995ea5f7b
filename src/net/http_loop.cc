#include "comfyrun/net/http_loop.h"

// Implementation details.
//
// Threads: the caller threads only touch `Impl::mu_`-guarded state (the command queue and the
// stopping/closed flags) and the atomics in HttpLoop; everything else (the multi handle's
// transfers, the timer heap, the Transfer objects) belongs to the loop thread alone. A caller
// appends a Command under the mutex and calls curl_multi_wakeup (thread-safe since libcurl
// 7.68) so that curl_multi_poll returns at once.
//
// One easy handle per hop: redirects are followed here, not by libcurl, because libcurl would
// re-send custom headers (x-goog-api-key, Authorization set by hand) to whatever host the
// Location names. Each hop gets a fresh easy handle built from the request, with the secret
// headers left out whenever the hop's scheme/host/port differs from the original request's.
//
// DNS: libcurl's threaded resolver starts a short-lived thread per uncached host name lookup;
// numeric hosts (all tests) and cached names need none. No thread waits on a reply.
#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>

#include "comfyrun/core/config.h"
#include "curl_url.h"
#include "http_rules.h"

namespace comfyrun {
namespace {

using namespace http_rules;  // NOLINT(google-build-using-namespace): this module's own helpers

using Clock = std::chrono::steady_clock;

/// Longest single wait in curl_multi_poll; only bounds the damage of a missed wakeup.
constexpr int kMaxPollMs = 1000;
/// Cap on a reply body kept in memory when it was meant for a download file (an error page).
constexpr size_t kMaxErrorBody = 1 << 20;
/// Rounds of "cancel everything" at shutdown, in case callbacks keep sending.
constexpr int kShutdownRounds = 100;

std::once_flag g_curl_init_once;

}  // namespace

struct HttpLoop::Impl {
  struct Command {
    enum class Kind { kSend, kCancel, kAfter, kCancelTimer, kPost } kind;
    uint64_t id = 0;
    HttpRequest request;
    Callback done;
    std::function<void()> fn;
    Clock::time_point when;
  };

  /// One request, across its redirect hops. Owned by `transfers_` (loop thread only).
  struct Transfer {
    RequestId id = 0;
    HttpRequest request;
    Callback done;
    Clock::time_point started;
    Origin origin;          // the original request's
    std::string url;        // this hop's
    std::string method;     // this hop's (a 303 turns POST into GET)
    bool send_body = true;  // false after a method-changing redirect
    int redirects = 0;
    CURL* easy = nullptr;
    curl_slist* header_list = nullptr;
    curl_mime* mime = nullptr;
    FILE* file = nullptr;
    bool body_decided = false;  // whether this hop's body goes to the file, memory or nowhere
    bool discard_body = false;
    bool body_to_file = false;
    std::string write_error;
    HttpResponse response;
    char errbuf[CURL_ERROR_SIZE] = {0};
  };

  struct TimerEntry {
    Clock::time_point when;
    TimerId id;
    bool operator>(const TimerEntry& o) const { return when != o.when ? when > o.when : id > o.id; }
  };

  explicit Impl(HttpLoop* owner) : owner_(owner) {
    std::call_once(g_curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi_ = curl_multi_init();
    thread_ = std::thread([this] { Run(); });
  }

  // Stops and joins the loop thread. Separate from the destructor because callbacks run
  // during shutdown may call Send/After, which need impl_ to still be set.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    curl_multi_wakeup(multi_);
    if (std::this_thread::get_id() == thread_.get_id()) {
      std::fprintf(stderr, "HttpLoop destroyed from its own callback\n");
      std::abort();
    }
    thread_.join();
  }

  ~Impl() { curl_multi_cleanup(multi_); }

  // Any thread. Returns false (and leaves `c` alone) when the loop has shut down.
  bool Push(Command& c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return false;
      queue_.push_back(std::move(c));
    }
    curl_multi_wakeup(multi_);
    return true;
  }

  // ---- everything below runs on the loop thread ----

  void Run() {
    for (;;) {
      std::deque<Command> batch;
      bool stopping;
      {
        std::lock_guard<std::mutex> lock(mu_);
        batch.swap(queue_);
        stopping = stopping_;
      }
      if (stopping) {
        queue_back_ = std::move(batch);
        break;
      }
      for (Command& c : batch) Execute(c);
      RunDueTimers();
      int running = 0;
      curl_multi_perform(multi_, &running);
      ReapFinished();
      curl_multi_poll(multi_, nullptr, 0, WaitMs(), nullptr);
    }
    Shutdown();
  }

  int WaitMs() {
    long curl_ms = -1;
    curl_multi_timeout(multi_, &curl_ms);
    long wait = kMaxPollMs;
    if (curl_ms >= 0) wait = std::min(wait, curl_ms);
    if (!timers_.empty()) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timers_.top().when - Clock::now()).count();
      wait = std::min<long>(wait, std::max<long>(0, ms + 1));
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (!queue_.empty() || stopping_) wait = 0;
    return static_cast<int>(wait);
  }

  void Execute(Command& c) {
    switch (c.kind) {
      case Command::Kind::kSend:
        Start(c);
        break;
      case Command::Kind::kCancel:
        if (auto it = transfers_.find(c.id); it != transfers_.end())
          Finish(it->second.get(), ErrorType::kCancelled, "cancelled");
        break;
      case Command::Kind::kAfter:
        timer_fns_[c.id] = std::move(c.fn);
        timers_.push({c.when, c.id});
        break;
      case Command::Kind::kCancelTimer:
        timer_fns_.erase(c.id);
        break;
      case Command::Kind::kPost:
        Invoke(c.fn);
        break;
    }
  }

  template <typename F, typename... Args>
  static void Invoke(F& fn, Args&&... args) {
    // A throwing callback must not take the loop (and every other transfer) down with it.
    try {
      if (fn) fn(std::forward<Args>(args)...);
    } catch (const std::exception& e) {
      spdlog::error("http loop: callback threw: {}", Redactor::Redact(e.what()));
    } catch (...) {
      spdlog::error("http loop: callback threw");
    }
  }

  void RunDueTimers() {
    auto now = Clock::now();
    while (!timers_.empty() && timers_.top().when <= now) {
      TimerId id = timers_.top().id;
      timers_.pop();
      auto it = timer_fns_.find(id);
      if (it == timer_fns_.end()) continue;  // cancelled
      std::function<void()> fn = std::move(it->second);
      timer_fns_.erase(it);
      Invoke(fn);
    }
  }

  void Start(Command& c) {
    auto t = std::make_unique<Transfer>();
    t->id = c.id;
    t->request = std::move(c.request);
    t->done = std::move(c.done);
    t->started = c.when;
    t->url = t->request.url;
    t->method = t->request.method.empty() ? "GET" : t->request.method;
    Transfer* raw = t.get();
    transfers_[t->id] = std::move(t);
    if (!GetOrigin(raw->url, &raw->origin)) {
      Finish(raw, ErrorType::kInvalidInput, "malformed URL");
      return;
    }
    StartHop(raw);
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::string_view line(data, size * n);
    if (line.substr(0, 5) == "HTTP/") {
      t->response.headers.clear();  // a new response (after a 100 Continue, say)
    } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
      t->response.headers[Lower(TrimView(line.substr(0, colon)))] = TrimView(line.substr(colon + 1));
    }
    return size * n;
  }

  static size_t OnWrite(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    size_t len = size * n;
    if (!t->body_decided) {
      t->body_decided = true;
      long status = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      if (WillFollow(*t, status)) {
        t->discard_body = true;
      } else if (!t->request.download_path.empty() && status >= 200 && status < 300) {
        t->body_to_file = true;
        if (!OpenDownload(t)) return 0;  // libcurl turns this into CURLE_WRITE_ERROR
      }
    }
    if (t->discard_body) return len;
    t->response.bytes += len;
    if (t->body_to_file) {
      if (std::fwrite(data, 1, len, t->file) != len) {
        t->write_error = "writing " + t->request.download_path + ": " + std::strerror(errno);
        return 0;
      }
      return len;
    }
    if (!t->request.download_path.empty() && t->response.body.size() >= kMaxErrorBody) return len;
    t->response.body.append(data, len);
    return len;
  }

  static bool OpenDownload(Transfer* t) {
    t->file = std::fopen(t->request.download_path.c_str(), "wb");
    if (!t->file) {
      t->write_error = "creating " + t->request.download_path + ": " + std::strerror(errno);
      return false;
    }
    return true;
  }

  static bool WillFollow(const Transfer& t, long status) {
    return IsRedirect(status) && t.redirects < t.request.max_redirects && t.response.headers.count("location");
  }

  // Builds and adds the easy handle for t->url. Finishes the transfer on a setup failure.
  void StartHop(Transfer* t) {
    const HttpRequest& r = t->request;
    t->body_decided = t->discard_body = t->body_to_file = false;
    t->response.headers.clear();
    t->response.body.clear();
    t->response.bytes = 0;
    t->errbuf[0] = 0;

    Origin hop;
    bool same_origin = GetOrigin(t->url, &hop) && hop == t->origin;
    for (const MultipartPart& p : t->send_body ? r.multipart : std::vector<MultipartPart>{}) {
      if (p.file_path.empty()) continue;
      // libcurl only notices an unreadable file mid-transfer; say which part is wrong now.
      if (std::FILE* f = std::fopen(p.file_path.c_str(), "rb")) {
        std::fclose(f);
      } else {
        Finish(t, ErrorType::kInvalidInput,
               "reading " + p.file_path + " for part '" + p.name + "': " + std::strerror(errno));
        return;
      }
    }

    double elapsed = std::chrono::duration<double>(Clock::now() - t->started).count();
    long remaining_ms = std::max<long>(1, static_cast<long>((r.timeout - elapsed) * 1000));

    CURL* e = t->easy = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, t->url.c_str());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnWrite);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, remaining_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, std::max<long>(1, static_cast<long>(r.connect_timeout * 1000)));
    // libcurl averages the speed over ~5 s, so a stall after a burst of data is reported up
    // to ~5 s after stall_timeout; fine for the minute-scale stall timeouts used in practice.
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, std::max<long>(1, static_cast<long>(r.stall_timeout)));

    for (const auto& [name, value] : r.headers) {
      if (!same_origin && ContainsIgnoreCase(r.secret_headers, name)) continue;
      std::string line = name + ": " + value;
      t->header_list = curl_slist_append(t->header_list, line.c_str());
    }
    // No "Expect: 100-continue" round trip before large bodies.
    t->header_list = curl_slist_append(t->header_list, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->header_list);

    const std::string& m = t->method;
    if (t->send_body && !r.multipart.empty()) {
      t->mime = curl_mime_init(e);
      for (const MultipartPart& p : r.multipart) {
        curl_mimepart* part = curl_mime_addpart(t->mime);
        curl_mime_name(part, p.name.c_str());
        if (!p.file_path.empty()) {
          curl_mime_filedata(part, p.file_path.c_str());
          // filedata sets the basename as filename; the contract says "" = a plain field.
          curl_mime_filename(part, p.filename.empty() ? nullptr : p.filename.c_str());
        } else {
          curl_mime_data(part, p.data.data(), p.data.size());
          if (!p.filename.empty()) curl_mime_filename(part, p.filename.c_str());
        }
        if (!p.content_type.empty()) curl_mime_type(part, p.content_type.c_str());
      }
      curl_easy_setopt(e, CURLOPT_MIMEPOST, t->mime);
      if (m != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m.c_str());
    } else if (m == "GET") {
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (m == "HEAD") {
      curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
      bool with_body = t->send_body && (!r.body.empty() || m == "POST" || m == "PUT" || m == "PATCH");
      if (with_body) {
        // The body lives in t->request until the transfer ends, so no copy is needed.
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
      }
      if (m != "POST" || !with_body) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m.c_str());
    }
    curl_multi_add_handle(multi_, e);
  }

  // Frees the current hop's handle and buffers (the Transfer itself stays).
  void EndHop(Transfer* t) {
    if (t->easy) {
      curl_multi_remove_handle(multi_, t->easy);
      curl_easy_cleanup(t->easy);
      t->easy = nullptr;
    }
    curl_slist_free_all(t->header_list);
    t->header_list = nullptr;
    curl_mime_free(t->mime);
    t->mime = nullptr;
  }

  void ReapFinished() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      if (t) HopDone(t, msg->data.result);
    }
  }

  void HopDone(Transfer* t, CURLcode rc) {
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    t->response.status = static_cast<int>(status);
    if (rc == CURLE_OK && WillFollow(*t, status)) {
      std::string next = ResolveUrl(t->url, t->response.headers["location"]);
      if (next.empty()) {
        EndHop(t);
        Finish(t, ErrorType::kUnavailable, "redirect to a malformed Location");
        return;
      }
      Origin to;
      if (!GetOrigin(next, &to) || !(to == t->origin)) next = RemoveQueryParams(next, t->request.secret_query_params);
      // Browsers' (and libcurl's) rules: 303 always becomes GET; 301/302 turn a POST into GET.
      if (status == 303 ? t->method != "HEAD" : (status <= 302 && t->method == "POST")) {
        t->method = "GET";
        t->send_body = false;
      }
      EndHop(t);
      ++t->redirects;
      t->url = next;
      StartHop(t);
      return;
    }
    std::string message;
    ErrorType type = MapCurlError(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT && std::strstr(t->errbuf, "too slow")) {
      message = "stalled: no data for " + std::to_string(static_cast<long>(t->request.stall_timeout)) + "s";
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
      message = "timed out (" + std::string(t->errbuf) + ")";
    } else if (rc == CURLE_PARTIAL_FILE) {
      curl_off_t expected = -1;
      curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &expected);
      message = "connection closed before the whole body arrived (got " + std::to_string(t->response.bytes) + " of " +
                std::to_string(expected) + " bytes)";
    } else if (rc == CURLE_WRITE_ERROR && !t->write_error.empty()) {
      message = t->write_error;
    } else if (rc != CURLE_OK) {
      message = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);
    } else if (IsRedirect(status) && t->request.max_redirects > 0 && t->redirects >= t->request.max_redirects) {
      message = "too many redirects (more than " + std::to_string(t->request.max_redirects) + ")";
    }
    if (rc == CURLE_OK && t->body_to_file == false && !t->request.download_path.empty() && status >= 200 &&
        status < 300) {
      // An empty 2xx body never reached OnWrite: the download is an empty file.
      t->body_to_file = true;
      if (!OpenDownload(t)) {
        type = ErrorType::kInternal;
        message = t->write_error;
      }
    }
    EndHop(t);
    Finish(t, type, message);
  }

  // Ends a transfer: closes or removes the download, fills the response, runs the callback.
  void Finish(Transfer* t, ErrorType type, const std::string& message) {
    EndHop(t);
    HttpResponse& resp = t->response;
    resp.transport_error = type;
    if (t->file) {
      if (std::fclose(t->file) != 0 && type == ErrorType::kNone) {
        resp.transport_error = type = ErrorType::kInternal;
        resp.error = "writing " + t->request.download_path + ": " + std::strerror(errno);
      }
      t->file = nullptr;
    }
    if (t->body_to_file && type != ErrorType::kNone) std::remove(t->request.download_path.c_str());
    resp.effective_url = Redactor::Redact(RemoveQueryParams(t->url, t->request.secret_query_params));
    if (!message.empty()) resp.error = Redactor::Redact(t->method + " " + resp.effective_url + ": " + message);
    if (auto it = resp.headers.find("retry-after"); it != resp.headers.end())
      resp.retry_after = ParseRetryAfter(it->second, static_cast<int64_t>(std::time(nullptr)));

    std::unique_ptr<Transfer> owned = std::move(transfers_[t->id]);
    transfers_.erase(t->id);
    Callback done = std::move(owned->done);
    HttpResponse out = std::move(owned->response);
    owned.reset();
    --owner_->in_flight_;
    Invoke(done, std::move(out));
  }

  void Shutdown() {
    std::deque<Command> pending = std::move(queue_back_);
    for (int round = 0; round < kShutdownRounds; ++round) {
      // Sends queued before or during shutdown never start: their callbacks get kCancelled.
      for (Command& c : pending) {
        if (c.kind != Command::Kind::kSend) continue;
        HttpResponse r;
        r.transport_error = ErrorType::kCancelled;
        r.error = "cancelled: shutting down";
        --owner_->in_flight_;
        Invoke(c.done, std::move(r));
      }
      pending.clear();
      while (!transfers_.empty())
        Finish(transfers_.begin()->second.get(), ErrorType::kCancelled, "cancelled: shutting down");
      std::lock_guard<std::mutex> lock(mu_);
      pending.swap(queue_);
      if (pending.empty() || round + 1 == kShutdownRounds) {
        closed_ = true;
        break;
      }
    }
    // Commands still pending after the last round (callbacks that keep re-sending) are
    // dropped; their in-flight counts are released so in_flight() reads 0.
    for (Command& c : pending)
      if (c.kind == Command::Kind::kSend) --owner_->in_flight_;
    timer_fns_.clear();
  }

  HttpLoop* owner_;
  CURLM* multi_ = nullptr;  // loop thread, except curl_multi_wakeup (any thread)
  std::thread thread_;

  std::mutex mu_;
  std::deque<Command> queue_;  // guarded by mu_
  bool stopping_ = false;      // guarded by mu_; set by the destructor
  bool closed_ = false;        // guarded by mu_; set when the loop accepts no more commands

  // Loop thread only.
  std::deque<Command> queue_back_;
  std::unordered_map<RequestId, std::unique_ptr<Transfer>> transfers_;
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<TimerEntry>> timers_;
  std::unordered_map<TimerId, std::function<void()>> timer_fns_;
  std::atomic<uint64_t> next_id_{1};  // any thread
};

HttpLoop::HttpLoop() : impl_(std::make_unique<Impl>(this)) {}

HttpLoop::~HttpLoop() {
  impl_->Stop();
  impl_.reset();
}

HttpLoop::RequestId HttpLoop::Send(HttpRequest request, Callback done) {
  Impl::Command c;
  c.kind = Impl::Command::Kind::kSend;
  c.id = impl_->next_id_++;
  c.request = std::move(request);
  c.done = std::move(done);
  c.when = Clock::now();
  RequestId id = c.id;
  size_t now = ++in_flight_;
  size_t peak = peak_in_flight_.load();
  while (now > peak && !peak_in_flight_.compare_exchange_weak(peak, now)) {
  }
  if (!impl_->Push(c)) {
    --in_flight_;
    HttpResponse r;
    r.transport_error = ErrorType::kCancelled;
    r.error = "cancelled: the HTTP loop has shut down";
    Impl::Invoke(c.done, std::move(r));
  }
  return id;
}

void HttpLoop::Cancel(RequestId id) {
  Impl::Command c;
  c.kind = Impl::Command::Kind::kCancel;
  c.id = id;
  impl_->Push(c);
}

HttpLoop::TimerId HttpLoop::After(double seconds, std::function<void()> fn) {
  Impl::Command c;
  c.kind = Impl::Command::Kind::kAfter;
  c.id = impl_->next_id_++;
  c.fn = std::move(fn);
  c.when =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::max(0.0, seconds)));
  TimerId id = c.id;
  impl_->Push(c);
  return id;
}

void HttpLoop::CancelTimer(TimerId id) {
  Impl::Command c;
  c.kind = Impl::Command::Kind::kCancelTimer;
  c.id = id;
  impl_->Push(c);
}

void HttpLoop::Post(std::function<void()> fn) {
  Impl::Command c;
  c.kind = Impl::Command::Kind::kPost;
  c.fn = std::move(fn);
  impl_->Push(c);
}

}  // namespace comfyrun
