#include "comfyrun/net/websocket.h"

#include "curl_url.h"

// Implementation details.
//
// Threads: callers only touch `Impl::mu_`-guarded state (the command queue, the stopping
// flag) and the eventfd that wakes the loop; the connections and their libcurl handles belong
// to the loop thread alone.
//
// Connecting: each connection gets its own curl multi handle with CURLOPT_CONNECT_ONLY, driven
// through the multi-socket API (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION) from the same poll(),
// so DNS, TCP, TLS and proxy setup never block the thread. The easy handle must stay in its
// multi handle after the connect: curl_easy_send/recv find the connection through it. A multi
// of its own keeps libcurl from closing our socket as an "idle" cached connection (its
// connection-cache pruning runs when another transfer is added to the same multi handle).
//
// After the connect the socket is ours to watch: poll() for POLLIN always, POLLOUT while bytes
// wait. Reads go on until CURLE_AGAIN, since TLS may hold decrypted bytes the socket no
// longer signals.
#include <curl/curl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace comfyrun {
namespace {

/// Longest poll() wait; bounds the cost of a missed wakeup.
constexpr int kMaxPollMs = 1000;
/// How long a close we started waits for the server's close frame before dropping the socket.
constexpr double kCloseGrace = 1.0;
/// Largest handshake reply accepted (headers only).
constexpr size_t kMaxHandshakeReply = size_t{64} * 1024;

using Clock = std::chrono::steady_clock;

double Now() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

// ---- WebSocketLoop ----------------------------------------------------------------------

struct WebSocketLoop::Impl {
  struct Command {
    enum class Kind { kOpen, kSend, kClose } kind;
    ConnId id = 0;
    std::string url;
    WebSocketOptions options;
    Handlers handlers;
    WsOpcode opcode = WsOpcode::kText;
    std::string payload;
    uint16_t code = 0;
  };

  struct Conn {
    enum class State { kConnecting, kHandshake, kOpen, kClosing };
    ConnId id = 0;
    WebSocketOptions options;
    Handlers handlers;
    State state = State::kConnecting;
    std::string connect_url;  // http(s):// form for libcurl
    std::string request;      // the Upgrade request
    std::string key;
    CURLM* multi = nullptr;
    CURL* easy = nullptr;
    std::map<curl_socket_t, int> curl_sockets;  // what libcurl wants watched while connecting
    double curl_timer_at = -1;                  // steady seconds; -1 = none
    curl_socket_t sock = CURL_SOCKET_BAD;
    std::string in;  // handshake reply so far
    std::unique_ptr<WsDecoder> decoder;
    std::string out;      // bytes waiting to be written
    double deadline = 0;  // connect/handshake timeout, or the end of the close grace period
    double last_rx = 0;
    double last_ping = 0;
    bool close_sent = false;
    WsCloseInfo info;
    bool done = false;  // on_close has run (or must not); removed at the end of the round
    char errbuf[CURL_ERROR_SIZE] = {0};
  };

  Impl() {
    static std::once_flag curl_init;
    std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    thread_ = std::thread([this] { Run(); });
  }

  ~Impl() { Stop(); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
      Wake();
    }
    if (thread_.joinable()) thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    close(wake_fd_);
    wake_fd_ = -1;
  }

  // Under mu_, so that Stop cannot close the eventfd (and the number be reused) meanwhile.
  void Wake() {
    uint64_t one = 1;
    if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
  }

