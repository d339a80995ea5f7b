#pragma once
// Shared by the comfyui_*_test.cc files: pool options, sample graphs and a Harness that runs
// comfyui attempts against FakeComfyui servers on 127.0.0.1 with a real HttpLoop, a
// NodeContext and a ComfyuiPool, the way the executor does.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "comfyrun/comfyui/comfyui_node.h"
#include "comfyrun/comfyui/events.h"
#include "comfyrun/comfyui/pool.h"
#include "comfyrun/comfyui/protocol.h"
#include "comfyrun/core/util.h"
#include "comfyrun/engine/retry.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/providers/remote_job.h"
#include "support/fake_comfyui.h"

namespace comfyrun::comfyui_test {

namespace fs = std::filesystem;

inline ComfyuiPoolOptions FastOptions() {
  ComfyuiPoolOptions o;
  o.health_timeout = 2;
  o.initial_backoff = 0.2;
  o.max_backoff = 1;
  o.poll_interval = 0.03;
  o.request_timeout = 5;
  o.download_timeout = 10;
  o.events.initial_backoff = 0.1;
  o.events.refused_backoff = 0.2;
  return o;
}

/// Options under which only WebSocket events can finish a job quickly: every poll cadence is
/// far longer than the tests' time limits.
inline ComfyuiPoolOptions SlowPollOptions() {
  ComfyuiPoolOptions o = FastOptions();
  o.poll_interval = 30;
  o.ws_poll_interval = 30;
  return o;
}

/// EmptyImage -> ImageInvert -> SaveImage, as in the transcript.
inline Json ProbeGraph() {
  return Json::parse(R"({
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 1234}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "probe"}}
  })");
}

/// Image, preview and video outputs.
inline Json MixedGraph() {
  return Json::parse(R"({
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "still"}},
    "4": {"class_type": "CreateVideo", "inputs": {"images": ["2", 0], "fps": 12.0}},
    "5": {"class_type": "SaveVideo", "inputs": {"video": ["4", 0], "filename_prefix": "video/clip"}},
    "6": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}}
  })");
}

/// A face swap whose failure is scripted by the fake.
inline Json FaceGraph() {
  return Json::parse(R"({
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0}},
    "2": {"class_type": "ReActorFaceSwap", "inputs": {"input_image": ["1", 0], "source_image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "swap"}}
  })");
}

/// A real HttpLoop and a pool over the given servers; runs comfyui attempts to completion.
struct Harness {
  std::unique_ptr<HttpLoop> loop;
  SharedResources shared;  // owns the pool, as the event-loop backend does
  ComfyuiPool* pool = nullptr;
  Config config;
  std::mutex mu;
  std::vector<Json> submissions;               // every RecordSubmission of an accepted prompt, in order
  std::vector<Json> intents;                   // those made before a POST ("accepted": false)
  std::function<void(const Json&)> on_record;  // called first, on the loop thread
  std::vector<std::string> progress;           // every Progress text
  std::atomic<int> done_calls{0};

  explicit Harness(const std::vector<std::string>& servers, ComfyuiPoolOptions options = FastOptions()) {
    loop = std::make_unique<HttpLoop>();
    config.comfyui_servers = servers;
    std::string err;
    pool = shared.Get<ComfyuiPool>(
        "comfyui",
        [&](std::string* e) -> std::unique_ptr<SharedResource> {
          return ComfyuiPool::FromConfig(config, loop.get(), e, options);
        },
        &err);
    REQUIRE_MESSAGE(err.empty(), err);
  }
  ~Harness() {
    pool->StopEvents();    // its socket thread posts to the loop
    JoinOffLoopThreads();  // output checks post to the loop too
    loop.reset();          // then: runs pending callbacks with kCancelled while the pool still exists
    shared.Clear();
  }

  std::shared_ptr<NodeContext> Context(const std::string& node_id, Json inputs) {
    auto ctx = std::make_shared<NodeContext>();
    ctx->run_id = "run";
    ctx->node_id = node_id;
    ctx->type = "comfyui";
    ctx->node_dir = (fs::current_path() / "runs" / node_id).string();
    ctx->run_dir = (fs::current_path() / "runs").string();
    fs::create_directories(ctx->node_dir);
    ctx->attempt_timeout = 30;
    ctx->config = &config;
    if (!inputs.contains("set")) inputs["set"] = Json::object();
    ctx->inputs = std::move(inputs);
    ctx->record_submission = [this](const Json& s) {
      if (on_record) on_record(s);
      std::lock_guard<std::mutex> lock(mu);
      (s.value("accepted", true) ? submissions : intents).push_back(s);
    };
    ctx->report_progress = [this](const std::string& text) {
      std::lock_guard<std::mutex> lock(mu);
      if (std::getenv("COMFYUI_TEST_VERBOSE")) fprintf(stderr, "progress: %s\n", text.c_str());
      progress.push_back(text);
    };
    return ctx;
  }

  std::future<NodeResult> Start(std::shared_ptr<NodeContext> ctx) {
    auto promise = std::make_shared<std::promise<NodeResult>>();
    auto future = promise->get_future();
    auto calls = std::make_shared<std::atomic<int>>(0);
    ComfyuiNodeKind()->Start(ctx, LoopServices{loop.get(), &shared}, [this, promise, calls](NodeResult r) {
      done_calls++;
      if (calls->fetch_add(1) == 0) promise->set_value(std::move(r));
    });
    return future;
  }

  static NodeResult Wait(std::future<NodeResult>& f, double seconds = 15) {
    if (f.wait_for(std::chrono::duration<double>(seconds)) != std::future_status::ready) {
      FAIL("comfyui attempt did not finish in time");
      return NodeResult::Failure(ErrorType::kInternal, "test timeout");
    }
    return f.get();
  }

  NodeResult Run(std::shared_ptr<NodeContext> ctx, double seconds = 15) {
    auto f = Start(ctx);
    return Wait(f, seconds);
  }

  /// Runs `fn` on the loop thread and returns its result (pool state lives there).
  template <typename F>
  auto OnLoop(F fn) -> decltype(fn()) {
    std::promise<decltype(fn())> p;
    auto f = p.get_future();
    loop->Post([&] { p.set_value(fn()); });
    REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    return f.get();
  }
};

/// Polls `pred` for up to `seconds`.
template <typename P>
bool Eventually(P pred, double seconds = 5) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

inline std::string ReadAll(const std::string& path) {
  std::string text, err;
  ReadFile(path, &text, &err);
  return text;
}

}  // namespace comfyrun::comfyui_test
