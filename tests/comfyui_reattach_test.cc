// A comfyui attempt that ends early or starts from a journaled submission: timeout, cancel,
// detach (Abort vs Detach), a POST whose reply is lost or late, and every re-attach case
// (confirmed, unconfirmed, forgotten by the server).
#include <doctest/doctest.h>

#include "comfyui_harness.h"

using namespace comfyrun;
using namespace comfyrun::comfyui_test;
using comfyrun::testing::FakeComfyui;

TEST_SUITE("Comfyui") {
  TEST_CASE("timeout: interrupt and queue delete are sent, done is not delayed" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.SetRunSeconds(60);
    Harness h({fake.url()});
    auto ctx = h.Context("slow", Json{{"workflow", ProbeGraph()}});
    ctx->attempt_timeout = 0.5;
    auto started = std::chrono::steady_clock::now();
    NodeResult r = h.Run(ctx, 10);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    CHECK(r.error == ErrorType::kTimeout);
    CHECK(took < 3);
    // The server answered both requests before done: the journal may call the prompt over.
    CHECK(r.submission_finished);
    CHECK(r.details["cancelled"] == true);
    CHECK(fake.interrupts() >= 1);
    CHECK(fake.queue_deletes() >= 1);
    CHECK(Eventually([&] { return fake.interrupts() >= 1 && fake.queue_deletes() >= 1; }));
    CHECK(Eventually([&] { return fake.running_now() == 0; }));
    CHECK(h.OnLoop([&] { return h.pool->in_use(fake.url()); }) == 0);
    CHECK(h.done_calls == 1);
  }

  TEST_CASE("cancel: a queued prompt is deleted and done comes at once" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.SetRunSeconds(60);
    Harness h({fake.url() + "#slots=2"});  // the pool allows 2; the fake runs 1, so one waits
    auto running = h.Context("r", Json{{"workflow", ProbeGraph()}});
    Json g = ProbeGraph();
    g["1"]["inputs"]["color"] = 5;
    auto queued = h.Context("q", Json{{"workflow", g}});
    auto fr = h.Start(running);
    auto fq = h.Start(queued);
    REQUIRE(Eventually([&] { return fake.running_now() == 1 && fake.pending_now() == 1; }));
    ComfyuiNodeKind()->Cancel(queued);
    NodeResult rq = Harness::Wait(fq, 3);
    CHECK(rq.error == ErrorType::kCancelled);
    CHECK(Eventually([&] { return fake.pending_now() == 0; }));
    ComfyuiNodeKind()->Cancel(running);
    NodeResult rr = Harness::Wait(fr, 3);
    CHECK(rr.error == ErrorType::kCancelled);
    CHECK(Eventually([&] { return fake.running_now() == 0; }));
    CHECK(h.done_calls == 2);
  }

  TEST_CASE("a stopping run detaches: the prompt stays on the server and a re-attach finishes it" *
            doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.SetRunSeconds(1);
    Json submission;
    {
      Harness h({fake.url()});
      auto ctx = h.Context("d", Json{{"workflow", ProbeGraph()}});
      auto f = h.Start(ctx);
      REQUIRE(Eventually([&] { return fake.running_now() == 1; }));
      ctx->detach_remote = true;  // what the executor sets on Ctrl-C without --cancel-remote
      ComfyuiNodeKind()->Cancel(ctx);
      NodeResult r = Harness::Wait(f, 3);
      CHECK(r.error == ErrorType::kCancelled);
      CHECK_FALSE(r.submission_finished);  // kept: resume re-attaches
      CHECK(r.details["detached"] == true);
      CHECK(r.message.find("--cancel-remote") != std::string::npos);
      submission = ctx->submission;
    }
    CHECK(fake.interrupts() == 0);
    CHECK(fake.queue_deletes() == 0);
    Harness again({fake.url()});
    auto ctx = again.Context("d", Json{{"workflow", ProbeGraph()}});
    ctx->submission = submission;
    NodeResult r = again.Run(ctx);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(fake.prompts_submitted() == 1);
  }

  TEST_CASE("POST /prompt whose reply comes after the timeout: looked up, re-attached, one prompt" *
            doctest::timeout(30)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.SetPromptReplyDelay(3);  // queued at once, answered after the client gave up
    ComfyuiPoolOptions o = FastOptions();
    o.request_timeout = 0.5;
    Harness h({fake.url()}, o);
    NodeResult r = h.Run(h.Context("p", Json{{"workflow", ProbeGraph()}}));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(fake.prompts_submitted() == 1);
    REQUIRE(h.intents.size() == 1);
    REQUIRE(h.submissions.size() == 1);
    CHECK(h.submissions[0]["promptId"] == h.intents[0]["promptId"]);
    CHECK(r.outputs["promptId"] == h.intents[0]["promptId"]);
  }

  TEST_CASE("POST /prompt lost before the server queued it: sent again under the same id" * doctest::timeout(30)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.LosePrompts(1);
    ComfyuiPoolOptions o = FastOptions();
    o.request_timeout = 0.5;
    Harness h({fake.url()}, o);
    NodeResult r = h.Run(h.Context("p", Json{{"workflow", ProbeGraph()}}));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(fake.prompts_lost() == 1);
    CHECK(fake.prompts_submitted() == 1);
    REQUIRE(h.intents.size() == 2);  // journaled before each POST, with the same id
    CHECK(h.intents[0]["promptId"] == h.intents[1]["promptId"]);
    CHECK(r.outputs["promptId"] == h.intents[0]["promptId"]);
  }

  TEST_CASE("re-attach from a recorded submission without a new prompt" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.SetRunSeconds(0.5);
    // A first process submitted the prompt, journaled it, and died.
    std::string prompt_id, client_id;
    {
      Harness first({fake.url()});
      auto ctx = first.Context("job", Json{{"workflow", ProbeGraph()}});
      auto f = first.Start(ctx);
      REQUIRE(Eventually([&] {
        std::lock_guard<std::mutex> lock(first.mu);
        return !first.submissions.empty();
      }));
      std::lock_guard<std::mutex> lock(first.mu);
      prompt_id = first.submissions[0]["promptId"];
      client_id = first.submissions[0]["clientId"];
      // Leaving the scope stops the loop without Cancel: like kill -9, no interrupt is sent.
    }
    CHECK(fake.interrupts() == 0);
    Harness second({fake.url()});
    auto ctx = second.Context("job", Json{{"workflow", ProbeGraph()}});
    ctx->submission =
        Json{{"provider", "comfyui"}, {"server", fake.url()}, {"promptId", prompt_id}, {"clientId", client_id}};
    NodeResult r = second.Run(ctx);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.outputs["promptId"] == prompt_id);
    CHECK(fs::exists(r.outputs["imagePath"].get<std::string>()));
    CHECK(fake.prompts_submitted() == 1);  // no duplicate prompt
    CHECK(second.submissions.empty());
  }

  TEST_CASE("the prompt id is journaled before the POST reaches the server" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    std::vector<int> seen_by_server;  // prompts the server had when each record was made
    h.on_record = [&](const Json&) { seen_by_server.push_back(fake.prompts_submitted()); };
    NodeResult r = h.Run(h.Context("n", Json{{"workflow", ProbeGraph()}}));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(seen_by_server == std::vector<int>{0, 1});  // the intent before, the acceptance after
  }

  TEST_CASE("re-attach to a prompt journaled before its POST that the server never got: submitted now" *
            doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    auto ctx = h.Context("torn", Json{{"workflow", ProbeGraph()}});
    std::string lost = "51c608cd-ee1b-485d-80a5-41d6d52aa214";
    ctx->submission = Json{
        {"provider", "comfyui"}, {"server", fake.url()}, {"promptId", lost}, {"clientId", "x"}, {"accepted", false}};
    NodeResult r = h.Run(ctx);
    REQUIRE_MESSAGE(r.ok(), r.message);  // in the same attempt: no failure, no retry delay
    CHECK(fake.prompts_submitted() == 1);
    REQUIRE(h.submissions.size() == 1);
    // Under the same id: a server that got the first POST after all would refuse the second.
    CHECK(h.submissions[0]["promptId"] == lost);
    REQUIRE(h.intents.size() == 1);
    CHECK(h.intents[0]["promptId"] == h.submissions[0]["promptId"]);
  }

  TEST_CASE("re-attach to a prompt journaled before its POST that the server has: no new prompt" *
            doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.SetRunSeconds(0.5);
    // A first process got the prompt accepted and died before journaling the acceptance.
    std::string prompt_id, client_id;
    {
      Harness first({fake.url()});
      auto f = first.Start(first.Context("job", Json{{"workflow", ProbeGraph()}}));
      REQUIRE(Eventually([&] { return fake.prompts_submitted() == 1; }));
      std::lock_guard<std::mutex> lock(first.mu);
      REQUIRE(first.intents.size() == 1);
      prompt_id = first.intents[0]["promptId"];
      client_id = first.intents[0]["clientId"];
    }
    Harness second({fake.url()});
    auto ctx = second.Context("job", Json{{"workflow", ProbeGraph()}});
    ctx->submission = Json{{"provider", "comfyui"},
                           {"server", fake.url()},
                           {"promptId", prompt_id},
                           {"clientId", client_id},
                           {"accepted", false}};
    NodeResult r = second.Run(ctx);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.outputs["promptId"] == prompt_id);
    CHECK(fake.prompts_submitted() == 1);     // found, not submitted again
    REQUIRE(second.submissions.size() == 1);  // its acceptance is journaled now
    CHECK(second.submissions[0]["promptId"] == prompt_id);
    CHECK(second.intents.empty());
  }

  TEST_CASE("re-attach to a prompt the server forgot: Unavailable, submission finished" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    auto ctx = h.Context("gone", Json{{"workflow", ProbeGraph()}});
    ctx->submission = Json{{"provider", "comfyui"},
                           {"server", fake.url()},
                           {"promptId", "51c608cd-ee1b-485d-80a5-41d6d52aa214"},
                           {"clientId", "x"}};
    NodeResult r = h.Run(ctx);
    CHECK(r.error == ErrorType::kUnavailable);
    CHECK(r.submission_finished);
    CHECK(r.message.find("no longer known") != std::string::npos);
    CHECK(fake.prompts_submitted() == 0);

    // A pending prompt lost in a server restart while we wait on it.
    fake.SetRunSeconds(30);
    auto busy = h.Context("busy", Json{{"workflow", ProbeGraph()}});
    auto waiting = h.Start(busy);
    REQUIRE(Eventually([&] { return fake.running_now() == 1; }));
    fake.Forget();
    NodeResult lost = Harness::Wait(waiting, 5);
    CHECK(lost.error == ErrorType::kUnavailable);
    CHECK(lost.submission_finished);
  }

}  // TEST_SUITE