  // Any thread. False when stopped.
  bool Push(Command c) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return false;
    queue_.push_back(std::move(c));
    Wake();
    return true;
  }

  // ---- loop thread ----

  void Run() {
    for (;;) {
      std::deque<Command> batch;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopped_) break;
        batch.swap(queue_);
      }
      for (Command& c : batch) Execute(c);
      Service(/*ready=*/nullptr);
      Reap();

      std::vector<pollfd> fds;
      std::vector<Conn*> owners;  // owners[i] for fds[i + 1]
      fds.push_back({wake_fd_, POLLIN, 0});
      double now = Now();
      double next = now + kMaxPollMs / 1000.0;
      for (auto& [id, c] : conns_) {
        if (c->state == Conn::State::kConnecting) {
          for (auto [s, what] : c->curl_sockets) {
            short ev = 0;
            if (what & CURL_POLL_IN) ev |= POLLIN;
            if (what & CURL_POLL_OUT) ev |= POLLOUT;
            fds.push_back({s, ev, 0});
            owners.push_back(c.get());
          }
          if (c->curl_timer_at >= 0) next = std::min(next, c->curl_timer_at);
        } else {
          fds.push_back({c->sock, static_cast<short>(POLLIN | (c->out.empty() ? 0 : POLLOUT)), 0});
          owners.push_back(c.get());
        }
        next = std::min(next, NextDeadline(*c));
      }
      int wait_ms = std::max(0, static_cast<int>((next - now) * 1000) + 1);
      poll(fds.data(), fds.size(), std::min(wait_ms, kMaxPollMs));
      if (fds[0].revents & POLLIN) {
        uint64_t drained;
        (void)!read(wake_fd_, &drained, sizeof drained);
      }
      std::map<Conn*, std::vector<pollfd>> ready;
      for (size_t i = 1; i < fds.size(); ++i)
        if (fds[i].revents) ready[owners[i - 1]].push_back(fds[i]);
      Service(&ready);
      Reap();
    }
    // Stopped: drop everything without running handlers (the owner is going away).
    for (auto& [id, c] : conns_) Release(*c);
    conns_.clear();
    open_count_ = 0;
  }

  double NextDeadline(const Conn& c) const {
    double next = c.deadline > 0 ? c.deadline : 1e300;
    if (c.state == Conn::State::kOpen) {
      if (c.options.ping_interval > 0)
        next = std::min(next, std::max(c.last_rx, c.last_ping) + c.options.ping_interval);
      if (c.options.idle_timeout > 0) next = std::min(next, c.last_rx + c.options.idle_timeout);
    }
    return next;
  }

  void Execute(Command& c) {
    switch (c.kind) {
      case Command::Kind::kOpen:
        StartConnect(c);
        return;
      case Command::Kind::kSend: {
        auto it = conns_.find(c.id);
        if (it == conns_.end() || it->second->state != Conn::State::kOpen) return;
        it->second->out += EncodeWsFrame(c.opcode, c.payload);
        return;
      }
      case Command::Kind::kClose: {
        auto it = conns_.find(c.id);
        if (it == conns_.end() || it->second->done) return;
        Conn& conn = *it->second;
        conn.info.code = c.code;
        conn.info.reason = c.payload;
        if (conn.state == Conn::State::kOpen) {
          BeginClose(conn, c.code, c.payload);
        } else if (conn.state != Conn::State::kClosing) {
          Finish(conn);  // not open yet: nothing to say to the server
        }
        return;
      }
    }
  }

  static int OnCurlSocket(CURL*, curl_socket_t s, int what, void* user, void*) {
    auto* c = static_cast<Conn*>(user);
    if (what == CURL_POLL_REMOVE) {
      c->curl_sockets.erase(s);
    } else {
      c->curl_sockets[s] = what;
    }
    return 0;
  }

  static int OnCurlTimer(CURLM*, long ms, void* user) {
    auto* c = static_cast<Conn*>(user);
    c->curl_timer_at = ms < 0 ? -1 : Now() + ms / 1000.0;
    return 0;
  }

  void StartConnect(Command& cmd) {
    auto owned = std::make_unique<Conn>();
    Conn& c = *owned;
    c.id = cmd.id;
    c.options = std::move(cmd.options);
    c.handlers = std::move(cmd.handlers);
    c.deadline = Now() + c.options.connect_timeout;
    c.decoder = std::make_unique<WsDecoder>(WsDecoder::Role::kClient, c.options.max_message);
    conns_[c.id] = std::move(owned);
    ++open_count_;

    CurlUrl url;
    if (curl_url_set(url.u, CURLUPART_URL, cmd.url.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
      Fail(c, "malformed WebSocket URL");
      return;
    }
    std::string scheme = Lower(url.Get(CURLUPART_SCHEME));
    if (scheme == "ws") scheme = "http";
    if (scheme == "wss") scheme = "https";
    if (scheme != "http" && scheme != "https") {
      Fail(c, "not a ws:// or wss:// URL");
      return;
    }
    std::string host = url.Get(CURLUPART_HOST);
    std::string port = url.Get(CURLUPART_PORT);  // "" when the URL gives none
    std::string path = url.Get(CURLUPART_PATH);
    std::string query = url.Get(CURLUPART_QUERY);
    if (path.empty()) path = "/";
    std::string target = path + (query.empty() ? "" : "?" + query);
    std::string authority = host + (port.empty() ? "" : ":" + port);
    c.connect_url = scheme + "://" + authority + target;
    c.key = NewWsKey();
    c.request = "GET " + target + " HTTP/1.1\r\nHost: " + authority +
                "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + c.key +
                "\r\nSec-WebSocket-Version: 13\r\nUser-Agent: comfyrun\r\n";
    for (const auto& [name, value] : c.options.headers) c.request += name + ": " + value + "\r\n";
    c.request += "\r\n";

    c.multi = curl_multi_init();
    curl_multi_setopt(c.multi, CURLMOPT_SOCKETFUNCTION, &OnCurlSocket);
    curl_multi_setopt(c.multi, CURLMOPT_SOCKETDATA, &c);
    curl_multi_setopt(c.multi, CURLMOPT_TIMERFUNCTION, &OnCurlTimer);
    curl_multi_setopt(c.multi, CURLMOPT_TIMERDATA, &c);
    c.easy = curl_easy_init();
    curl_easy_setopt(c.easy, CURLOPT_URL, c.connect_url.c_str());
    curl_easy_setopt(c.easy, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(c.easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.easy, CURLOPT_ERRORBUFFER, c.errbuf);
    curl_easy_setopt(c.easy, CURLOPT_PROTOCOLS_STR, "http,https");
    // Through an HTTP proxy the Upgrade must travel in a CONNECT tunnel, not be forwarded.
    curl_easy_setopt(c.easy, CURLOPT_HTTPPROXYTUNNEL, 1L);
    curl_easy_setopt(c.easy, CURLOPT_CONNECTTIMEOUT_MS,
                     std::max<long>(1, static_cast<long>(c.options.connect_timeout * 1000)));
    curl_multi_add_handle(c.multi, c.easy);
    int running = 0;
    curl_multi_socket_action(c.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    CheckConnected(c);
  }

  // After libcurl progressed: has the connect finished?
  void CheckConnected(Conn& c) {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(c.multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      if (msg->data.result != CURLE_OK) {
        Fail(c, c.errbuf[0] ? c.errbuf : curl_easy_strerror(msg->data.result));
        return;
      }
      curl_socket_t s = CURL_SOCKET_BAD;
      curl_easy_getinfo(c.easy, CURLINFO_ACTIVESOCKET, &s);
      if (s == CURL_SOCKET_BAD) {
        Fail(c, "libcurl reported no socket after connecting");
        return;
      }
      c.sock = s;
      c.state = Conn::State::kHandshake;
      c.out = c.request;
      Write(c);
    }
  }

  // Services every connection: libcurl progress, reads, writes, timers. `ready` holds the
  // poll results per connection (null: only timers and queued writes).
  void Service(std::map<Conn*, std::vector<pollfd>>* ready) {
    double now = Now();
    for (auto& [id, owned] : conns_) {
      Conn& c = *owned;
      if (c.done) continue;
      std::vector<pollfd> none;
      const std::vector<pollfd>& events = ready && ready->count(&c) ? (*ready)[&c] : none;
      if (c.state == Conn::State::kConnecting) {
        int running = 0;
        for (const pollfd& p : events) {
          int ev = 0;
          if (p.revents & POLLIN) ev |= CURL_CSELECT_IN;
          if (p.revents & POLLOUT) ev |= CURL_CSELECT_OUT;
          if (p.revents & (POLLERR | POLLHUP)) ev |= CURL_CSELECT_ERR;
          curl_multi_socket_action(c.multi, p.fd, ev, &running);
        }
        if (c.curl_timer_at >= 0 && now >= c.curl_timer_at) {
          c.curl_timer_at = -1;
          curl_multi_socket_action(c.multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        if (!c.done) CheckConnected(c);
      } else {
        bool readable = false;
        for (const pollfd& p : events) readable |= (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
        if (readable) Read(c);
        if (!c.done && !c.out.empty()) Write(c);
      }
      if (c.done) continue;
      now = Now();
      if (c.state == Conn::State::kOpen) {
        if (c.options.idle_timeout > 0 && now - c.last_rx >= c.options.idle_timeout) {
          c.info.code = kWsAbnormalClosure;
          Fail(c, "no data from the server for " + std::to_string(static_cast<long>(c.options.idle_timeout)) + "s");
          continue;
        }
        if (c.options.ping_interval > 0 && now - std::max(c.last_rx, c.last_ping) >= c.options.ping_interval) {
          c.last_ping = now;
          c.out += EncodeWsFrame(WsOpcode::kPing, "");
          Write(c);
        }
      } else if (c.deadline > 0 && now >= c.deadline) {
        if (c.state == Conn::State::kClosing) {
          Finish(c);
        } else {
          Fail(c, c.state == Conn::State::kConnecting ? "connect timed out" : "no handshake reply in time");
        }
      }
    }
  }

  void Read(Conn& c) {
    char buf[65536];
    for (;;) {
      size_t n = 0;
      CURLcode rc = curl_easy_recv(c.easy, buf, sizeof buf, &n);
      if (rc == CURLE_AGAIN) return;
      if (rc != CURLE_OK) {
        Fail(c, std::string("receive failed: ") + curl_easy_strerror(rc));
        return;
      }
      if (n == 0) {
        if (c.state == Conn::State::kClosing) {
          Finish(c);
        } else {
          Fail(c, c.state == Conn::State::kHandshake ? "connection closed during the handshake"
                                                     : "connection closed without a close frame");
        }
        return;
      }
      c.last_rx = Now();
      if (!Consume(c, std::string_view(buf, n)) || c.done) return;
    }
  }

  // Handles received bytes; false when the connection ended.
  bool Consume(Conn& c, std::string_view bytes) {
    if (c.state == Conn::State::kHandshake) {
      c.in.append(bytes);
      size_t end = c.in.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (c.in.size() > kMaxHandshakeReply) return Fail(c, "handshake reply too long");
        return true;
      }
      std::string rest = c.in.substr(end + 4);
      if (!CheckHandshake(c, c.in.substr(0, end))) return false;
      c.state = Conn::State::kOpen;
      c.deadline = 0;
      c.info.opened = true;
      c.last_rx = c.last_ping = Now();
      if (c.handlers.on_open) Invoke(c.handlers.on_open);
      if (c.done) return false;
      return rest.empty() || Consume(c, rest);
    }
    if (!c.decoder->Feed(bytes)) {
      // Say why, then drop: the stream can no longer be trusted.
      c.out += EncodeWsFrame(WsOpcode::kClose, WsClosePayload(c.decoder->error_code(), c.decoder->error()));
      Write(c);
      c.info.code = c.decoder->error_code();
      c.info.reason = c.decoder->error();
      Finish(c);
      return false;
    }
    while (auto m = c.decoder->Next()) {
      switch (m->opcode) {
        case WsOpcode::kPing:
          if (!c.close_sent) c.out += EncodeWsFrame(WsOpcode::kPong, m->payload);
          break;
        case WsOpcode::kPong:
          break;
        case WsOpcode::kClose:
          if (!c.close_sent) {
            // Echo the code (RFC 6455 §5.5.1), then the server closes the TCP connection.
            uint16_t echo = m->close_code == kWsNoStatus ? kWsNormalClosure : m->close_code;
            c.out += EncodeWsFrame(WsOpcode::kClose, WsClosePayload(echo, ""));
            Write(c);
            c.info.code = m->close_code;
            c.info.reason = m->close_reason.empty() ? "closed by the server" : m->close_reason;
          }
          Finish(c);
          return false;
        default:
          if (c.state == Conn::State::kOpen && c.handlers.on_message) {
            auto fn = c.handlers.on_message;
            Invoke([&] { fn(std::move(*m)); });
            if (c.done) return false;
          }
      }
    }
    if (!c.out.empty()) Write(c);
    return !c.done;
  }

  bool CheckHandshake(Conn& c, const std::string& head) {
    std::string error = CheckWsHandshakeReply(head, c.key, &c.info.http_status);
    return error.empty() || Fail(c, error);
  }

  void Write(Conn& c) {
    while (!c.out.empty() && !c.done) {
      size_t n = 0;
      CURLcode rc = curl_easy_send(c.easy, c.out.data(), c.out.size(), &n);
      if (rc == CURLE_AGAIN) return;
      if (rc != CURLE_OK) {
        Fail(c, std::string("send failed: ") + curl_easy_strerror(rc));
        return;
      }
      c.out.erase(0, n);
    }
  }

  void BeginClose(Conn& c, uint16_t code, const std::string& reason) {
    c.state = Conn::State::kClosing;
    c.close_sent = true;
    c.deadline = Now() + kCloseGrace;
    c.out += EncodeWsFrame(WsOpcode::kClose, WsClosePayload(code, reason));
    Write(c);
  }

  // Ends a connection that went wrong: `reason` goes to on_close.
  bool Fail(Conn& c, const std::string& reason) {
    if (c.info.reason.empty() || c.state != Conn::State::kClosing) c.info.reason = reason;
    if (c.info.code == 0) c.info.code = kWsAbnormalClosure;
    Finish(c);
    return false;
  }

  // Runs on_close once; the connection is removed by Reap at the end of the round (the
  // caller may still be inside one of its methods).
  void Finish(Conn& c) {
    if (c.done) return;
    c.done = true;
    --open_count_;
    if (c.handlers.on_close) {
      auto fn = c.handlers.on_close;
      WsCloseInfo info = c.info;
      Invoke([&] { fn(info); });
    }
  }

  void Reap() {
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->second->done) {
        Release(*it->second);
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }

  static void Release(Conn& c) {
    if (c.easy) {
      curl_multi_remove_handle(c.multi, c.easy);
      curl_easy_cleanup(c.easy);
      c.easy = nullptr;
    }
    if (c.multi) curl_multi_cleanup(c.multi);  // closes the socket
    c.multi = nullptr;
  }

  template <typename F>
  static void Invoke(F&& fn) {
    // A handler that throws must not take the loop (and every other connection) down.
    try {
      fn();
    } catch (...) {
    }
  }

  std::mutex mu_;
  std::deque<Command> queue_;  // guarded by mu_
  bool stopped_ = false;       // guarded by mu_
  int wake_fd_ = -1;           // written under mu_; read (drained) by the loop thread before Stop joins it
  std::thread thread_;
  std::atomic<uint64_t> next_id_{1};
  std::atomic<size_t> open_count_{0};
  // Loop thread only. A map: iteration order is stable while handlers add connections.
  std::map<ConnId, std::unique_ptr<Conn>> conns_;
};

WebSocketLoop::WebSocketLoop() : impl_(std::make_unique<Impl>()) {}

WebSocketLoop::~WebSocketLoop() { impl_->Stop(); }

WebSocketLoop::ConnId WebSocketLoop::Open(const std::string& url, WebSocketOptions options, const Handlers& handlers) {
  Impl::Command c;
  c.kind = Impl::Command::Kind::kOpen;
  c.id = impl_->next_id_++;
  c.url = url;
  c.options = std::move(options);
  c.handlers = handlers;
  ConnId id = c.id;
  if (!impl_->Push(std::move(c)) && handlers.on_close) {
    WsCloseInfo info;
    info.reason = "stopped";
    handlers.on_close(info);
  }
  return id;
}

void WebSocketLoop::Send(ConnId id, WsOpcode opcode, std::string payload) {
  Impl::Command c;
  c.kind = Impl::Command::Kind::kSend;
  c.id = id;
  c.opcode = opcode;
  c.payload = std::move(payload);
  impl_->Push(std::move(c));
}

void WebSocketLoop::Close(ConnId id, uint16_t code, std::string reason) {
  Impl::Command c;
  c.kind = Impl::Command::Kind::kClose;
  c.id = id;
  c.code = code;
  c.payload = std::move(reason);
  impl_->Push(std::move(c));
}

void WebSocketLoop::Stop() { impl_->Stop(); }

size_t WebSocketLoop::open_connections() const { return impl_->open_count_.load(); }

}  // namespace comfyrun
