#pragma once
// One thread, one libcurl multi handle, every HTTP transfer of the process (DESIGN.md §4):
// a remote generation waits for its provider without holding a thread, so hundreds can be in
// flight at once.
//
// Threading: Send, Cancel, After, CancelTimer and Post may be called from any thread. Every
// callback (completion, timer, posted function) runs on the loop's own thread, one at a time,
// and must not block: start further requests or timers from it, or hand heavy work (decoding
// a video) to another thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "comfyrun/core/error_type.h"

namespace comfyrun {

/// One part of a multipart/form-data body.
struct MultipartPart {
  std::string name;
  std::string data;          ///< used when file_path is empty
  std::string file_path;     ///< send this file's contents
  std::string filename;      ///< "" = a plain field
  std::string content_type;  ///< "" = libcurl's default
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                      ///< sent when non-empty (or method is POST/PUT/PATCH)
  std::vector<MultipartPart> multipart;  ///< when non-empty, the body is multipart/form-data
  std::string download_path;             ///< when set, the reply body is streamed to this file
  double timeout = 300;                  ///< seconds for the whole transfer
  double connect_timeout = 10;
  double stall_timeout = 60;  ///< abort when under 1 byte/s for this long
  int max_redirects = 5;      ///< 0 = do not follow
  /// Header names (case-insensitive) that carry credentials: they are sent only to the
  /// request's original host; a redirect to another host or port drops them.
  std::vector<std::string> secret_headers;
  /// Query parameter names that carry credentials (e.g. "key"): removed from a redirect
  /// Location to another host or port.
  std::vector<std::string> secret_query_params;
};

struct HttpResponse {
  int status = 0;                              ///< 0 when no HTTP reply arrived
  std::map<std::string, std::string> headers;  ///< lower-case names; last value wins
  std::string body;                            ///< empty when downloaded to a file
  uint64_t bytes = 0;                          ///< body bytes received
  std::string effective_url;                   ///< after redirects (secrets removed)
  /// Transport outcome: kNone when an HTTP reply arrived (whatever its status); otherwise
  /// kUnavailable (refused, reset, DNS), kTimeout (timeout, stall) or kCancelled.
  ErrorType transport_error = ErrorType::kNone;
  std::string error;        ///< what went wrong, for messages
  double retry_after = -1;  ///< Retry-After header in seconds, or -1

  bool ok() const { return transport_error == ErrorType::kNone && status >= 200 && status < 300; }
};

/// The error type a reply maps to when it is not a success: 401/403 Auth, 429 RateLimited,
/// 408/5xx Unavailable, other 4xx InvalidInput; transport errors as they are. kNone for 2xx.
/// A 3xx that was not followed (max_redirects spent or 0) is InvalidInput: retrying the same
/// request gets the same redirect.
ErrorType ClassifyHttpError(const HttpResponse& response);

/// Parses a Retry-After header value: delay-seconds ("120") or an HTTP-date ("Wed, 21 Oct
/// 2015 07:28:00 GMT", relative to `now_unix`, never below 0). -1 when unparseable.
double ParseRetryAfter(std::string_view value, int64_t now_unix);

class HttpLoop {
 public:
  using RequestId = uint64_t;
  using TimerId = uint64_t;
  using Callback = std::function<void(HttpResponse)>;

  HttpLoop();  ///< starts the loop thread
  /// Cancels every transfer (callbacks get kCancelled, and a Send from such a callback is
  /// cancelled too), drops pending timers and posted functions, and joins the thread. Must
  /// not be called from a callback (the loop thread would join itself).
  ~HttpLoop();
  HttpLoop(const HttpLoop&) = delete;
  HttpLoop& operator=(const HttpLoop&) = delete;

  /// Starts a transfer; `done` runs once on the loop thread when it ends in any way. Called
  /// after the loop's destructor has finished cancelling (a bug in the caller), `done` runs at
  /// once on the calling thread with kCancelled.
  RequestId Send(HttpRequest request, Callback done);
  /// Aborts a transfer; its callback runs with transport_error kCancelled (if not already done).
  void Cancel(RequestId id);
  /// Runs `fn` on the loop thread after `seconds`.
  TimerId After(double seconds, std::function<void()> fn);
  void CancelTimer(TimerId id);
  /// Runs `fn` on the loop thread as soon as possible.
  void Post(std::function<void()> fn);
  /// Transfers started and not yet finished (any thread; approximate while changing).
  size_t in_flight() const { return in_flight_.load(); }
  /// Largest in_flight() seen since construction.
  size_t peak_in_flight() const { return peak_in_flight_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<size_t> in_flight_{0};
  std::atomic<size_t> peak_in_flight_{0};
};

}  // namespace comfyrun
