// Fault injection in the fake servers (tests/support/fault_plan.h, LocalServer): the spec
// parser, seeded decisions, what each kind looks like to the HTTP client, the control routes;
// then whole workflows through the Executor against the fake providers while they fail 20%
// of their requests (they must finish within their retry budgets and submit each generation
// once), and auth errors that must fail at once without a retry.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <string>

#include "comfyrun/backends/local_backends.h"
#include "comfyrun/core/config.h"
#include "comfyrun/core/validate.h"
#include "comfyrun/core/workflow.h"
#include "comfyrun/engine/executor.h"
#include "comfyrun/engine/journal.h"
#include "comfyrun/net/http_loop.h"
#include "comfyrun/run/layout.h"
#include "support/fake_gemini.h"
#include "support/fake_sora.h"
#include "support/fault_plan.h"
#include "support/local_server.h"

using namespace comfyrun;
using testing::FaultInjector;
using testing::FaultKind;
using testing::FaultPlan;
using testing::LocalRequest;
using testing::LocalResponse;
using testing::LocalServer;

namespace {

FaultPlan Plan(const std::string& spec) {
  FaultPlan plan;
  std::string err;
  REQUIRE_MESSAGE(FaultPlan::Parse(spec, &plan, &err), err);
  return plan;
}

HttpResponse SendAndWait(HttpLoop& loop, HttpRequest request) {
  auto promise = std::make_shared<std::promise<HttpResponse>>();
  auto future = promise->get_future();
  loop.Send(std::move(request), [promise](HttpResponse r) { promise->set_value(std::move(r)); });
  REQUIRE(future.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  return future.get();
}

HttpResponse Get(HttpLoop& loop, const std::string& url, double timeout = 10) {
  HttpRequest r;
  r.url = url;
  r.timeout = timeout;
  return SendAndWait(loop, std::move(r));
}

LocalRequest RequestFor(const std::string& path) {
  LocalRequest r;
  r.method = "GET";
  r.path = path;
  r.target = path;
  return r;
}

Workflow Build(const std::string& text) {
  Workflow wf;
  std::vector<Diagnostic> diags;
  REQUIRE(BuildWorkflow(Json::parse(text), "faults.json", {}, &wf, &diags));
  REQUIRE(ValidateWorkflow(&wf, &diags));
  return wf;
}

/// Runs a workflow with the real node kinds against the fake providers; returns the replay.
struct ProviderRun {
  testing::FakeGemini gemini;
  testing::FakeSora sora;
  std::string journal_path;
  RunSummary summary;

  JournalReplay Run(const std::string& workflow_text, const std::string& name) {
    Workflow wf = Build(workflow_text);
    RunOptions options;
    options.out_dir = std::filesystem::absolute("out-" + name).string();
    options.jobs = 16;
    options.backends = std::make_shared<LocalBackends>(options.jobs);
    options.status_mode = StatusPrinter::Mode::kQuiet;
    options.config.Set("GEMINI_API_KEY", gemini.api_key());
    options.config.Set("GEMINI_BASE_URL", gemini.base_url());
    options.config.Set("OPENAI_API_KEY", sora.api_key());
    options.config.Set("OPENAI_BASE_URL", sora.base_url());
    std::filesystem::create_directories(options.out_dir);
    journal_path = options.out_dir + "/journal.jsonl";
    std::string err;
    auto journal = JournalWriter::Open(journal_path, options.durability, &err);
    REQUIRE_MESSAGE(journal, err);
    REQUIRE(
        journal->Append({{"type", "header"}, {"format", 1}, {"runId", name}, {"workflow", wf.document}}, true, &err));
    {
      options.run_dir = RunDirectory(options.out_dir, name);
      Executor executor(wf, options, name, journal.get());
      summary = executor.Run();
    }
    journal.reset();
    JournalReplay replay;
    REQUIRE(ReadJournal(journal_path, &replay, &err));
    return replay;
  }
};

/// 6 images, 3 Veo and 3 Sora videos, each with its own prompt, and a generous retry budget.
std::string ProviderWorkflow() {
  std::string nodes;
  auto add = [&nodes](const std::string& node) { nodes += (nodes.empty() ? "" : ",") + node; };
  for (int i = 1; i <= 6; ++i)
    add(R"({"id": "img)" + std::to_string(i) + R"(", "type": "character_image",
            "inputs": {"characterPrompt": "fault image )" +
        std::to_string(i) + R"(", "model": "nanobanana"}})");
  for (int i = 1; i <= 3; ++i) {
    add(R"({"id": "veo)" + std::to_string(i) + R"(", "type": "video_generation",
            "inputs": {"prompt": "fault veo )" +
        std::to_string(i) + R"(", "model": "veo3-fast", "duration": 4,
                       "pollInterval": 0.05}})");
    add(R"({"id": "sora)" + std::to_string(i) + R"(", "type": "sora2_video",
            "inputs": {"prompt": "fault sora )" +
        std::to_string(i) + R"(", "model": "sora-2", "duration": 4,
                       "pollInterval": 0.05}})");
  }
  return R"({"workflowId": "faults",
             "defaults": {"retry": {"maximumAttempts": 12, "initialInterval": "50ms", "maximumInterval": "200ms"},
                          "timeout": {"attempt": "4s"}},
             "nodes": [)" +
         nodes + "]}";
}

