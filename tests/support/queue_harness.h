#pragma once
// What the queue provider tests share: the fal and Replicate fakes, an HttpLoop, a Config
// pointing at the fakes, a journal, and Run() that starts a node kind and waits (bounded) for
// its one result, checking that no key leaks into it.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "comfyrun/core/config.h"
#include "comfyrun/core/util.h"
#include "comfyrun/engine/node_kind.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/providers/provider_util.h"
#include "support/fake_queue.h"

namespace comfyrun::testing {

namespace fs = std::filesystem;
using ::comfyrun::testing::FakeFal;
using ::comfyrun::testing::FakeQueueOptions;
using ::comfyrun::testing::FakeReplicate;

inline FakeQueueOptions Fast() {
  FakeQueueOptions o;
  o.job_seconds = 0.3;
  return o;
}

struct QueueHarness {
  FakeFal fal{Fast()};
  FakeReplicate replicate{Fast()};
  HttpLoop loop;
  Config config;
  std::mutex mu;
  std::vector<Json> journal;

  ~QueueHarness() { JoinOffLoopThreads(); }
  QueueHarness() {
    config.Set("FAL_KEY", fal.key());
    config.Set("FAL_BASE_URL", fal.url());
    config.Set("REPLICATE_API_TOKEN", replicate.key());
    config.Set("REPLICATE_BASE_URL", replicate.url());
    Redactor::AddSecret(fal.key());
    Redactor::AddSecret(replicate.key());
  }

  std::shared_ptr<NodeContext> Context(const std::string& type, Json inputs, Json submission = nullptr) {
    static int counter = 0;
    auto ctx = std::make_shared<NodeContext>();
    ctx->run_id = "run";
    ctx->node_id = type + "_q" + std::to_string(++counter);
    ctx->type = type;
    if (!inputs.contains("pollInterval")) inputs["pollInterval"] = 0.05;
    ctx->inputs = std::move(inputs);
    ctx->node_dir = fs::absolute(fs::path("qnodes") / ctx->node_id).string();
    fs::create_directories(ctx->node_dir);
    ctx->run_dir = fs::absolute("qnodes").string();
    ctx->attempt_timeout = 20;
    ctx->config = &config;
    ctx->submission = std::move(submission);
    ctx->record_submission = [this](const Json& s) {
      std::lock_guard<std::mutex> lock(mu);
      Json entry = s;
      entry["_polls"] = fal.queue().Stats()["polls"].get<int>() + replicate.queue().Stats()["polls"].get<int>();
      journal.push_back(entry);
    };
    return ctx;
  }

  NodeResult Run(NodeKind* kind, const std::shared_ptr<NodeContext>& ctx, double limit = 20) {
    auto promise = std::make_shared<std::promise<NodeResult>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    std::future<NodeResult> future = promise->get_future();
    kind->Start(ctx, LoopServices{&loop, nullptr}, [promise, calls](NodeResult r) {
      if (calls->fetch_add(1) == 0) promise->set_value(std::move(r));
    });
    if (future.wait_for(std::chrono::duration<double>(limit)) != std::future_status::ready) {
      kind->Cancel(ctx);
      FAIL("the node did not finish within ", limit, "s");
    }
    NodeResult r = future.get();
    CHECK(calls->load() == 1);
    std::string all = r.message + r.outputs.dump() + r.details.dump();
    CHECK(all.find(fal.key()) == std::string::npos);
    CHECK(all.find(replicate.key()) == std::string::npos);
    return r;
  }

  Json LastJournal() {
    std::lock_guard<std::mutex> lock(mu);
    return journal.empty() ? Json() : journal.back();
  }
};

inline Json FalInputs(const std::string& prompt) {
  return {{"model", "fal-ai/flux/schnell"}, {"input", {{"prompt", prompt}, {"num_images", 1}}}, {"costPerRun", 0.003}};
}

inline Json ReplicateInputs(const std::string& prompt) {
  return {{"model", "black-forest-labs/flux-schnell"}, {"input", {{"prompt", prompt}}}, {"costPerRun", 0.003}};
}

}  // namespace comfyrun::testing
