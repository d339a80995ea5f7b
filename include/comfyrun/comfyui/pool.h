#pragma once
// ComfyuiPool: the ComfyUI GPU servers of a run, their health, and their job slots
// (DESIGN.md §4, PROVIDERS.md §4). A comfyui node asks the pool for a slot, runs its prompt on
// the server it was given, and gives the slot back; the pool hands slots to the least-loaded
// healthy server and skips servers that are down.
//
// Server list syntax (COMFYUI_URL comma-separated, --comfyui repeatable):
//   http://gpu1:8188                one slot (one job at a time on that server)
//   http://gpu2:8188#slots=2        two jobs at a time (a URL fragment is never sent anyway)
//   http://gpu3:8188/#slots=4       a trailing slash is dropped
// The base URL may carry a path prefix (e.g. http://host/comfy); routes are appended to it.
//
// Health: a server starts "unknown" and is checked with GET /system_stats the first time a
// job could go to it. A good answer marks it up until a job reports it down (MarkDown, e.g.
// connection refused). A down server is skipped; it is checked again when its back-off
// (1 s, doubling up to 60 s) has passed and a job wants a slot.
//
// Threading: every method, and every callback the pool makes, runs on the HttpLoop thread.
// The pool has no locks because nothing else touches it: callers on other threads go through
// HttpLoop::Post. Waiters are plain records in a queue, so thousands can wait without threads.
//
// Lifetime: call StopEvents() before destroying the HttpLoop (the event sockets' thread posts
// to it); destroy the pool after its HttpLoop (whose destructor runs the pool's pending
// health-check callbacks with kCancelled and drops its timers), or on the loop thread. The
// destructor never calls the loop.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "comfyrun/comfyui/events.h"
#include "comfyrun/core/config.h"
#include "comfyrun/engine/shared_resources.h"
#include "comfyrun/net/http_loop.h"

namespace comfyrun {

/// One configured server.
struct ComfyuiServerSpec {
  std::string url;  ///< base URL without trailing slash or fragment, e.g. "http://gpu1:8188"
  int slots = 1;    ///< jobs this server runs at once
};

/// Parses one entry ("http://host:8188#slots=2"). nullopt with *err on a bad entry (not
/// http(s), slots not a positive integer, unknown fragment option).
std::optional<ComfyuiServerSpec> ParseComfyuiServer(const std::string& entry, std::string* err);

/// Parses a list of entries; each entry may itself be comma-separated (COMFYUI_URL). Empty
/// entries are ignored; a URL given twice is kept once (the larger slot count wins).
bool ParseComfyuiServers(const std::vector<std::string>& entries, std::vector<ComfyuiServerSpec>* out,
                         std::string* err);

/// Tunables; the defaults suit real servers, tests shrink them.
struct ComfyuiPoolOptions {
  double health_timeout = 5;      ///< seconds for GET /system_stats
  double initial_backoff = 1;     ///< first wait before re-checking a server that is down
  double max_backoff = 60;        ///< longest wait between checks of a down server
  double poll_interval = 1;       ///< how often a node polls /history and /queue (used by nodes)
  double request_timeout = 60;    ///< seconds for a single control request (/prompt, /queue...)
  double download_timeout = 600;  ///< seconds for one /view download
  /// Listen to each server's /ws for progress and completion (COMFYRUN_COMFYUI_WS=off turns
  /// it off; jobs then poll at poll_interval only).
  bool websocket = true;
  /// Poll cadence of a job whose events arrive over a live socket: a safety net, since the
  /// events say when to look. Never below poll_interval.
  double ws_poll_interval = 10;
  ComfyuiEventsOptions events;  ///< socket reconnect backoff, keepalive, limits
};

class ComfyuiPool : public SharedResource {
 public:
  using WaiterId = uint64_t;
  /// Gets the granted server URL, or "" with a reason when no server can take the job (every
  /// candidate is down, or the pool was shut down). Runs on the loop thread.
  using SlotCallback = std::function<void(const std::string& server, const std::string& error)>;

  enum class Health { kUnknown, kChecking, kUp, kDown };

  /// `loop` must outlive the pool's use (see Lifetime above).
  ComfyuiPool(HttpLoop* loop, const std::vector<ComfyuiServerSpec>& servers, ComfyuiPoolOptions options = {});
  ~ComfyuiPool() override;
  ComfyuiPool(const ComfyuiPool&) = delete;
  ComfyuiPool& operator=(const ComfyuiPool&) = delete;

