// The queue node types `fal` and `replicate` against the in-process fakes (support/fake_queue):
// success, the provider's failure message, re-attach without a new submission, expired
// results and --resubmit-expired, cancel, 429 replies, data: URIs; and the rate limiter's
// token bucket and AIMD with a hand-driven clock, and the scheduler's use of it.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "comfyrun/core/config.h"
#include "comfyrun/core/rate.h"
#include "comfyrun/core/util.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/rate_limit.h"
#include "comfyrun/engine/scheduler.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/nodes/queue_nodes.h"
#include "comfyrun/providers/provider_util.h"
#include "comfyrun/providers/queue_job.h"
#include "support/fake_gemini.h"
#include "support/fake_queue.h"

namespace comfyrun {
namespace {

namespace fs = std::filesystem;
using testing::FakeFal;
using testing::FakeQueueOptions;
using testing::FakeReplicate;

FakeQueueOptions Fast() {
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

Json FalInputs(const std::string& prompt) {
  return {{"model", "fal-ai/flux/schnell"}, {"input", {{"prompt", prompt}, {"num_images", 1}}}, {"costPerRun", 0.003}};
}

Json ReplicateInputs(const std::string& prompt) {
  return {{"model", "black-forest-labs/flux-schnell"}, {"input", {{"prompt", prompt}}}, {"costPerRun", 0.003}};
}

}  // namespace

TEST_SUITE("QueueProviders") {
  TEST_CASE("fal: submit, journal before the first poll, poll, fetch the result, download" * doctest::timeout(30)) {
    QueueHarness h;
    NodeResult r = h.Run(FalNodeKind(), h.Context("fal", FalInputs("a red fox")));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.provider == "fal");
    CHECK(r.model == "fal-ai/flux/schnell");
    CHECK(r.cost == doctest::Approx(0.003));
    CHECK(r.outputs["cost"] == doctest::Approx(0.003));
    std::string image = r.outputs["imagePath"].get<std::string>();
    CHECK(fs::exists(image));
    CHECK(fs::path(image).extension() == ".png");
    CHECK(r.outputs["videoPath"].is_null());
    CHECK(r.outputs["files"].size() == 1);
    CHECK(r.outputs["result"]["seed"] == 42);
    CHECK(r.outputs["result"]["prompt"] == "a red fox");
    std::string bytes, err;
    REQUIRE(ReadFile(image, &bytes, &err));
    CHECK(bytes == testing::FakePngBytes());
    Json j = h.LastJournal();
    CHECK(j["provider"] == "fal");
    CHECK(j["requestId"] == r.outputs["requestId"]);
    CHECK(j["_polls"] == 0);  // durable before the first poll
    // The result URLs drop the subpath; the client uses the ones the reply gave.
    CHECK(j["statusUrl"].get<std::string>().find("/fal-ai/flux/requests/") != std::string::npos);
    CHECK(h.fal.queue().accepted() == 1);
    auto reqs = h.fal.requests();
    REQUIRE(!reqs.empty());
    CHECK(reqs[0].method == "POST");
    CHECK(reqs[0].path == "/fal-ai/flux/schnell");
    CHECK(reqs[0].Header("authorization") == "Key " + h.fal.key());
    CHECK(Json::parse(reqs[0].body)["prompt"] == "a red fox");
  }

  TEST_CASE("replicate: prediction, output in the status, download" * doctest::timeout(30)) {
    QueueHarness h;
    NodeResult r = h.Run(ReplicateNodeKind(), h.Context("replicate", ReplicateInputs("a blue owl [video]")));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.provider == "replicate");
    CHECK(fs::exists(r.outputs["videoPath"].get<std::string>()));
    CHECK(r.outputs["imagePath"].is_null());
    CHECK(r.outputs["result"].is_array());
    auto reqs = h.replicate.requests();
    REQUIRE(!reqs.empty());
    CHECK(reqs[0].path == "/v1/predictions");
    Json body = Json::parse(reqs[0].body);
    CHECK(body["version"] == "black-forest-labs/flux-schnell");
    CHECK(body["input"]["prompt"] == "a blue owl [video]");
    CHECK(reqs[0].Header("authorization") == "Bearer " + h.replicate.key());
    CHECK(h.LastJournal()["_polls"] == 0);
  }

