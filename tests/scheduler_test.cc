#include "comfyrun/engine/scheduler.h"

#include <doctest/doctest.h>

#include "comfyrun/engine/retry.h"

using namespace comfyrun;
using State = Scheduler::State;

namespace {
// a=0 -> b=1, c=2 -> d=3 (diamond)
Scheduler Diamond(int jobs = 8) { return Scheduler({{}, {0}, {0}, {1, 2}}, {4, 3, 2, 1}, {"", "", "", ""}, {}, jobs); }
}  // namespace

TEST_SUITE("Scheduler") {
  TEST_CASE("a node starts only when everything it depends on succeeded") {
    Scheduler s = Diamond();
    s.Start();
    CHECK(s.FindWork() == 0u);
    CHECK_FALSE(s.FindWork());
    s.NodeSucceeded(0);
    CHECK(s.FindWork() == 1u);  // higher remaining critical path first
    CHECK(s.FindWork() == 2u);
    CHECK_FALSE(s.FindWork());
    s.NodeSucceeded(1);
    CHECK_FALSE(s.FindWork());  // d still waits for c
    s.NodeSucceeded(2);
    CHECK(s.FindWork() == 3u);
    s.NodeSucceeded(3);
    CHECK(s.Finished());
  }

  TEST_CASE("a pool of depth 1 runs one node at a time") {
    Scheduler s({{}, {}, {}, {}}, {1, 1, 1, 1}, {"gpu", "gpu", "gpu", ""}, {{"gpu", 1}}, 8);
    s.Start();
    CHECK(s.FindWork() == 0u);
    CHECK(s.FindWork() == 3u);  // 1 and 2 are delayed in the full pool; 3 has no pool
    CHECK_FALSE(s.FindWork());
    s.NodeSucceeded(0);
    CHECK(s.FindWork() == 1u);
    CHECK_FALSE(s.FindWork());
    s.NodeSucceeded(1);
    CHECK(s.FindWork() == 2u);
  }

  TEST_CASE("jobs bounds the nodes running at once") {
    Scheduler s({{}, {}, {}}, {1, 1, 1}, {"", "", ""}, {}, 2);
    s.Start();
    CHECK(s.FindWork());
    CHECK(s.FindWork());
    CHECK_FALSE(s.FindWork());
    CHECK(s.running() == 2);
  }

  TEST_CASE("the longest remaining critical path goes first") {
    Scheduler s({{}, {}, {}}, {1, 50, 7}, {"", "", ""}, {}, 1);
    s.Start();
    CHECK(s.FindWork() == 1u);
    s.NodeSucceeded(1);
    CHECK(s.FindWork() == 2u);
    s.NodeSucceeded(2);
    CHECK(s.FindWork() == 0u);
  }

  TEST_CASE("a failed node skips its dependents, directly or not, and nothing else") {
    // a -> b -> c, a -> d, e independent
    Scheduler s({{}, {0}, {1}, {0}, {}}, {3, 2, 1, 1, 1}, {"", "", "", "", ""}, {}, 8);
    s.Start();
    CHECK(s.FindWork() == 0u);
    CHECK(s.FindWork() == 4u);
    auto skipped = s.NodeFailed(0);
    CHECK(skipped == std::vector<size_t>{1, 2, 3});
    CHECK(s.state(4) == State::kRunning);
    CHECK_FALSE(s.Finished());
    s.NodeSucceeded(4);
    CHECK(s.Finished());
    CHECK(s.count(State::kSkipped) == 3);
  }

  TEST_CASE("a finishing node frees its slot but its dependents wait for it") {
    Scheduler s({{}, {0}, {}}, {2, 1, 1}, {"", "", ""}, {}, 1);
    s.Start();
    CHECK(s.FindWork() == 0u);
    s.NodeFinishing(0);
    CHECK(s.FindWork() == 2u);  // the slot went to independent work
    s.NodeSucceeded(2);
    CHECK_FALSE(s.FindWork());  // node 1 still waits for 0's record
    std::vector<size_t> ready;
    s.NodeSucceeded(0, &ready);
    CHECK(ready == std::vector<size_t>{1});
    CHECK(s.FindWork() == 1u);
  }

  TEST_CASE("a node waiting for a retry gives back its slot and comes back when requeued") {
    Scheduler s({{}, {}}, {1, 1}, {"p", "p"}, {{"p", 1}}, 8);
    s.Start();
    CHECK(s.FindWork() == 0u);
    s.NodeRetryWait(0);
    CHECK(s.FindWork() == 1u);
    s.Requeue(0);
    CHECK_FALSE(s.FindWork());  // pool is full
    s.NodeSucceeded(1);
    CHECK(s.FindWork() == 0u);
  }

  TEST_CASE("resume: nodes already succeeded are not scheduled and release their dependents") {
    Scheduler s = Diamond();
    s.MarkSucceeded(0);
    s.MarkSucceeded(1);
    s.Start();
    CHECK(s.FindWork() == 2u);
    CHECK_FALSE(s.FindWork());
  }

  TEST_CASE("SkipNotStarted stops what has not started and leaves running nodes alone") {
    Scheduler s = Diamond();
    s.Start();
    CHECK(s.FindWork() == 0u);
    auto skipped = s.SkipNotStarted();
    CHECK(skipped == std::vector<size_t>{1, 2, 3});
    CHECK(s.state(0) == State::kRunning);
  }
}

