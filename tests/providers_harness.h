#pragma once
// Shared by the providers_*_test.cc files: a Harness with one HttpLoop and a Config pointed
// at the in-process fakes (tests/support/fake_gemini, fake_sora) that runs generation node
// kinds and waits for `done`, and the inputs the tests use.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>

#include "comfyrun/core/config.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/nodes/generation_nodes.h"
#include "comfyrun/providers/jobs.h"
#include "comfyrun/providers/models.h"
#include "comfyrun/providers/preflight.h"
#include "comfyrun/providers/provider_util.h"
#include "comfyrun/providers/remote_job.h"
#include "support/fake_gemini.h"
#include "support/fake_sora.h"

namespace comfyrun::providers_test {

namespace fs = std::filesystem;
using testing::FakeFault;
using testing::FakeGemini;
using testing::FakeSora;

/// One HttpLoop and Config pointed at the fakes; runs node kinds and waits for `done`.
struct Harness {
  FakeGemini gemini;
  FakeSora sora;
  HttpLoop loop;
  Config config;
  std::mutex mu;
  std::vector<Json> journal;  // RecordSubmission calls, with the fake's poll count at the time

  // Worker threads of jobs (offline renders, checks) post to `loop`: they end before it goes.
  ~Harness() { JoinOffLoopThreads(); }

  Harness() {
    config.Set("GEMINI_API_KEY", gemini.api_key());
    config.Set("GEMINI_BASE_URL", gemini.base_url());
    config.Set("OPENAI_API_KEY", sora.api_key());
    config.Set("OPENAI_BASE_URL", sora.base_url());
    Redactor::AddSecret(gemini.api_key());
    Redactor::AddSecret(sora.api_key());
  }

  std::shared_ptr<NodeContext> Context(const std::string& type, Json inputs, Json submission = nullptr) {
    static int counter = 0;
    auto ctx = std::make_shared<NodeContext>();
    ctx->run_id = "run";
    ctx->node_id = type + "_" + std::to_string(++counter);
    ctx->type = type;
    ctx->inputs = std::move(inputs);
    ctx->node_dir = fs::absolute(fs::path("nodes") / ctx->node_id).string();
    fs::create_directories(ctx->node_dir);
    ctx->run_dir = fs::absolute("nodes").string();
    ctx->attempt_timeout = 20;
    ctx->config = &config;
    ctx->submission = std::move(submission);
    ctx->record_submission = [this](const Json& s) {
      std::lock_guard<std::mutex> lock(mu);
      Json entry = s;
      entry["_geminiPolls"] = gemini.polls();
      entry["_soraPolls"] = sora.polls();
      journal.push_back(entry);
    };
    return ctx;
  }

  NodeResult Run(NodeKind* kind, const std::shared_ptr<NodeContext>& ctx, double limit = 25) {
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
    CheckNoSecrets(r);
    return r;
  }

  void CheckNoSecrets(const NodeResult& r) {
    std::string all = r.message + r.outputs.dump() + r.details.dump();
    CHECK(all.find(gemini.api_key()) == std::string::npos);
    CHECK(all.find(sora.api_key()) == std::string::npos);
  }

  Json LastJournal() {
    std::lock_guard<std::mutex> lock(mu);
    return journal.empty() ? Json() : journal.back();
  }
};

inline std::string WriteReferencePng(const std::string& name) {
  std::string path = fs::absolute(name).string();
  std::string err;
  REQUIRE(WriteFileAtomic(path, testing::FakePngBytes(), &err));
  return path;
}

inline Json VeoInputs(const std::string& prompt, int seconds = 4) {
  return {{"prompt", prompt},      {"model", "veo3-fast"}, {"duration", seconds},
          {"aspectRatio", "16:9"}, {"resolution", "720p"}, {"pollInterval", 0.02}};
}

inline Json SoraInputs(const std::string& prompt, int seconds = 4) {
  return {{"prompt", prompt},      {"model", "sora-2"},    {"duration", seconds},
          {"aspectRatio", "16:9"}, {"resolution", "720p"}, {"pollInterval", 0.02}};
}

}  // namespace comfyrun::providers_test