  TEST_CASE("a failed request is reported with the provider's message, and not resubmitted" * doctest::timeout(30)) {
    QueueHarness h;
    NodeResult f = h.Run(FalNodeKind(), h.Context("fal", FalInputs("[fail] crash")));
    CHECK(f.error == ErrorType::kExecution);
    CHECK(f.message.find("CUDA out of memory") != std::string::npos);
    CHECK(f.message.find("fal request req-") != std::string::npos);
    CHECK(f.submission_finished);
    NodeResult r = h.Run(ReplicateNodeKind(), h.Context("replicate", ReplicateInputs("[fail] crash")));
    CHECK(r.error == ErrorType::kExecution);
    CHECK(r.message.find("CUDA out of memory") != std::string::npos);
    CHECK(h.fal.queue().accepted() == 1);
    CHECK(h.replicate.queue().accepted() == 1);
  }

  TEST_CASE("re-attach polls the journaled request and never submits again" * doctest::timeout(30)) {
    QueueHarness h;
    NodeResult first = h.Run(FalNodeKind(), h.Context("fal", FalInputs("once")));
    REQUIRE(first.ok());
    Json s = h.LastJournal();
    s.erase("_polls");
    NodeResult again = h.Run(FalNodeKind(), h.Context("fal", FalInputs("once"), s));
    REQUIRE_MESSAGE(again.ok(), again.message);
    CHECK(again.outputs["requestId"] == first.outputs["requestId"]);
    CHECK(h.fal.queue().accepted() == 1);
  }

