#pragma once
// LocalServer: a tiny HTTP/1.1 server on 127.0.0.1 (an ephemeral port) for tests and fake
// provider servers.
//
// Why not cpp-httplib: Debian ships it as a header plus a shared library that the test binary
// does not link, and its thread-per-connection pool cannot hold 1,000 slow replies cheaply.
// This server is one thread and one poll() loop: a reply can be delayed (held without a
// thread), stalled or truncated, so timeouts and transport errors are easy to provoke.
//
// Usage:
//   testing::LocalServer server;
//   server.Handle("POST", "/v1/videos", [](const testing::LocalRequest& r) {
//     return testing::LocalResponse::Json(200, R"({"id":"video_1"})");
//   });
//   server.Handle("GET", "/v1/videos/*", ...);   // a trailing '*' matches any suffix
//   ... send requests to server.url() + "/v1/videos" ...
//   CHECK(server.requests().size() == 1);
//
// Threading: handlers run on the server's thread, one at a time; they must not block (use
// LocalResponse::delay to answer later). Handle, requests() and the counters may be called
// from any thread. Unmatched requests get 404. Every reply closes its connection.
//
// Fault injection and counters (for reliability tests, see fault_plan.h): a FaultPlan set with
// SetFaultPlan (or SetDefaultFaultPlan before construction) fails a seeded share of requests
// before their handler runs. Every server also answers two control routes, never faulted and
// not recorded in requests():
//   GET  /__stats    {"requests": n, "faults": FaultInjector::Stats(),
//                     "replies": {"POST /v1/videos": {"200": 3, ...}, ...}}  (handler replies)
//   POST /__faults   body: a fault spec ("share=0.2,kinds=429,reset,seed=7" or "off")
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/fault_plan.h"

namespace comfyrun::testing {

struct LocalRequest {
  std::string method;                          ///< "GET", "POST", ...
  std::string target;                          ///< as sent: "/path?query"
  std::string path;                            ///< target without the query
  std::string query;                           ///< raw query without '?', "" when absent
  std::map<std::string, std::string> headers;  ///< lower-case names; last value wins
  std::string body;

  /// Header value by case-insensitive name, "" when absent.
  std::string Header(const std::string& name) const;
  bool HasHeader(const std::string& name) const;
  /// Percent-decoded query parameter, "" when absent.
  std::string QueryParam(const std::string& name) const;
  bool HasQueryParam(const std::string& name) const;
};

struct LocalResponse {
  /// How the reply is delivered; the non-normal modes provoke client-side errors.
  enum class Mode {
    kNormal,
    kStall,         ///< send the headers and half the body, then go silent (connection open)
    kTruncate,      ///< send the headers and half the body, then close
    kCloseNoReply,  ///< close the connection without a reply
  };

  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  ///< Content-Length is added
  std::string body;
  double delay = 0;  ///< seconds to wait before replying (no thread is held)
  Mode mode = Mode::kNormal;
  /// When set, no reply is written: the connection's socket (non-blocking) and any bytes that
  /// came after the request are handed to it, on the server thread, and the server forgets
  /// the connection (closing it becomes the callee's job). For WebSocket upgrades
  /// (support/local_websocket.h).
  std::function<void(int fd, std::string leftover)> takeover;

  static LocalResponse Json(int status, std::string body);
  static LocalResponse Text(int status, std::string body);
  /// A 3xx with a Location header.
  static LocalResponse Redirect(int status, std::string location);
};

/// One part of a multipart/form-data body, as parsed by ParseMultipart.
struct LocalPart {
  std::string name;
  std::string filename;      ///< "" for a plain field
  std::string content_type;  ///< "" when the part has none
  std::string data;
};

/// Parses a multipart/form-data request body. Empty when the request is not multipart or the
/// body is malformed.
std::vector<LocalPart> ParseMultipart(const LocalRequest& request);

using LocalHandler = std::function<LocalResponse(const LocalRequest&)>;

class LocalServer {
 public:
  /// Binds 127.0.0.1 on an ephemeral port and starts serving. Aborts the process if the
  /// socket cannot be created: no test can run without it.
  LocalServer();
  /// Closes every connection (stalled ones included) and joins the thread.
  ~LocalServer();
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  /// Routes `method` (or "*" for any) and `path` (exact, or a prefix when it ends in '*') to
  /// `handler`. Later routes are tried first, so a test can override a default.
  void Handle(std::string method, std::string path, LocalHandler handler);

  int port() const { return port_; }
  /// "http://127.0.0.1:<port>"
  std::string url() const;

  /// Every complete request received so far, in arrival order.
  std::vector<LocalRequest> requests() const;
  size_t request_count() const;
  /// Connections open now, and the most open at once since construction.
  size_t open_connections() const { return open_connections_.load(); }
  size_t peak_connections() const { return peak_connections_.load(); }

  /// Faults a share of the requests from now on (see fault_plan.h); an empty plan stops it.
  void SetFaultPlan(const FaultPlan& plan);
  /// The plan every LocalServer constructed afterwards starts with (comfyrun_fakes sets it
  /// before making its fakes, whose servers are private). Each server gets its own random
  /// stream: the n-th server constructed in the process uses stream n.
  static void SetDefaultFaultPlan(const FaultPlan& plan);
  /// The /__stats document.
  Json Stats() const;

 private:
  struct Connection;
  struct Route {
    std::string method;
    std::string path;
    LocalHandler handler;
  };

  void Run();  // the server thread
  LocalResponse Dispatch(const LocalRequest& request);
  LocalResponse RunRoute(const LocalRequest& request);  // records it, runs its handler
  LocalResponse Control(const LocalRequest& request);   // the /__ routes

  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: the destructor writes it to stop the loop
  int port_ = 0;
  std::thread thread_;

  mutable std::mutex mu_;  // guards routes_ and requests_ (any thread)
  std::vector<Route> routes_;
  std::vector<LocalRequest> requests_;
  std::atomic<size_t> open_connections_{0};  // written by the server thread only
  std::atomic<size_t> peak_connections_{0};
  FaultInjector faults_;                                    // thread-safe on its own
  std::map<std::string, std::map<int, uint64_t>> replies_;  // guarded by mu_: route -> status -> n
};

}  // namespace comfyrun::testing
