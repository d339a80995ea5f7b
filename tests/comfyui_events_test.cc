// The comfyui pool under load and its WebSocket events: slots shared across nodes, completion
// over the socket long before the poll interval, dropped and missing sockets, foreign events.
#include <doctest/doctest.h>

#include "comfyui_harness.h"

using namespace comfyrun;
using namespace comfyrun::comfyui_test;
using comfyrun::testing::FakeComfyui;

TEST_SUITE("Comfyui") {
  TEST_CASE("2 servers x 1 slot: 6 nodes, never two jobs on one server" * doctest::timeout(40)) {
    FakeComfyui::Options options;
    options.slots = 4;  // the fakes could run 4 at once: only the pool keeps it to 1
    options.run_seconds = 0.25;
    FakeComfyui a(options), b(options);
    REQUIRE(a.Start());
    REQUIRE(b.Start());
    Harness h({a.url(), b.url()});
    std::vector<std::future<NodeResult>> futures;
    for (int i = 0; i < 6; ++i) {
      Json g = ProbeGraph();
      g["1"]["inputs"]["color"] = i;  // distinct graphs: no cache hits
      futures.push_back(h.Start(h.Context("n" + std::to_string(i), Json{{"workflow", g}})));
    }
    std::map<std::string, int> per_server;
    for (auto& f : futures) {
      NodeResult r = Harness::Wait(f, 30);
      REQUIRE_MESSAGE(r.ok(), r.message);
      per_server[r.outputs["server"].get<std::string>()]++;
    }
    CHECK(a.prompts_submitted() + b.prompts_submitted() == 6);
    CHECK(a.max_outstanding() == 1);
    CHECK(b.max_outstanding() == 1);
    CHECK(a.max_running() == 1);
    CHECK(b.max_running() == 1);
    CHECK(per_server[a.url()] >= 2);
    CHECK(per_server[b.url()] >= 2);
    CHECK(h.done_calls == 6);
  }

  // ---- WebSocket events ----------------------------------------------------------------------
  // These tests set the poll cadence far beyond their time limits, so a job can only finish in
  // time if the events reached it (bounds, not timing assertions).

  TEST_CASE("events: completion arrives over the WebSocket long before the poll interval" * doctest::timeout(20)) {
    FakeComfyui::Options fo;
    fo.run_seconds = 0.4;
    FakeComfyui fake(fo);
    REQUIRE(fake.Start());
    Harness h({fake.url()}, SlowPollOptions());
    auto ctx = h.Context("ws", Json{{"workflow", ProbeGraph()}});
    NodeResult r = h.Run(ctx, 10);  // the poll interval is 30 s
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(fs::exists(r.outputs["imagePath"].get<std::string>()));
    CHECK(fake.ws_connections() == 1);
    CHECK(fake.ws_events() > 0);
    // One /history fetch, on the terminal event (the second terminal event finds the job done
    // or its fetch already in flight).
    CHECK(fake.history_requests() == 1);
    REQUIRE(h.submissions.size() == 1);
    CHECK(h.submissions[0]["clientId"] == ComfyuiClientId());
    // Node progress reached the progress hook (the executor shows it on the status line).
    std::lock_guard<std::mutex> lock(h.mu);
    bool node_progress = false;
    for (const std::string& p : h.progress)
      node_progress |= p.find("EmptyImage #1 ") == 0 && p.find("/4 on 127.0.0.1:") != std::string::npos;
    CHECK_MESSAGE(node_progress, "no 'EmptyImage #1 n/4' progress among " << h.progress.size() << " texts");
  }

  TEST_CASE("events: many jobs on one server share one socket" * doctest::timeout(30)) {
    FakeComfyui::Options fo;
    fo.slots = 3;
    fo.run_seconds = 0.3;
    FakeComfyui fake(fo);
    REQUIRE(fake.Start());
    Harness h({fake.url() + "#slots=3"}, SlowPollOptions());
    std::vector<std::future<NodeResult>> futures;
    for (int i = 0; i < 8; ++i) {
      Json g = ProbeGraph();
      g["1"]["inputs"]["color"] = 100 + i;  // distinct graphs: no cache hits
      futures.push_back(h.Start(h.Context("m" + std::to_string(i), Json{{"workflow", g}})));
    }
    for (auto& f : futures) {
      NodeResult r = Harness::Wait(f, 20);
      CHECK_MESSAGE(r.ok(), r.message);
    }
    CHECK(fake.prompts_submitted() == 8);
    CHECK(fake.ws_connections() == 1);
    CHECK(h.OnLoop([&] { return h.pool->events()->opens(fake.url()); }) == 1);
    CHECK(fake.history_requests() == 8);
  }

  TEST_CASE("events: a socket dropped mid-prompt falls back to polling at the normal cadence" * doctest::timeout(30)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    ComfyuiPoolOptions o = FastOptions();
    o.poll_interval = 0.2;
    o.ws_poll_interval = 60;  // what a job with a live socket waits between polls
    Harness h({fake.url()}, o);
    // A first job brings the socket up, so the next one starts on the slow cadence.
    REQUIRE(h.Run(h.Context("warm", Json{{"workflow", ProbeGraph()}}), 10).ok());
    REQUIRE(h.OnLoop([&] { return h.pool->events()->up(fake.url()); }));
    // Then the socket drops halfway through the next prompt and cannot come back.
    fake.SetWebSocketEnabled(false);
    fake.DropWebSocketMidPrompt(1);
    fake.SetRunSeconds(1.0);
    Json g = ProbeGraph();
    g["1"]["inputs"]["color"] = 2;
    NodeResult r = h.Run(h.Context("dropped", Json{{"workflow", g}}), 15);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(fake.ws_connections() == 1);  // reconnects were refused (404)
    CHECK_FALSE(h.OnLoop([&] { return h.pool->events()->up(fake.url()); }));
    CHECK(fake.history_requests() >= 2);  // the warm-up's fetch, then polls
  }

  TEST_CASE("events: after a drop the socket reopens and the prompt still completes over it" * doctest::timeout(30)) {
    FakeComfyui::Options fo;
    fo.run_seconds = 1.5;
    FakeComfyui fake(fo);
    REQUIRE(fake.Start());
    Harness h({fake.url()}, SlowPollOptions());
    auto f = h.Start(h.Context("re", Json{{"workflow", ProbeGraph()}}));
    REQUIRE(Eventually([&] { return fake.running_now() == 1 && fake.ws_open() == 1; }));
    fake.DropWebSockets();
    // Reopened after the backoff (0.1 s here); the rest of the prompt's events use the new one.
    REQUIRE(Eventually([&] { return fake.ws_connections() == 2; }));
    NodeResult r = Harness::Wait(f, 10);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(fake.ws_connections() == 2);
  }

  TEST_CASE("events: without /ws (HTTP 404) jobs poll at the normal cadence" * doctest::timeout(30)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.SetWebSocketEnabled(false);
    ComfyuiPoolOptions o = FastOptions();
    o.poll_interval = 0.1;
    o.ws_poll_interval = 60;
    Harness h({fake.url()}, o);
    for (int i = 0; i < 2; ++i) {
      Json g = ProbeGraph();
      g["1"]["inputs"]["color"] = 10 + i;
      NodeResult r = h.Run(h.Context("nows" + std::to_string(i), Json{{"workflow", g}}), 10);
      REQUIRE_MESSAGE(r.ok(), r.message);
    }
    CHECK(fake.ws_connections() == 0);
    CHECK_FALSE(h.OnLoop([&] { return h.pool->events()->up(fake.url()); }));
    CHECK(fake.history_requests() >= 2);
  }

  TEST_CASE("events: events of other prompts and other messages are ignored" * doctest::timeout(30)) {
    FakeComfyui::Options fo;
    fo.run_seconds = 1.5;
    FakeComfyui fake(fo);
    REQUIRE(fake.Start());
    Harness h({fake.url()}, SlowPollOptions());
    auto f = h.Start(h.Context("mine", Json{{"workflow", ProbeGraph()}}));
    REQUIRE(Eventually([&] { return fake.running_now() == 1 && fake.ws_open() == 1; }));
    std::string other = "00000000-0000-4000-8000-000000000000";
    fake.BroadcastWs(R"({"type": "execution_success", "data": {"prompt_id": ")" + other + R"(", "timestamp": 1}})");
    fake.BroadcastWs(R"({"type": "executing", "data": {"node": null, "prompt_id": ")" + other + R"("}})");
    fake.BroadcastWs(R"({"type": "executing", "data": {"node": "3"}})");  // as sent on reconnect
    fake.BroadcastWs(R"({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}}})");
    fake.BroadcastWs("not json");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(fake.history_requests() == 0);  // none of them made the job look at /history
    NodeResult r = Harness::Wait(f, 10);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(fake.history_requests() == 1);
  }

  TEST_CASE("events: execution_success before the history entry still completes promptly" * doctest::timeout(30)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    // The real server sends execution_success, then writes the history, then `executing` null.
    fake.SetHistoryLag(0.5);
    Harness h({fake.url()}, SlowPollOptions());
    NodeResult r = h.Run(h.Context("lag", Json{{"workflow", ProbeGraph()}}), 10);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(fake.history_requests() >= 2);  // the first fetch found {} and a later one the entry
  }

}  // TEST_SUITE
