#pragma once
// FakeSora: an in-process fake of the OpenAI videos API (PROVIDERS.md §3) on 127.0.0.1,
// built on LocalServer. Base URL is server_url + "/v1" (like https://api.openai.com/v1).
//
//   POST /v1/videos               multipart (model, prompt, seconds "4"|"8"|"12", size,
//                                 input_reference file part) or JSON; -> video object, queued
//   GET  /v1/videos/{id}          queued -> in_progress -> completed after `polls_until_done`
//                                 polls; every reply carries openai-poll-after-ms
//   GET  /v1/videos/{id}/content  the MP4 (404 until completed)
//   GET  /_fake/stats, POST /_fake/fault   control, as FakeGemini
//
// Auth: "Authorization: Bearer <api_key>", else 401 invalid_api_key. Prompts containing
// "[blocked]" end failed with error code moderation_blocked; "[fail]" with internal_error.
// Faults (FakeFault from fake_gemini.h): kRateLimit sends Retry-After: <retry_after>.
//
// Threading: as FakeGemini.
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "support/fake_gemini.h"

namespace comfyrun::testing {

class FakeSora {
 public:
  enum class Endpoint { kCreate, kRetrieve, kContent };

  struct Options {
    std::string api_key = "sk-fake-sora-key-0123456789";
    int polls_until_done = 2;
    int poll_after_ms = 50;  ///< openai-poll-after-ms on every video object reply; 0 = omit
  };

  FakeSora();
  explicit FakeSora(Options options);

  std::string base_url() const { return server_.url() + "/v1"; }
  int port() const { return server_.port(); }
  const std::string& api_key() const { return options_.api_key; }

  void AddFault(Endpoint endpoint, FakeFaultSpec fault, int times = 1);
  void set_polls_until_done(int n);
  void set_poll_after_ms(int ms);
  void ForgetVideos();

  int submissions(const std::string& prompt_part) const;
  int total_submissions() const;
  int polls() const;
  int downloads() const;
  /// Seconds between consecutive polls of any video, in arrival order.
  std::vector<double> poll_gaps() const;
  /// Fields of the last accepted create request: model, prompt, seconds, size, and
  /// "input_reference" = {filename, contentType, bytes} when a file part came with it.
  Json last_create() const;
  std::vector<LocalRequest> requests() const { return server_.requests(); }
  Json Stats() const;

 private:
  struct Video {
    Json object;
    int polls = 0;
  };
  LocalResponse Handle(const LocalRequest& r);
  LocalResponse Create(const LocalRequest& r);
  LocalResponse Retrieve(const std::string& id);
  LocalResponse Content(const std::string& id);
  bool TakeFault(Endpoint endpoint, FakeFaultSpec* fault);
  bool FaultReply(const FakeFaultSpec& fault, LocalResponse* reply) const;

  Options options_;
  LocalServer server_;
  mutable std::mutex mu_;
  std::map<Endpoint, std::vector<FakeFaultSpec>> faults_;
  std::map<std::string, int> submissions_;
  std::map<std::string, Video> videos_;
  std::vector<std::chrono::steady_clock::time_point> poll_times_;
  int downloads_ = 0;
  int next_id_ = 1;
  Json last_create_;
};

}  // namespace comfyrun::testing
