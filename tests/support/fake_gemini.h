#pragma once
// FakeGemini: an in-process fake of the Gemini API parts comfyrun uses (PROVIDERS.md §1-§2),
// on 127.0.0.1 (ephemeral port), built on LocalServer.
//
//   POST /v1beta/models/{model}:generateContent      image models (id contains "image")
//   POST /v1beta/models/{model}:predictLongRunning   Veo models ("veo-..."), 4/6/8 s
//   GET  /v1beta/models/{model}/operations/{id}      done after `polls_until_done` polls
//   GET  /v1beta/files/{id}:download?alt=media      the MP4 (or a 302 to a second server)
//   GET  /_fake/stats, POST /_fake/fault             control, for out-of-process tests
//
// Keys: x-goog-api-key header or ?key=. A wrong key gets 400 INVALID_ARGUMENT with ErrorInfo
// reason API_KEY_INVALID; no key gets 403 PERMISSION_DENIED. Retired or unknown models get
// 404 NOT_FOUND. Replies carry real media: a small PNG and MP4s of the requested length.
//
// Outcomes by prompt text (also usable from e2e scripts): "[blocked]" -> promptFeedback
// blockReason SAFETY (image) or RAI-filtered operation (Veo); "[image-safety]" ->
// finishReason IMAGE_SAFETY; "[no-image]" -> text only, finishReason NO_IMAGE; "[op-error]"
// -> operation done with error {code 3}.
//
// Scripted faults (AddFault) are consumed in order, one per matching request.
//
// Threading: handlers run on the LocalServer thread; every public method may be called from
// any thread (one mutex guards the state).
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "comfyrun/core/json.h"
#include "support/local_server.h"

namespace comfyrun::testing {

/// Faults a fake can inject into one reply.
enum class FakeFault {
  kRateLimit,      ///< 429; Gemini: RetryInfo.retryDelay "<retry_after>s"; OpenAI: Retry-After
  kServerError,    ///< 500 INTERNAL
  kReset,          ///< close the connection without a reply
  kStall,          ///< no reply for `retry_after` seconds (default 30): past the client timeout
  kTruncate,       ///< Content-Length larger than the body, then close
  kMalformedJson,  ///< 200 with a body that is not JSON
  kBadKey,         ///< Gemini 400 API_KEY_INVALID; OpenAI 401 invalid_api_key
  kNotFound,       ///< 404
  kBlocked,        ///< image: promptFeedback.blockReason; Veo op: RAI filtered; Sora: moderation failure
};
const char* FakeFaultName(FakeFault fault);
bool ParseFakeFault(const std::string& name, FakeFault* fault);

struct FakeFaultSpec {
  FakeFault fault;
  double retry_after = 7;  ///< seconds, for kRateLimit (hint) and kStall (how long)
};

/// A small valid PNG (64x64) and an MP4 of `seconds` (MPEG-4 part 2, 64x36, 4 fps), made
/// with libav once and cached. Thread-safe. Aborts the test run if libav cannot make them.
const std::string& FakePngBytes();
const std::string& FakeMp4Bytes(int seconds);

class FakeGemini {
 public:
  enum class Endpoint { kGenerateContent, kPredict, kOperation, kDownload };

  struct Options {
    std::string api_key = "fake-gemini-key-0123456789";
    int polls_until_done = 2;         ///< operation polls answered "not done" first, minus one
    bool redirect_downloads = false;  ///< download answers 302 to the second server
    bool inline_video = false;        ///< samples carry encodedVideo instead of a uri
  };

  FakeGemini();
  explicit FakeGemini(Options options);
  ~FakeGemini();

  std::string base_url() const { return server_.url(); }
  int port() const { return server_.port(); }
  const std::string& api_key() const { return options_.api_key; }

  void AddFault(Endpoint endpoint, FakeFaultSpec fault, int times = 1);
  void set_polls_until_done(int n);
  void set_redirect_downloads(bool on);

  /// Accepted submissions (generateContent answered with an image, or an operation created)
  /// whose prompt contains `prompt_part`.
  int submissions(const std::string& prompt_part) const;
  int total_submissions() const;
  int polls() const;
  int downloads() const;  ///< download requests, faulty ones included
  /// The last generateContent / predictLongRunning body received (null before any).
  Json last_generate_body() const;
  Json last_predict_body() const;
  /// Requests that reached the redirect target, and whether any carried a key.
  size_t redirect_target_requests() const { return redirect_target_.request_count(); }
  bool redirect_target_saw_key() const;
  std::vector<LocalRequest> requests() const { return server_.requests(); }
  /// Forgets an operation, as if it expired (polls then get 404).
  void ForgetOperations();
  /// {"submissions": {prompt: n}, "totalSubmissions", "polls", "downloads", "redirectSawKey"}
  Json Stats() const;

 private:
  struct Operation {
    std::string model;
    std::string prompt;
    int seconds = 8;
    int polls = 0;
  };
  LocalResponse HandlePost(const LocalRequest& r);
  LocalResponse HandleGet(const LocalRequest& r);
  LocalResponse Generate(const LocalRequest& r, const std::string& model);
  LocalResponse Predict(const LocalRequest& r, const std::string& model);
  LocalResponse Poll(const LocalRequest& r, const std::string& name);
  LocalResponse Download(const LocalRequest& r, const std::string& id);
  LocalResponse Control(const LocalRequest& r);
  /// Key check; returns true and fills *reply when the request must be refused.
  bool RefuseKey(const LocalRequest& r, LocalResponse* reply) const;
  /// Pops a scripted fault for `endpoint` (mu_ held).
  bool TakeFault(Endpoint endpoint, FakeFaultSpec* fault);
  /// The reply for a transport/HTTP-level fault; false for outcome faults (kBlocked).
  bool FaultReply(const FakeFaultSpec& fault, LocalResponse* reply) const;

  Options options_;
  LocalServer server_;
  LocalServer redirect_target_;
  mutable std::mutex mu_;
  std::map<Endpoint, std::vector<FakeFaultSpec>> faults_;
  std::map<std::string, int> submissions_;
  std::map<std::string, Operation> operations_;  // operation id -> state
  std::map<std::string, bool> blocked_ops_;      // operation id -> RAI filtered by fault
  int polls_ = 0;
  int downloads_ = 0;
  int next_id_ = 1;
  Json last_generate_;
  Json last_predict_;
};

/// Runs a FakeGemini and a FakeSora until the process is killed. Port 0 picks a free port
/// (LocalServer only binds ephemeral ports, so other values are refused with an error).
/// Prints one JSON line on stdout first: {"gemini": URL, "sora": URL, "geminiKey": K,
/// "soraKey": K}. Returns a process exit code (only on error).
int RunFakeServersForever(int port_gemini, int port_sora);

}  // namespace comfyrun::testing
