// RemoteAttempt, the driver RemoteJob and ComfyuiJob share: Stop() ends the protocol without
// reporting, cleanup requests still run after it, Report() runs `done` once, and a re-armed
// or cancelled timer fires only for its latest arming.
#include "comfyrun/remote/remote_attempt.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/local_server.h"

using namespace comfyrun;
using comfyrun::testing::LocalRequest;
using comfyrun::testing::LocalResponse;
using comfyrun::testing::LocalServer;

namespace {

class TestAttempt : public RemoteAttempt {
 public:
  TestAttempt(HttpLoop* loop, Done done) : RemoteAttempt(std::make_shared<NodeContext>(), loop, std::move(done)) {}

  using RemoteAttempt::After;
  using RemoteAttempt::Arm;
  using RemoteAttempt::CancelTimer;
  using RemoteAttempt::PollFailures;
  using RemoteAttempt::Report;
  using RemoteAttempt::Send;
  using RemoteAttempt::SendAfterStop;
  using RemoteAttempt::Stop;
  using RemoteAttempt::stopped;
  using RemoteAttempt::Timer;

  void OnStop() override { ++on_stop_calls; }

  Timer poll;
  int on_stop_calls = 0;  // loop thread
};

// Runs `fn` on the loop thread and waits (bounded) for it.
void OnLoopAndWait(HttpLoop& loop, std::function<void()> fn) {
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  loop.Post([fn = std::move(fn), done] {
    fn();
    done->set_value();
  });
  REQUIRE(future.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
}

// Waits (bounded) until `pred` holds.
bool WaitFor(const std::function<bool()>& pred) {
  for (int i = 0; i < 1000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace

TEST_SUITE("RemoteAttempt") {
  TEST_CASE("Stop ignores the current request; a cleanup request still runs; done runs once") {
    LocalServer server;
    server.Handle("GET", "/slow", [](const LocalRequest&) {
      LocalResponse r = LocalResponse::Text(200, "late");
      r.delay = 0.5;
      return r;
    });
    server.Handle("POST", "/interrupt", [](const LocalRequest&) { return LocalResponse::Text(200, "ok"); });
    HttpLoop loop;
    std::atomic<int> done_calls{0};
    std::atomic<bool> slow_seen{false}, cleanup_seen{false};
    std::string message;
    auto job = std::make_shared<TestAttempt>(&loop, [&](const NodeResult& r) {
      message = r.message;
      ++done_calls;
    });
    OnLoopAndWait(loop, [&] {
      HttpRequest slow;
      slow.url = server.url() + "/slow";
      job->Send(slow, [&](const HttpResponse&) { slow_seen = true; });
      CHECK(job->Stop());
      CHECK_FALSE(job->Stop());  // once
      CHECK(job->on_stop_calls == 1);
      HttpRequest cleanup;
      cleanup.method = "POST";
      cleanup.url = server.url() + "/interrupt";
      job->SendAfterStop(cleanup, [&, job](const HttpResponse& r) {
        cleanup_seen = r.ok();
        job->Report(NodeResult::Failure(ErrorType::kCancelled, "cancelled after cleanup"));
      });
    });
    REQUIRE(WaitFor([&] { return done_calls.load() == 1; }));
    CHECK(cleanup_seen);
    CHECK(message == "cancelled after cleanup");
    OnLoopAndWait(loop, [&] { job->Report(NodeResult::Failure(ErrorType::kInternal, "second")); });
    CHECK(done_calls == 1);
    CHECK_FALSE(slow_seen);
  }

  TEST_CASE("A cleanup request's callback is ignored once the result was reported") {
    LocalServer server;
    server.Handle("POST", "/queue", [](const LocalRequest&) { return LocalResponse::Text(200, "ok"); });
    HttpLoop loop;
    std::atomic<int> done_calls{0};
    std::atomic<bool> cleanup_seen{false};
    auto job = std::make_shared<TestAttempt>(&loop, [&](const NodeResult&) { ++done_calls; });
    OnLoopAndWait(loop, [&] {
      job->Stop();
      HttpRequest cleanup;
      cleanup.method = "POST";
      cleanup.url = server.url() + "/queue";
      job->SendAfterStop(cleanup, [&](const HttpResponse&) { cleanup_seen = true; });
      job->Report(NodeResult::Failure(ErrorType::kCancelled, "reported first"));
    });
    REQUIRE(WaitFor([&] { return server.request_count() == 1; }));
    OnLoopAndWait(loop, [] {});  // the reply's callback has had its turn
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    OnLoopAndWait(loop, [] {});
    CHECK(done_calls == 1);
    CHECK_FALSE(cleanup_seen);
  }

  TEST_CASE("A re-armed timer fires once, a cancelled one never, and none after Stop") {
    HttpLoop loop;
    auto job = std::make_shared<TestAttempt>(&loop, [](const NodeResult&) {});
    std::atomic<int> first{0}, second{0}, cancelled{0}, after_stop{0};
    OnLoopAndWait(loop, [&] {
      job->Arm(&job->poll, 0.01, [&] { ++first; });
      job->Arm(&job->poll, 0.05, [&] { ++second; });  // replaces the first arming
      job->After(0.01, [&] { ++cancelled; });
      job->After(0.02, [&] { ++cancelled; });  // the default timer, re-armed
    });
    REQUIRE(WaitFor([&] { return second.load() == 1 && cancelled.load() == 1; }));
    OnLoopAndWait(loop, [&] {
      job->Arm(&job->poll, 0.01, [&] { ++after_stop; });
      job->Stop();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    OnLoopAndWait(loop, [] {});
    CHECK(first == 0);
    CHECK(second == 1);
    CHECK(cancelled == 1);
    CHECK(after_stop == 0);
    CHECK_FALSE(job->poll.active);
  }

  TEST_CASE("PollFailures gives up at its limit and starts over after a reset") {
    TestAttempt::PollFailures failures(3);
    CHECK_FALSE(failures.Count());
    CHECK_FALSE(failures.Count());
    CHECK(failures.Count());
    CHECK(failures.count() == 3);
    failures.Reset();
    CHECK_FALSE(failures.Count());
  }
}