  /// Builds the pool of Config::comfyui_servers; nullptr (with *err empty) when no server is
  /// configured, nullptr with *err on a bad entry. COMFYRUN_POLL_INTERVAL (a duration, as for
  /// the other providers) overrides options.poll_interval, for tests against local fakes;
  /// COMFYRUN_COMFYUI_WS=off (or 0, false, no) turns options.websocket off.
  /// Callable from any thread (touches no pool state).
  static std::unique_ptr<ComfyuiPool> FromConfig(const Config& config, HttpLoop* loop, std::string* err,
                                                 ComfyuiPoolOptions options = {});

  /// Asks for a slot. `preferred` = "" picks the least-loaded healthy server; a URL pins the
  /// job to that server (added with one slot if it is not configured: a journaled server from
  /// an earlier run, or a node's `server` input). The callback runs exactly once, later (never
  /// inside Acquire), unless CancelAcquire comes first. A granted slot must be Released.
  WaiterId Acquire(const std::string& preferred, SlotCallback done);
  /// Withdraws a request. If the slot was granted but not yet delivered it is given back;
  /// the callback will not run. Unknown ids are ignored.
  void CancelAcquire(WaiterId id);
  /// Gives a granted slot back.
  void Release(const std::string& server);
  /// Marks a server down (connection refused, reset, repeated 5xx): jobs are steered
  /// elsewhere and the server is re-checked after its back-off.
  void MarkDown(const std::string& server, const std::string& reason);

  /// Same URL normalization as the server list (no trailing slash, no fragment).
  static std::string NormalizeUrl(const std::string& url);

  // Introspection for tests and the status line (loop thread).
  int in_use(const std::string& server) const;
  Health health(const std::string& server) const;
  /// Seconds until the pool re-checks the soonest of the servers a job may use (`preferred`,
  /// or every server for ""); 0 when one of them is not down. A job refused because they are
  /// all down waits this long before its next attempt, so its attempts are not spent on
  /// refusals that asked no server.
  double SecondsUntilRecheck(const std::string& preferred) const;
  /// True when every server a job may use answered its last health check with 401 or 403:
  /// reachable, but refusing our credentials, which a retry does not change.
  bool RefusesAuth(const std::string& preferred) const;
  size_t waiting() const { return waiters_.size(); }
  std::vector<ComfyuiServerSpec> servers() const;
  const ComfyuiPoolOptions& options() const { return options_; }
  HttpLoop* loop() const { return loop_; }
  /// The servers' event sockets, or nullptr when options().websocket is off (loop thread).
  ComfyuiEvents* events() { return events_.get(); }
  /// The client_id sent with every prompt: ComfyuiClientId(), one per process.
  const std::string& client_id() const { return ComfyuiClientId(); }
  /// Closes the event sockets and joins their thread, which posts to the HttpLoop: call it
  /// before destroying the loop (the event-loop backend does, through StopBeforeLoop). Any thread; idempotent; the
  /// destructor calls it too.
  void StopEvents();
  void StopBeforeLoop() override { StopEvents(); }

 private:
  struct Server {
    ComfyuiServerSpec spec;
    int in_use = 0;
    Health health = Health::kUnknown;
    double down_until = 0;  ///< steady seconds; a down server is re-checked after this
    double backoff = 0;     ///< next back-off in seconds
    std::string last_error;
    bool auth_refused = false;  ///< the last health check answered 401 or 403
    uint64_t last_granted = 0;  ///< grant sequence number, to spread ties round-robin
    HttpLoop::RequestId check_request = 0;
    HttpLoop::TimerId recheck_timer = 0;
  };
  struct Waiter {
    WaiterId id;
    std::string preferred;
    SlotCallback done;
    /// A pinned waiter (a re-attach) re-checks a down server once, back-off or not, before
    /// giving up on it: failing would make the node submit its prompt again elsewhere.
    bool forced_check = false;
  };

  Server* Find(const std::string& url);
  const Server* Find(const std::string& url) const;
  Server* FindOrAdd(const std::string& url);
  /// Hands free slots to waiters, starts health checks, fails waiters with no live candidate.
  void Dispatch();
  void StartCheck(Server* s);
  void OnChecked(const std::string& url, const HttpResponse& response);
  void SetDown(Server* s, const std::string& reason);
  void Grant(Waiter w, Server* s);

  HttpLoop* loop_;
  ComfyuiPoolOptions options_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::deque<Waiter> waiters_;
  /// Slots reserved for waiters whose callback is posted but has not run yet: id -> server.
  std::map<WaiterId, std::string> granted_;
  WaiterId next_waiter_ = 1;
  uint64_t grant_seq_ = 0;
  bool dispatching_ = false;
  bool dispatch_again_ = false;
  /// Callbacks hold a weak copy; the destructor resets it so late callbacks do nothing.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  /// Created with the pool (it starts no thread until a socket is opened); null when off.
  std::unique_ptr<ComfyuiEvents> events_;
};

}  // namespace comfyrun