int FailedAttempts(const JournalReplay& replay) {
  int n = 0;
  for (const auto& [id, node] : replay.nodes)
    for (const AttemptSpan& span : node.spans) n += span.outcome == AttemptSpan::Outcome::kFailed;
  return n;
}

}  // namespace

TEST_SUITE("FaultInjection") {
  TEST_CASE("fault specs parse, describe themselves and reject mistakes") {
    FaultPlan p = Plan("share=0.2,kinds=429,500,reset,stall,truncate,seed=7");
    CHECK(p.share == doctest::Approx(0.2));
    REQUIRE(p.kinds.size() == 5);
    CHECK(p.kinds[0] == FaultKind::kRateLimit);
    CHECK(p.kinds[4] == FaultKind::kTruncate);
    CHECK(p.seed == 7);
    CHECK(p.enabled());
    FaultPlan again = Plan(p.Describe());
    CHECK(again.Describe() == p.Describe());
    CHECK_FALSE(Plan("off").enabled());
    CHECK_FALSE(Plan("").enabled());
    CHECK(Plan("kinds=401,403,share=1,stall=0.5,retry_after=0").stall_seconds == doctest::Approx(0.5));

    FaultPlan bad;
    std::string err;
    CHECK_FALSE(FaultPlan::Parse("share=2,kinds=429", &bad, &err));
    CHECK(err.find("share") != std::string::npos);
    CHECK_FALSE(FaultPlan::Parse("share=0.1,kinds=429,teapot", &bad, &err));
    CHECK(err.find("teapot") != std::string::npos);
    CHECK_FALSE(FaultPlan::Parse("share=0.1,bogus=1", &bad, &err));
    CHECK_FALSE(FaultPlan::Parse("share=0.1,seed=x", &bad, &err));
    CHECK_FALSE(FaultPlan::Parse("0.2", &bad, &err));
  }

  TEST_CASE("the same seed faults the same requests; the share is kept; control paths never fault") {
    auto decisions = [](uint64_t seed, uint64_t stream) {
      FaultInjector injector;
      FaultPlan plan = Plan("share=0.2,kinds=429,500,reset,seed=" + std::to_string(seed));
      injector.SetPlan(plan, stream);
      std::string out;
      for (int i = 0; i < 2000; ++i) {
        auto f = injector.Decide(RequestFor("/v1/x"));
        out += !f ? '.' : f->status == 429 ? 'r' : f->status == 500 ? 's' : 'c';
      }
      return out;
    };
    std::string a = decisions(7, 0);
    CHECK(a == decisions(7, 0));
    CHECK(a != decisions(8, 0));
    CHECK(a != decisions(7, 1));
    size_t faulted = 2000 - static_cast<size_t>(std::count(a.begin(), a.end(), '.'));
    CHECK(faulted > 300);  // 20% of 2000 = 400, seeded: no flakiness
    CHECK(faulted < 500);
    for (char kind : {'r', 's', 'c'}) CHECK(std::count(a.begin(), a.end(), kind) > 80);

    FaultInjector always;
    always.SetPlan(Plan("share=1,kinds=500"));
    CHECK_FALSE(always.Decide(RequestFor("/__stats")));
    CHECK_FALSE(always.Decide(RequestFor("/_fake/stats")));
    CHECK(always.Decide(RequestFor("/v1/videos")));
    Json stats = always.Stats();
    CHECK(stats["faulted"] == 1);
    CHECK(stats["faults"]["500"] == 1);
  }

  TEST_CASE("each fault kind reaches the client as the error it imitates" * doctest::timeout(60)) {
    LocalServer server;
    std::atomic<int> handled{0};  // written on the server thread
    server.Handle("GET", "/work", [&handled](const LocalRequest&) {
      ++handled;
      return LocalResponse::Json(200, R"({"ok": true})");
    });
    HttpLoop loop;
    auto with = [&](const std::string& kind) {
      server.SetFaultPlan(Plan("share=1,retry_after=3,stall=5,kinds=" + kind));
      return Get(loop, server.url() + "/work", /*timeout=*/1);
    };
    HttpResponse r = with("429");
    CHECK(r.status == 429);
    CHECK(ClassifyHttpError(r) == ErrorType::kRateLimited);
    CHECK(r.retry_after == doctest::Approx(3));
    CHECK(ClassifyHttpError(with("500")) == ErrorType::kUnavailable);
    CHECK(ClassifyHttpError(with("503")) == ErrorType::kUnavailable);
    CHECK(ClassifyHttpError(with("401")) == ErrorType::kAuth);
    CHECK(ClassifyHttpError(with("403")) == ErrorType::kAuth);
    r = with("reset");
    CHECK(r.status == 0);
    CHECK(r.transport_error == ErrorType::kUnavailable);
    r = with("stall");  // held for 5 s, the client gives up after 1 s
    CHECK(r.transport_error == ErrorType::kTimeout);
    r = with("truncate");
    CHECK(r.transport_error != ErrorType::kNone);
    CHECK(r.error.find("closed before the whole body") != std::string::npos);
    CHECK(handled == 0);  // faults come before the handler: nothing was done

    server.SetFaultPlan(Plan("off"));
    CHECK(Get(loop, server.url() + "/work").ok());
    CHECK(handled == 1);

    // The control routes: counts, and a new plan from outside the process.
    Json stats = Json::parse(Get(loop, server.url() + "/__stats").body);
    CHECK(stats["replies"]["GET /work"]["200"] == 1);
    CHECK(stats["requests"] == 9);  // 8 faulted, 1 handled
    HttpRequest set;
    set.method = "POST";
    set.url = server.url() + "/__faults";
    set.body = "share=1,kinds=503";
    CHECK(SendAndWait(loop, set).ok());
    CHECK(Get(loop, server.url() + "/work").status == 503);
    set.body = "share=1,kinds=nope";
    CHECK(SendAndWait(loop, set).status == 400);
  }

  TEST_CASE("generation workflows finish within their retry budgets while the fakes fail 20% of requests" *
            doctest::timeout(150)) {
    // Faults come before the handlers: a faulted submission was not accepted, so every prompt
    // must be submitted exactly once however many requests failed around it.
    // The fakes' media are made once, on first use: make them now, so that no first reply is
    // slow enough to hit the attempt timeout after the fake accepted the work (a synchronous
    // image call that times out is submitted again, by design).
    (void)testing::FakePngBytes();
    (void)testing::FakeMp4Bytes(4);
    LocalServer::SetDefaultFaultPlan(
        Plan("share=0.2,kinds=429,500,503,reset,stall,truncate,seed=7,retry_after=0,stall=6"));
    ProviderRun run;
    LocalServer::SetDefaultFaultPlan(FaultPlan());
    JournalReplay replay = run.Run(ProviderWorkflow(), "faults20");
    std::string first_failure = run.summary.failed.empty() ? "" : run.summary.failed[0].second;
    CHECK_MESSAGE(run.summary.status == "succeeded", first_failure);
    for (int i = 1; i <= 6; ++i) CHECK(run.gemini.submissions("fault image " + std::to_string(i)) == 1);
    for (int i = 1; i <= 3; ++i) {
      CHECK(run.gemini.submissions("fault veo " + std::to_string(i)) == 1);
      CHECK(run.sora.submissions("fault sora " + std::to_string(i)) == 1);
    }
    // The faults did happen (most are absorbed inside an attempt: a failed poll is polled again).
    HttpLoop loop;
    std::string sora_root = run.sora.base_url().substr(0, run.sora.base_url().size() - 3);  // without /v1
    int faulted = 0;
    for (const std::string& root : {run.gemini.base_url(), sora_root})
      faulted += Json::parse(Get(loop, root + "/__stats").body)["faults"]["faulted"].get<int>();
    MESSAGE("faults injected: ", faulted, "; attempts failed and retried: ", FailedAttempts(replay));
    CHECK(faulted > 0);
    for (const auto& [id, node] : replay.nodes) CHECK(node.status == JournalNode::Status::kCompleted);
  }

  TEST_CASE("auth errors fail at once: one attempt, no retry" * doctest::timeout(60)) {
    for (const char* kind : {"401", "403"}) {
      CAPTURE(kind);
      LocalServer::SetDefaultFaultPlan(Plan(std::string("share=1,kinds=") + kind));
      ProviderRun run;
      LocalServer::SetDefaultFaultPlan(FaultPlan());
      JournalReplay replay = run.Run(ProviderWorkflow(), std::string("auth") + kind);
      CHECK(run.summary.status == "failed");
      for (const auto& [id, node] : replay.nodes) {
        CAPTURE(id);
        CHECK(node.status == JournalNode::Status::kFailed);
        CHECK(node.attempts == 1);
        CHECK(node.last_error == ErrorType::kAuth);
      }
      CHECK(run.gemini.total_submissions() + run.sora.total_submissions() == 0);
    }
  }

}  // TEST_SUITE