TEST_SUITE("Retry") {
  TEST_CASE("delays follow initialInterval * backoff^(n-1), capped, with jitter around them") {
    RetryPolicy p;  // 3 attempts, 1s, x2, max 100s
    p.maximum_attempts = 10;
    // jitter 0.5 is the midpoint: no change.
    CHECK(DecideRetry(p, ErrorType::kUnavailable, 1, -1, 0, 0, 0.5).delay == doctest::Approx(1));
    CHECK(DecideRetry(p, ErrorType::kUnavailable, 2, -1, 0, 0, 0.5).delay == doctest::Approx(2));
    CHECK(DecideRetry(p, ErrorType::kUnavailable, 4, -1, 0, 0, 0.5).delay == doctest::Approx(8));
    CHECK(DecideRetry(p, ErrorType::kUnavailable, 9, -1, 0, 0, 0.5).delay == doctest::Approx(100));
    CHECK(DecideRetry(p, ErrorType::kUnavailable, 2, -1, 0, 0, 0.0).delay == doctest::Approx(1.6));
    CHECK(DecideRetry(p, ErrorType::kUnavailable, 2, -1, 0, 0, 0.999).delay == doctest::Approx(2.4).epsilon(0.01));
  }

  TEST_CASE("the provider's hint is a floor for the delay") {
    RetryPolicy p;
    auto d = DecideRetry(p, ErrorType::kRateLimited, 1, 53, 0, 0, 0.5);
    CHECK(d.retry);
    CHECK(d.delay == doctest::Approx(53));
  }

  TEST_CASE("maximumAttempts counts attempts; 0 means unlimited") {
    RetryPolicy p;
    p.maximum_attempts = 3;
    CHECK(DecideRetry(p, ErrorType::kTimeout, 2, -1, 0, 0, 0.5).retry);
    auto d = DecideRetry(p, ErrorType::kTimeout, 3, -1, 0, 0, 0.5);
    CHECK_FALSE(d.retry);
    CHECK(d.why_not == "3 of 3 attempts used");
    p.maximum_attempts = 0;
    CHECK(DecideRetry(p, ErrorType::kTimeout, 500, -1, 0, 0, 0.5).retry);
  }

  TEST_CASE("bad input, bad keys and blocked content are never retried; the policy can add types") {
    RetryPolicy p;
    for (ErrorType t : {ErrorType::kInvalidInput, ErrorType::kAuth, ErrorType::kContentBlocked, ErrorType::kNoImage})
      CHECK_FALSE(DecideRetry(p, t, 1, -1, 0, 0, 0.5).retry);
    p.non_retryable = {"NoFace"};
    auto d = DecideRetry(p, ErrorType::kNoFace, 1, -1, 0, 0, 0.5);
    CHECK_FALSE(d.retry);
    CHECK(d.why_not == "NoFace is in nonRetryableErrorTypes");
    CHECK(DecideRetry(p, ErrorType::kExecution, 1, -1, 0, 0, 0.5).retry);
  }

  TEST_CASE("no retry would start after the total timeout") {
    RetryPolicy p;
    p.maximum_attempts = 10;
    CHECK(DecideRetry(p, ErrorType::kUnavailable, 1, -1, 5, 10, 0.5).retry);
    CHECK_FALSE(DecideRetry(p, ErrorType::kUnavailable, 1, 30, 5, 10, 0.5).retry);
  }
}
