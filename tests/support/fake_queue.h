#pragma once
// Fakes of the two queue protocols on 127.0.0.1 (LocalServer), sharing one simulated queue:
//
// FakeFal (fal.ai queue API, PROVIDERS.md §5; base URL = url()):
//   POST /{owner}/{app}[/{path}]            submit -> {request_id, status_url, response_url, cancel_url}
//   GET  /{owner}/{app}/requests/{id}/status 202 IN_QUEUE (queue_position) | 202 IN_PROGRESS (logs)
//                                            | 200 COMPLETED
//   GET  /{owner}/{app}/requests/{id}        the result {"images": [{url, content_type}]} or
//                                            {"video": {url, content_type}}; 404 once expired;
//                                            a failed request: 500 + X-Fal-Error-Type, {"detail"}
//   PUT  /{owner}/{app}/requests/{id}/cancel 202 while queued, else 400 ALREADY_COMPLETED
//   storage (fal's clients: FAL_STORAGE_URL = url() in tests)
//   POST /storage/upload/initiate            {content_type, file_name} -> {upload_url, file_url}
//   PUT  /_upload/{token}                    the bytes (no auth: the URL is the credential)
//   auth "Authorization: Key <key>"
// FakeReplicate (predictions API, PROVIDERS.md §6; base URL = url()):
//   POST /v1/predictions                     {"version", "input"} -> 201 prediction
//   GET  /v1/predictions/{id}                starting | processing | succeeded (output URLs) |
//                                            failed (error) | canceled; data_removed once expired
//   POST /v1/predictions/{id}/cancel
//   POST /v1/files                           multipart, part `content` (filename, type) -> 201
//                                            file {id, name, content_type, size, urls {get}}
//   auth "Authorization: Bearer <key>"
// Both (FakeQueueRoutes): GET /files/{name} (the result files; 404 once expired), GET
// /uploads/{name} (what was uploaded), GET /_fake/stats (counters), POST
// /_fake/force429?n=N&retryAfter=S[&polls=1] (the next N submissions, or with polls=1 status
// and result GETs, get 429), POST /_fake/ttl?seconds=S (results kept S seconds after
// completion from now on).
//
// The queue: at most `max_running` jobs run at once (the rest wait, queued, in order), each
// for `job_seconds`. Submissions beyond `submit_per_minute` in the last 60 s are answered 429
// with Retry-After (Replicate: also "resets in ~Ns" in the body); Force429(n) answers the next
// n submissions 429, Force429Polls(n) the next n polls. A result is deleted `result_ttl`
// seconds after the job completes. Inputs whose prompt contains "[fail]" fail with a message;
// "[expire]" expire as soon as they complete; "[video]" makes a video result. FailUploads(n)
// answers the next n upload requests 500.
//
// Threading: handlers run on the server thread; counters and setters from any thread.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "comfyrun/core/json.h"
#include "support/local_server.h"

namespace comfyrun::testing {

struct FakeQueueOptions {
  std::string key;
  double job_seconds = 0.2;
  int max_running = 10;
  double submit_per_minute = 0;  ///< 0 = no limit
  double result_ttl = 3600;
};

/// The simulated queue both fakes share the code of (one instance per fake).
class FakeQueueCore {
 public:
  enum class State { kQueued, kRunning, kCompleted, kFailed, kCanceled };
  struct Job {
    std::string id, model;
    Json input;
    double submitted = 0, started = -1, ends = -1;
    bool canceled = false, fail = false, expire_at_once = false, video = false;
    int queue_position = 0;
  };
  struct Upload {
    std::string filename, content_type, bytes;
  };