  TEST_CASE("an expired result is OutputExpired naming the request; --resubmit-expired pays again" *
            doctest::timeout(30)) {
    QueueHarness h;
    NodeResult first = h.Run(FalNodeKind(), h.Context("fal", FalInputs("ok")));
    REQUIRE(first.ok());
    Json s = h.LastJournal();
    s.erase("_polls");
    h.fal.queue().SetResultTtl(0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    NodeResult expired = h.Run(FalNodeKind(), h.Context("fal", FalInputs("ok"), s));
    CHECK(expired.error == ErrorType::kOutputExpired);
    CHECK(expired.message.find(s["requestId"].get<std::string>()) != std::string::npos);
    CHECK(expired.message.find("--resubmit-expired") != std::string::npos);
    CHECK_FALSE(expired.submission_finished);  // a later resume meets it again
    CHECK(h.fal.queue().accepted() == 1);
    CHECK(IsNeverRetryable(ErrorType::kOutputExpired));

    h.fal.queue().SetResultTtl(3600);
    h.config.resubmit_expired = true;
    NodeResult paid = h.Run(FalNodeKind(), h.Context("fal", FalInputs("ok"), s));
    REQUIRE_MESSAGE(paid.ok(), paid.message);
    CHECK(h.fal.queue().accepted() == 2);
    CHECK(paid.outputs["requestId"] != s["requestId"]);
    CHECK(paid.cost == doctest::Approx(0.006));  // both payments (the failure above counted none)
    CHECK(expired.cost == 0);
    CHECK(expired.details["lostCost"] == doctest::Approx(0.003));
    CHECK(paid.outputs["expiredRequestIds"][0] == s["requestId"]);

    // Replicate: data_removed on the prediction.
    h.config.resubmit_expired = false;
    NodeResult r1 = h.Run(ReplicateNodeKind(), h.Context("replicate", ReplicateInputs("ok")));
    REQUIRE(r1.ok());
    Json rs = h.LastJournal();
    rs.erase("_polls");
    h.replicate.queue().SetResultTtl(0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    NodeResult r2 = h.Run(ReplicateNodeKind(), h.Context("replicate", ReplicateInputs("ok"), rs));
    CHECK(r2.error == ErrorType::kOutputExpired);
    CHECK(r2.message.find(rs["requestId"].get<std::string>()) != std::string::npos);
  }

  TEST_CASE("429 on submit is RateLimited with the provider's hint, nothing journaled" * doctest::timeout(30)) {
    QueueHarness h;
    h.replicate.queue().Force429(1, 7);
    NodeResult r = h.Run(ReplicateNodeKind(), h.Context("replicate", ReplicateInputs("busy")));
    CHECK(r.error == ErrorType::kRateLimited);
    CHECK(r.retry_after == doctest::Approx(7));
    CHECK(r.message.find("throttled") != std::string::npos);
    CHECK(r.submission_finished);
    CHECK(h.LastJournal().is_null());
    h.fal.queue().Force429(1, 3);
    NodeResult f = h.Run(FalNodeKind(), h.Context("fal", FalInputs("busy")));
    CHECK(f.error == ErrorType::kRateLimited);
    CHECK(f.retry_after == doctest::Approx(3));
  }

  TEST_CASE("queued requests show their position; cancel: fal while queued, replicate always" * doctest::timeout(30)) {
    FakeQueueOptions slow;
    slow.job_seconds = 30;
    slow.max_running = 1;
    QueueHarness h;
    FakeFal fal(slow);
    h.config.Set("FAL_BASE_URL", fal.url());
    h.config.Set("FAL_KEY", fal.key());
    // One runs, the second waits in the queue behind it.
    auto running = h.Context("fal", FalInputs("first"));
    auto queued = h.Context("fal", FalInputs("second"));
    std::vector<std::string> progress;
    std::mutex pm;
    queued->report_progress = [&](const std::string& p) {
      std::lock_guard<std::mutex> l(pm);
      progress.push_back(p);
    };
    auto done1 = std::make_shared<std::promise<NodeResult>>();
    auto done2 = std::make_shared<std::promise<NodeResult>>();
    FalNodeKind()->Start(running, LoopServices{&h.loop, nullptr},
                         [done1](NodeResult r) { done1->set_value(std::move(r)); });
    FalNodeKind()->Start(queued, LoopServices{&h.loop, nullptr},
                         [done2](NodeResult r) { done2->set_value(std::move(r)); });
    for (int i = 0; i < 400 && fal.queue().Stats()["polls"].get<int>() < 4; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    {
      std::lock_guard<std::mutex> l(pm);
      CHECK(std::find(progress.begin(), progress.end(), "fal: queued, position 0") != progress.end());
    }
    // Timeout-style cancel (not detached): the queued one is cancelled on fal; the running one
    // cannot be and stays for resume.
    FalNodeKind()->Cancel(queued);
    FalNodeKind()->Cancel(running);
    auto f2 = done2->get_future();
    auto f1 = done1->get_future();
    REQUIRE(f2.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    REQUIRE(f1.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    NodeResult q = f2.get();
    NodeResult r = f1.get();
    CHECK(q.error == ErrorType::kCancelled);
    CHECK(q.details["cancelSent"] == true);
    CHECK(r.error == ErrorType::kCancelled);
    CHECK(r.details["cancelSent"] == false);
    CHECK(r.message.find("cannot cancel") != std::string::npos);
    CHECK_FALSE(r.submission_finished);
    for (int i = 0; i < 200 && fal.queue().cancels() < 1; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(fal.queue().cancels() == 1);

    // Plain SIGINT (detach): nothing is sent.
    FakeReplicate rep(slow);
    h.config.Set("REPLICATE_BASE_URL", rep.url());
    h.config.Set("REPLICATE_API_TOKEN", rep.key());
    auto detached = h.Context("replicate", ReplicateInputs("stay"));
    auto cancelled = h.Context("replicate", ReplicateInputs("go"));
    auto d1 = std::make_shared<std::promise<NodeResult>>();
    auto d2 = std::make_shared<std::promise<NodeResult>>();
    ReplicateNodeKind()->Start(detached, LoopServices{&h.loop, nullptr},
                               [d1](NodeResult x) { d1->set_value(std::move(x)); });
    ReplicateNodeKind()->Start(cancelled, LoopServices{&h.loop, nullptr},
                               [d2](NodeResult x) { d2->set_value(std::move(x)); });
    for (int i = 0; i < 400 && rep.queue().Stats()["polls"].get<int>() < 4; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    detached->detach_remote = true;
    ReplicateNodeKind()->Cancel(detached);
    ReplicateNodeKind()->Cancel(cancelled);  // running: Replicate cancels anyway
    auto g1 = d1->get_future();
    auto g2 = d2->get_future();
    REQUIRE(g1.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    REQUIRE(g2.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    CHECK(g1.get().details["cancelSent"] == false);
    CHECK(g2.get().details["cancelSent"] == true);
    for (int i = 0; i < 200 && rep.queue().cancels() < 1; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(rep.queue().cancels() == 1);
  }

  TEST_CASE("local files in the input go as data: URIs; missing keys and bad models are refused" *
            doctest::timeout(30)) {
    QueueHarness h;
    std::string png = fs::absolute("queue-ref.png").string();
    std::string err;
    REQUIRE(WriteFileAtomic(png, testing::FakePngBytes(), &err));
    Json in = FalInputs("with image");
    in["input"]["image_url"] = png;
    NodeResult r = h.Run(FalNodeKind(), h.Context("fal", in));
    REQUIRE_MESSAGE(r.ok(), r.message);
    auto reqs = h.fal.requests();
    REQUIRE(!reqs.empty());
    std::string sent = Json::parse(reqs[0].body)["image_url"].get<std::string>();
    CHECK(StartsWith(sent, "data:image/png;base64,"));
    CHECK(Base64Decode(sent.substr(sent.find(',') + 1)) == testing::FakePngBytes());

    Json bad = FalInputs("x");
    bad["model"] = "no-slash";
    CHECK(h.Run(FalNodeKind(), h.Context("fal", bad)).error == ErrorType::kInvalidInput);
    h.config.Set("FAL_KEY", "");
    NodeResult nokey = h.Run(FalNodeKind(), h.Context("fal", FalInputs("x")));
    CHECK(nokey.error == ErrorType::kAuth);
    CHECK(nokey.message.find("FAL_KEY") != std::string::npos);
  }

  TEST_CASE("result files: named fields, or every media URL" * doctest::timeout(10)) {
    Json result = {{"images", Json::array({{{"url", "https://cdn/x/a"}, {"content_type", "image/jpeg"}}})},
                   {"video", {{"url", "https://cdn/v.mp4"}}},
                   {"other", "https://example.com/page"},
                   {"audio_file", "https://cdn/s.mp3?sig=1"}};
    auto all = CollectResultFiles(result, {});
    REQUIRE(all.size() == 3);
    CHECK(all[0].kind == "image");  // in the result's order
    CHECK(all[0].extension == ".jpg");
    CHECK(all[1].kind == "video");
    CHECK(all[2].kind == "audio");
    auto named = CollectResultFiles(result, {"other"});
    REQUIRE(named.size() == 1);
    CHECK(named[0].kind == "file");
  }
}

TEST_SUITE("RateLimit") {
  TEST_CASE("rates parse and print") {
    double r = 0;
    std::string err;
    CHECK(ParseRate("60/min", &r, &err));
    CHECK(r == doctest::Approx(1));
    CHECK(ParseRate("2/s", &r, &err));
    CHECK(r == doctest::Approx(2));
    CHECK(ParseRate("3600/hour", &r, &err));
    CHECK(r == doctest::Approx(1));
    CHECK_FALSE(ParseRate("60", &r, &err));
    CHECK_FALSE(ParseRate("-1/s", &r, &err));
    CHECK_FALSE(ParseRate("5/day", &r, &err));
    CHECK(err.find("COUNT/UNIT") != std::string::npos);
    CHECK(FormatRate(2) == "2/s");
    CHECK(FormatRate(0.5) == "30/min");
  }

  TEST_CASE("pools take a concurrency or {concurrency, rate}; a bad rate names its path") {
    Workflow wf;
    std::vector<Diagnostic> diags;
    REQUIRE(LoadWorkflowText(
        R"({"pools": {"fal": {"concurrency": 4, "rate": "120/min"}, "veo": 2, "sora": {"rate": "1/s"}},
            "nodes": [{"id": "a", "type": "value"}]})",
        "p.json", {}, &wf, &diags));
    CHECK(wf.pools["fal"] == 4);
    CHECK(wf.pools["veo"] == 2);
    CHECK(wf.pools.count("sora") == 0);
    CHECK(wf.pool_rates["fal"] == doctest::Approx(2));
    CHECK(wf.pool_rates["sora"] == doctest::Approx(1));
    Workflow bad;
    diags.clear();
    CHECK_FALSE(LoadWorkflowText(
        R"({"pools": {"fal": {"rate": "fast"}, "x": {"burst": 3}}, "nodes": [{"id": "a", "type": "value"}]})", "b.json",
        {}, &bad, &diags));
    std::string all;
    for (const auto& d : diags) all += d.json_path + " " + d.message + "\n";
    CHECK(all.find("$.pools.fal.rate") != std::string::npos);
    CHECK(all.find("COUNT/UNIT") != std::string::npos);
    CHECK(all.find("$.pools.x.burst") != std::string::npos);
  }

  TEST_CASE("token bucket: a declared rate spaces starts; 429 halves it; it recovers slowly") {
    double now = 1000;
    RateLimiter limiter([&] { return now; });
    limiter.Configure("fal", 2);  // 2/s, burst 1
    CHECK(limiter.TryAcquire("fal"));
    CHECK_FALSE(limiter.TryAcquire("fal"));
    CHECK(limiter.SecondsUntilToken("fal") == doctest::Approx(0.5));
    now += 0.5;
    CHECK(limiter.TryAcquire("fal"));
    // 100 s at most 2/s: about 200 starts.
    int starts = 0;
    for (int i = 0; i < 10000; ++i, now += 0.01)
      if (limiter.TryAcquire("fal")) ++starts;
    CHECK(starts >= 199);
    CHECK(starts <= 201);
    limiter.OnRateLimited("fal", 5);
    CHECK(limiter.CurrentRate("fal") == doctest::Approx(1));
    CHECK_FALSE(limiter.TryAcquire("fal"));
    CHECK(limiter.SecondsUntilToken("fal") == doctest::Approx(5));
    limiter.OnRateLimited("fal", -1);  // same burst: counted once
    CHECK(limiter.CurrentRate("fal") == doctest::Approx(1));
    now += 5;
    now += 10;
    double mid = limiter.CurrentRate("fal");
    CHECK(mid > 1);
    CHECK(mid < 2);
    now += 100;
    CHECK(limiter.CurrentRate("fal") == doctest::Approx(2));  // back to the ceiling, not beyond
  }

  TEST_CASE("an undeclared pool gets a rate from a 429 and loses it once recovered") {
    double now = 0;
    RateLimiter limiter([&] { return now; });
    for (int i = 0; i < 100; ++i) {
      CHECK(limiter.TryAcquire("gemini"));
      now += 0.1;  // 10/s
    }
    CHECK(limiter.CurrentRate("gemini") == 0);
    limiter.OnRateLimited("gemini", -1);
    CHECK(limiter.CurrentRate("gemini") == doctest::Approx(5).epsilon(0.1));
    now += 1000;
    CHECK(limiter.CurrentRate("gemini") == 0);  // unlimited again
  }

  TEST_CASE("the scheduler starts a rate-limited pool's nodes only with a token and says when the next comes") {
    double now = 0;
    RateLimiter limiter([&] { return now; });
    limiter.Configure("fal", 1);
    DepLists deps(4);
    Scheduler s(deps, {1, 1, 1, 1}, {"fal", "fal", "fal", ""}, {{"fal", 10}}, 10);
    s.SetRateLimiter(&limiter);
    s.Start();
    std::vector<size_t> started;
    while (auto n = s.FindWork()) started.push_back(*n);
    CHECK(started.size() == 2);  // one fal node and the unpooled one
    CHECK(s.rate_waiting() == 2);
    CHECK(s.NextTokenIn() == doctest::Approx(1));
    CHECK_FALSE(s.FindWork());
    now += 1;
    CHECK(s.FindWork());
    CHECK_FALSE(s.FindWork());
    now += 1;
    CHECK(s.FindWork());
    CHECK(s.NextTokenIn() < 0);  // nothing waits for a token
    // A 429 on a node of the pool slows the pool.
    s.RateLimited(0, 3);
    CHECK(limiter.CurrentRate("fal") == doctest::Approx(0.5));
  }
}

}  // namespace comfyrun
