#pragma once
// ComfyUI's WebSocket events (PROVIDERS.md §4 "WebSocket /ws?clientId="): a faster signal for
// comfyui jobs, never their source of truth.
//
// One socket per server, shared by every job on it, and one client_id per comfyrun process
// (ComfyuiClientId), sent with every POST /prompt: the server then sends that prompt's
// execution_start, executing, progress, progress_state, executed, execution_success /
// execution_error / execution_interrupted and finally `executing` with node null to our
// socket. Events are routed to jobs by prompt_id; anything else (status broadcasts, binary
// preview frames, prompts of other clients) is dropped.
//
// What jobs do with them (see comfyui_job.cc): progress updates the status line; a terminal
// event makes the job fetch /history at once (history stays the source of outputs and errors).
// While a server's socket is up, jobs there poll /history at a slow cadence as a safety net;
// when it drops or never connects, they poll at the normal cadence. A socket that drops is
// reopened with backoff (0.5 s doubling to 30 s) while jobs watch that server; a server that
// answers the upgrade with an HTTP error (no /ws behind a proxy, say) is retried the same way,
// never sooner than 5 s.
//
// Caveat from ComfyUI's server.py: a socket that reconnects with the same clientId can lose
// its registration when the server handles the old socket's close after the new connect (the
// old handler's `finally` pops the sid). The backoff before reconnecting makes that unlikely,
// and the slow poll covers it when it happens.
//
// Threading: the sockets run on a WebSocketLoop thread (started with this object), which parses
// text messages and posts the events to the HttpLoop. Everything else (Connect, Watch,
// Unwatch, up(), the watchers' callbacks) runs on the HttpLoop thread, like the pool and the
// jobs. Stop() may be called from any thread.
//
// Lifetime: call Stop() before the HttpLoop is destroyed (ComfyuiPool::StopEvents does it; the
// executor calls that first): the socket thread posts to the loop until Stop returns.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "comfyrun/net/http_loop.h"
#include "comfyrun/net/websocket.h"

namespace comfyrun {

/// One per-prompt event from a ComfyUI socket.
struct ComfyEvent {
  enum class Kind {
    kStart,        ///< execution_start
    kCached,       ///< execution_cached
    kExecuting,    ///< executing {node: id}
    kProgress,     ///< progress, or the running node of progress_state
    kExecuted,     ///< executed {node, output}
    kSuccess,      ///< execution_success
    kError,        ///< execution_error
    kInterrupted,  ///< execution_interrupted
    kDone,         ///< executing {node: null}: the prompt has finished and is in /history
  };
  Kind kind = Kind::kStart;
  std::string prompt_id;
  std::string node;           ///< ComfyUI node id for kExecuting, kProgress, kExecuted, kError, kInterrupted
  double value = 0, max = 0;  ///< kProgress

  /// The prompt has ended on the server (kSuccess, kError, kInterrupted, kDone).
  bool terminal() const {
    return kind == Kind::kSuccess || kind == Kind::kError || kind == Kind::kInterrupted || kind == Kind::kDone;
  }
};

/// Parses one text message ({"type": ..., "data": {...}}). nullopt for messages that carry no
/// per-prompt event (status, feature_flags, an `executing` without prompt_id as sent on
/// reconnect, unknown types, malformed JSON).
std::optional<ComfyEvent> ParseComfyEvent(std::string_view text);

/// This process's client_id ("comfyrun-" and 16 random hex digits), the same for every prompt
/// and every server.
const std::string& ComfyuiClientId();

struct ComfyuiEventsOptions {
  double initial_backoff = 0.5;  ///< first wait before reopening a dropped socket
  double max_backoff = 30;       ///< longest wait between attempts
  double refused_backoff = 5;    ///< least wait after an HTTP reply other than 101
  WebSocketOptions socket;       ///< connect timeout, keepalive, max message size
};

class ComfyuiEvents {
 public:
  using WatchId = uint64_t;
  /// A job's callbacks; loop thread.
  struct Watcher {
    std::function<void(const ComfyEvent&)> on_event;
    /// The server's socket came up (true) or went down (false). Not called for a socket that
    /// fails before it was ever up.
    std::function<void(bool up)> on_link;
  };

  ComfyuiEvents(HttpLoop* loop, std::string client_id, ComfyuiEventsOptions options = {});
  ~ComfyuiEvents();  ///< Stop()
  ComfyuiEvents(const ComfyuiEvents&) = delete;
  ComfyuiEvents& operator=(const ComfyuiEvents&) = delete;

  /// Closes every socket and joins the socket thread; afterwards nothing is posted to the
  /// loop and Connect opens nothing. Any thread; idempotent.
  void Stop();

  // ---- loop thread ----
  /// Opens `server`'s socket unless it is open, opening, or waiting to reopen.
  void Connect(const std::string& server);
  /// Routes events of `prompt_id` on `server` to `watcher`. Opens nothing: call Connect.
  WatchId Watch(const std::string& server, const std::string& prompt_id, Watcher watcher);
  /// Stops routing; unknown ids (and 0) are ignored.
  void Unwatch(WatchId id);
  /// Whether `server`'s socket is open now.
  bool up(const std::string& server) const;
  const std::string& client_id() const { return client_id_; }
  /// Handshakes completed on `server` so far (tests: one socket shared by many jobs).
  int opens(const std::string& server) const;

 private:
  enum class Link { kDown, kOpening, kUp };
  struct Server {
    std::string url;
    Link link = Link::kDown;
    uint64_t generation = 0;  ///< bumped per Open; late callbacks of older sockets are ignored
    WebSocketLoop::ConnId conn = 0;
    double backoff = 0;
    HttpLoop::TimerId reopen_timer = 0;
    int opens = 0;
    int watchers = 0;
  };
  struct Watch_ {
    std::string server;
    std::string prompt_id;
    Watcher watcher;
  };

  Server& Get(const std::string& server);
  void Open(Server& s);
  void OnOpen(const std::string& server, uint64_t generation);
  void OnClosed(const std::string& server, uint64_t generation, const WsCloseInfo& info);
  void OnEvent(const std::string& server, uint64_t generation, const ComfyEvent& event);
  void NotifyLink(const std::string& server, bool up);

  HttpLoop* loop_;
  std::string client_id_;
  ComfyuiEventsOptions options_;

  std::mutex mu_;                      ///< guards ws_ and stopped_ (loop thread and Stop's caller)
  std::unique_ptr<WebSocketLoop> ws_;  ///< its thread idles until the first Open
  bool stopped_ = false;

  // Loop thread only.
  std::map<std::string, Server> servers_;
  std::unordered_map<WatchId, Watch_> watches_;
  std::multimap<std::string, WatchId> by_prompt_;  ///< server + '\n' + prompt_id -> watches
  WatchId next_watch_ = 1;
  /// Posted callbacks hold a weak copy; the destructor resets it so late ones do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace comfyrun