  explicit FakeQueueCore(FakeQueueOptions options) : options_(std::move(options)) {}
  /// -1 when accepted (*id set), else the Retry-After seconds of a 429.
  double Submit(const std::string& model, const Json& input, std::string* id);
  /// Brings the simulation to now and returns the job's state; false when unknown.
  bool Look(const std::string& id, Job* job, State* state);
  bool Expired(const std::string& id);
  /// True when the job was queued and is now cancelled.
  bool Cancel(const std::string& id, State* state);
  void Force429(int n, double retry_after);
  void Force429Polls(int n, double retry_after);
  /// True (with the Retry-After) when this poll is to be answered 429.
  bool TakePoll429(double* retry_after);
  void FailUploads(int n);
  /// False when the upload is to fail; else stores it under *name (named here when empty).
  bool StoreUpload(Upload upload, std::string* name);
  /// The stored upload, or nullptr. The pointer stays valid for the core's life.
  const Upload* FindUpload(const std::string& name) const;
  /// Every upload so far, in order.
  std::vector<Upload> uploads() const;
  void SetResultTtl(double seconds);
  Json Stats() const;
  void CountPoll() {
    std::lock_guard<std::mutex> l(mu_);
    ++polls_;
  }
  void CountDownload() {
    std::lock_guard<std::mutex> l(mu_);
    ++downloads_;
  }
  int accepted() const;
  int rejected() const;
  int cancels() const;
  int peak_running() const;

 private:
  void Advance(double now);  // mu_ held
  State StateOf(const Job& j, double now) const;

  FakeQueueOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Job> jobs_;
  std::vector<std::string> order_;  // submission order
  std::set<std::string> expired_;
  std::vector<double> submit_times_;
  double last_start_ = 0;  // jobs start in order: none before the previous one
  int next_id_ = 1;
  int accepted_ = 0, rejected_ = 0, cancels_ = 0, polls_ = 0, downloads_ = 0, peak_running_ = 0;
  int force_429_ = 0;
  double force_retry_after_ = 1;
  int force_poll_429_ = 0;
  double force_poll_retry_after_ = 1;
  int fail_uploads_ = 0, failed_uploads_ = 0;
  std::map<std::string, std::unique_ptr<Upload>> uploads_;
  std::vector<std::string> upload_order_;
};

/// What both fakes answer the same way: the control routes, result files and uploads served
/// back, the auth check and the 429 to a poll. Route() returns a reply when the request is one
/// of those (or fails auth), else nothing and the fake's own protocol takes it.
class FakeQueueRoutes {
 public:
  FakeQueueRoutes(FakeQueueCore* core, std::string auth_header, LocalResponse unauthorized,
                  std::function<LocalResponse(double retry_after)> rate_limited)
      : core_(core),
        auth_header_(std::move(auth_header)),
        unauthorized_(std::move(unauthorized)),
        rate_limited_(std::move(rate_limited)) {}
  /// `open`: paths that need no auth (a presigned upload URL).
  std::optional<LocalResponse> Route(const LocalRequest& r, bool open = false) const;
  /// For a status or result GET: the 429 a Force429Polls asked for, else nothing.
  std::optional<LocalResponse> PollRateLimited() const;
  /// The provider's 429 to a submission.
  LocalResponse RateLimited(double retry_after) const { return rate_limited_(retry_after); }

 private:
  FakeQueueCore* core_;
  std::string auth_header_;
  LocalResponse unauthorized_;
  std::function<LocalResponse(double)> rate_limited_;
};

class FakeFal {
 public:
  explicit FakeFal(FakeQueueOptions options = {});
  std::string url() const { return server_.url(); }
  const std::string& key() const { return key_; }
  FakeQueueCore& queue() { return *core_; }
  std::vector<LocalRequest> requests() const { return server_.requests(); }

 private:
  LocalResponse Handle(const LocalRequest& r);
  LocalResponse Storage(const LocalRequest& r);
  std::string key_;
  int initiated_ = 0;  // server thread only
  std::unique_ptr<FakeQueueCore> core_;
  std::unique_ptr<FakeQueueRoutes> routes_;
  LocalServer server_;  // last: destroyed (and its thread joined) first
};

class FakeReplicate {
 public:
  explicit FakeReplicate(FakeQueueOptions options = {});
  std::string url() const { return server_.url(); }
  const std::string& key() const { return key_; }
  FakeQueueCore& queue() { return *core_; }
  std::vector<LocalRequest> requests() const { return server_.requests(); }

 private:
  LocalResponse Handle(const LocalRequest& r);
  Json Prediction(const std::string& id);
  LocalResponse UploadFile(const LocalRequest& r);
  std::string key_;
  std::unique_ptr<FakeQueueCore> core_;
  std::unique_ptr<FakeQueueRoutes> routes_;
  LocalServer server_;  // last: destroyed (and its thread joined) first
};

}  // namespace comfyrun::testing
