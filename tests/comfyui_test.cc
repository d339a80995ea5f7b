// Tests of the comfyui node kind, the server pool and the protocol helpers, against
// FakeComfyui servers on 127.0.0.1. Each test drives ComfyuiNodeKind() directly with a real
// HttpLoop, a NodeContext and a ComfyuiPool, the way the executor does.
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

using namespace comfyrun;
using comfyrun::testing::FakeComfyui;
using comfyrun::testing::MakeUncompressedPng;
using comfyrun::testing::RunFakeComfyuiForever;
namespace fs = std::filesystem;

namespace {

ComfyuiPoolOptions FastOptions() {
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
ComfyuiPoolOptions SlowPollOptions() {
  ComfyuiPoolOptions o = FastOptions();
  o.poll_interval = 30;
  o.ws_poll_interval = 30;
  return o;
}

/// EmptyImage -> ImageInvert -> SaveImage, as in the transcript.
Json ProbeGraph() {
  return Json::parse(R"({
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 1234}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "probe"}}
  })");
}

/// Image, preview and video outputs.
Json MixedGraph() {
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
Json FaceGraph() {
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

std::string ReadAll(const std::string& path) {
  std::string text, err;
  ReadFile(path, &text, &err);
  return text;
}

}  // namespace

TEST_SUITE("Comfyui") {
  TEST_CASE("server list syntax: commas, slots fragment, duplicates" * doctest::timeout(5)) {
    std::vector<ComfyuiServerSpec> specs;
    std::string err;
    REQUIRE(ParseComfyuiServers({"http://a:8188, http://b:8188/#slots=2", "http://a:8188#slots=3"}, &specs, &err));
    REQUIRE(specs.size() == 2);
    CHECK(specs[0].url == "http://a:8188");
    CHECK(specs[0].slots == 3);
    CHECK(specs[1].url == "http://b:8188");
    CHECK(specs[1].slots == 2);
    CHECK_FALSE(ParseComfyuiServers({"ftp://x"}, &specs, &err));
    CHECK(err.find("http://") != std::string::npos);
    CHECK_FALSE(ParseComfyuiServers({"http://x#slots=0"}, &specs, &err));
    CHECK_FALSE(ParseComfyuiServers({"http://x#gpus=2"}, &specs, &err));
    CHECK(ParseComfyuiServers({"", " , "}, &specs, &err));
    CHECK(specs.empty());
  }

  TEST_CASE("pool: 300 queued waiters share 3 slots without threads" * doctest::timeout(20)) {
    FakeComfyui a, b;
    REQUIRE(a.Start());
    REQUIRE(b.Start());
    Harness h({a.url() + "#slots=2", b.url()});
    struct State {
      int granted = 0, peak_a = 0, peak_b = 0, failed = 0;
      std::promise<void> all;
    };
    auto st = std::make_shared<State>();
    ComfyuiPool* pool = h.pool;
    HttpLoop* loop = h.loop.get();
    std::string ua = a.url(), ub = b.url();
    loop->Post([=] {
      for (int i = 0; i < 300; ++i) {
        pool->Acquire("", [=](const std::string& server, const std::string& error) {
          if (server.empty()) {
            st->failed++;
          } else {
            st->peak_a = std::max(st->peak_a, pool->in_use(ua));
            st->peak_b = std::max(st->peak_b, pool->in_use(ub));
            // Hold the slot briefly, then give it back.
            loop->After(0.001, [=] { pool->Release(server); });
          }
          (void)error;
          if (++st->granted == 300) st->all.set_value();
        });
      }
    });
    REQUIRE(st->all.get_future().wait_for(std::chrono::seconds(15)) == std::future_status::ready);
    CHECK(st->failed == 0);
    CHECK(st->peak_a == 2);
    CHECK(st->peak_b == 1);
    CHECK(h.OnLoop([&] { return pool->waiting(); }) == 0);
    CHECK(Eventually([&] { return h.OnLoop([&] { return pool->in_use(ua) + pool->in_use(ub); }) == 0; }));
  }

  TEST_CASE("protocol: validation replies name ComfyUI nodes and messages" * doctest::timeout(5)) {
    HttpResponse r;
    r.status = 400;
    r.body =
        R"({"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}}, "node_errors": {"1": {"errors": [{"type": "value_bigger_than_max", "message": "Value 999999 bigger than max of 16384", "details": "width", "extra_info": {"input_name": "width", "received_value": 999999}}], "dependent_outputs": ["3"], "class_type": "EmptyImage"}}})";
    ComfyPromptReply reply = ParsePromptReply(r);
    CHECK(reply.error == ErrorType::kInvalidInput);
    CHECK(reply.message.find("node 1 (EmptyImage)") != std::string::npos);
    CHECK(reply.message.find("Value 999999 bigger than max of 16384: width") != std::string::npos);
    CHECK(reply.details["comfyNodeIds"] == Json::array({"1"}));

    r.body =
        R"({"error": {"type": "invalid_prompt", "message": "Cannot execute because node NoSuchNodeClass does not exist.", "details": "Node ID '#1'", "extra_info": {}}, "node_errors": {}})";
    reply = ParsePromptReply(r);
    CHECK(reply.message.find("NoSuchNodeClass does not exist. (Node ID '#1')") != std::string::npos);

    r.status = 500;
    r.body = "500 Internal Server Error\n\nServer got itself in trouble";
    CHECK(ParsePromptReply(r).error == ErrorType::kUnavailable);
  }

  TEST_CASE("protocol: history, queue and no-face phrasing" * doctest::timeout(5)) {
    std::string err;
    auto absent = ParseHistoryReply("{}", "p1", &err);
    REQUIRE(absent);
    CHECK(absent->state == ComfyHistory::State::kAbsent);
    // history_interrupted from the transcript
    auto interrupted = ParseHistoryReply(
        R"({"p1": {"prompt": [14, "p1", {}, {}, ["4"]], "outputs": {}, "status": {"status_str": "error", "completed": false, "messages": [["execution_start", {"prompt_id": "p1", "timestamp": 1}], ["execution_interrupted", {"prompt_id": "p1", "node_id": "3", "node_type": "ImageBlur", "executed": ["2", "1"], "timestamp": 2}]]}, "meta": {}}})",
        "p1", &err);
    REQUIRE(interrupted);
    CHECK(interrupted->state == ComfyHistory::State::kFailed);
    CHECK(interrupted->error == ErrorType::kExecution);
    CHECK(interrupted->message.find("node 3 (ImageBlur)") != std::string::npos);
    auto ok = ParseHistoryReply(
        R"({"p1": {"outputs": {"3": {"images": [{"filename": "probe_00001_.png", "subfolder": "", "type": "output"}]}, "9": {"images": [{"filename": "v_00001_.mp4", "subfolder": "video", "type": "output"}], "animated": [true]}, "7": {"audio": [{"filename": "a.flac", "subfolder": "", "type": "output"}]}, "8": {"text": ["hello"]}}, "status": {"status_str": "success", "completed": true, "messages": []}}})",
        "p1", &err);
    REQUIRE(ok);
    REQUIRE(ok->files.size() == 3);
    CHECK(ok->files[0].kind == "image");
    CHECK(ok->files[1].kind == "video");
    CHECK(ok->files[1].subfolder == "video");
    CHECK(ok->files[2].kind == "audio");

    auto queue = ParseQueueReply(
        R"({"queue_running": [[14, "a", {}, {}, []]], "queue_pending": [[16, "c", {}, {}, []], [15, "b", {}, {}, []]]})",
        "c", &err);
    REQUIRE(queue);
    CHECK(queue->state == ComfyQueuePosition::State::kPending);
    CHECK(queue->ahead == 2);
    CHECK(ParseQueueReply(R"({"queue_running": [], "queue_pending": []})", "c", &err)->state ==
          ComfyQueuePosition::State::kAbsent);

    CHECK(IsNoFaceMessage("No face detected in the source image"));
    CHECK(IsNoFaceMessage("Face not found in target image"));
    CHECK(IsNoFaceMessage("insightface: could not detect any face"));
    CHECK_FALSE(IsNoFaceMessage("CUDA out of memory"));
    CHECK_FALSE(IsNoFaceMessage("file not found: model.safetensors"));

    std::string uuid = NewUuid4();
    CHECK(uuid.size() == 36);
    CHECK(uuid[14] == '4');
    std::set<std::string> used;
    ComfyOutputFile f{"3", "image", "probe_00001_.png", "", "output"};
    CHECK(LocalOutputName(f, &used) == "3_probe_00001_.png");
    CHECK(LocalOutputName(f, &used) == "3_probe_00001_-2.png");
  }

  TEST_CASE("set overrides: applied, and unknown ids or inputs are named" * doctest::timeout(5)) {
    Json graph = ProbeGraph();
    std::string err;
    CHECK(ApplyComfyOverrides(&graph, Json{{"1.width", 96}, {"3.filename_prefix", "x"}}, &err));
    CHECK(graph["1"]["inputs"]["width"] == 96);
    CHECK_FALSE(ApplyComfyOverrides(&graph, Json{{"9.width", 1}}, &err));
    CHECK(err.find("no node '9'") != std::string::npos);
    CHECK_FALSE(ApplyComfyOverrides(&graph, Json{{"1.widht", 1}}, &err));
    CHECK(err.find("no input 'widht'") != std::string::npos);
    CHECK(err.find("did you mean 'width'") != std::string::npos);
    CHECK_FALSE(LoadComfyGraph(Json{{"nodes", Json::array()}, {"links", Json::array()}}, &graph, &err));
    CHECK(err.find("API Format") != std::string::npos);
    CHECK_FALSE(LoadComfyGraph("missing_workflow_api.json", &graph, &err));
  }

  TEST_CASE("success: every output file is downloaded into the node folder" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    // The workflow as a file path, as exported from ComfyUI.
    { std::ofstream("workflow_api.json") << MixedGraph().dump(2); }
    auto ctx = h.Context("gen", Json{{"workflow", "workflow_api.json"}, {"set", {{"1.width", 96}}}});
    NodeResult r = h.Run(ctx);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.provider == "comfyui");
    const Json& out = r.outputs;
    REQUIRE(out["images"].size() == 2);  // SaveImage + PreviewImage
    REQUIRE(out["videos"].size() == 1);
    CHECK(out["audio"].empty());
    REQUIRE(out["files"].size() == 3);
    CHECK(out["imagePath"] == out["images"][0]);
    CHECK(out["videoPath"] == out["videos"][0]);
    CHECK(out["server"] == fake.url());
    for (const Json& f : out["files"]) {
      std::string path = f["path"].get<std::string>();
      CHECK(fs::path(path).parent_path() == fs::path(ctx->node_dir));
      CHECK(fs::exists(path));
      CHECK_FALSE(fs::exists(path + ".part"));
    }
    std::string png = ReadAll(out["imagePath"].get<std::string>());
    CHECK(png.substr(1, 3) == "PNG");
    CHECK(png.size() > 1024);
    CHECK(ReadAll(out["videoPath"].get<std::string>()).substr(4, 4) == "ftyp");
    // The override reached the server, and the submission was journaled before completion.
    CHECK(fake.last_prompt()["1"]["inputs"]["width"] == 96);
    REQUIRE(h.submissions.size() == 1);
    CHECK(h.submissions[0]["provider"] == "comfyui");
    CHECK(h.submissions[0]["server"] == fake.url());
    CHECK(h.submissions[0]["promptId"] == out["promptId"]);
    CHECK(h.submissions[0]["clientId"].get<std::string>().size() > 8);
    // ...and before that, the same id before the POST, marked not yet accepted.
    REQUIRE(h.intents.size() == 1);
    CHECK(h.intents[0]["promptId"] == out["promptId"]);
    CHECK(h.intents[0]["server"] == fake.url());
    CHECK(fake.prompts_submitted() == 1);
    CHECK_FALSE(h.progress.empty());
    CHECK(h.done_calls == 1);
  }

  TEST_CASE("identical graphs in two nodes: cached server files get distinct local names" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    NodeResult a = h.Run(h.Context("a", Json{{"workflow", ProbeGraph()}}));
    NodeResult b = h.Run(h.Context("b", Json{{"workflow", ProbeGraph()}}));
    REQUIRE_MESSAGE(a.ok(), a.message);
    REQUIRE_MESSAGE(b.ok(), b.message);
    // ComfyUI serves the second run from cache and names the same file.
    CHECK(a.outputs["files"][0]["filename"] == b.outputs["files"][0]["filename"]);
    CHECK(a.outputs["imagePath"] != b.outputs["imagePath"]);
    CHECK(fs::exists(a.outputs["imagePath"].get<std::string>()));
    CHECK(fs::exists(b.outputs["imagePath"].get<std::string>()));
  }

  TEST_CASE("local files given to LoadImage are uploaded first" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    { std::ofstream("face.png", std::ios::binary) << MakeUncompressedPng(32, 32, 0xFF0000); }
    Json graph = Json::parse(R"({
    "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "probe_load"}}
  })");
    std::string local = (fs::current_path() / "face.png").string();
    NodeResult r = h.Run(h.Context("load", Json{{"workflow", graph}, {"set", {{"1.image", local}}}}));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(fake.uploads() == 1);
    CHECK(fake.last_prompt()["1"]["inputs"]["image"] == "face.png");

    // A name that is not a local file is passed through, and the server rejects it as the
    // real one does (custom_validation_failed).
    NodeResult bad = h.Run(h.Context("load2", Json{{"workflow", graph}, {"set", {{"1.image", "not_uploaded.png"}}}}));
    CHECK(bad.error == ErrorType::kInvalidInput);
    CHECK(bad.message.find("Invalid image file: not_uploaded.png") != std::string::npos);
  }

  TEST_CASE("validation error: InvalidInput naming the ComfyUI node, nothing queued" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    NodeResult r = h.Run(h.Context("v", Json{{"workflow", ProbeGraph()}, {"set", {{"1.width", 999999}}}}));
    CHECK(r.error == ErrorType::kInvalidInput);
    CHECK(r.message.find("node 1 (EmptyImage)") != std::string::npos);
    CHECK(r.message.find("bigger than max of 16384") != std::string::npos);
    CHECK(r.details["comfyNodeIds"] == Json::array({"1"}));
    CHECK(r.submission_finished);
    CHECK(fake.prompts_submitted() == 0);
    CHECK(fake.prompts_rejected() == 1);
    CHECK(h.submissions.empty());

    // Unknown override ids never reach the server.
    NodeResult unknown = h.Run(h.Context("u", Json{{"workflow", ProbeGraph()}, {"set", {{"42.seed", 1}}}}));
    CHECK(unknown.error == ErrorType::kInvalidInput);
    CHECK(unknown.message.find("'42'") != std::string::npos);
    CHECK(fake.prompts_rejected() == 1);
    // The slot was given back each time.
    CHECK(h.OnLoop([&] { return h.pool->in_use(fake.url()); }) == 0);
  }

  TEST_CASE("execution_error: Execution with the node and exception message" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.SetFault(FakeComfyui::Fault::kExecutionError, 1);
    Harness h({fake.url()});
    NodeResult r = h.Run(h.Context("e", Json{{"workflow", ProbeGraph()}}));
    CHECK(r.error == ErrorType::kExecution);
    CHECK(r.message.find("CUDA out of memory") != std::string::npos);
    CHECK(r.message.find("node 1 (EmptyImage)") != std::string::npos);
    CHECK(r.details["node"] == "1");
    CHECK(r.submission_finished);
    // The fault was for one prompt: the next attempt succeeds.
    CHECK(h.Run(h.Context("e", Json{{"workflow", ProbeGraph()}})).ok());
  }

  TEST_CASE("a face node that finds no face: NoFace" * doctest::timeout(20)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    fake.SetFault(FakeComfyui::Fault::kNoFace, 1);
    Harness h({fake.url()});
    NodeResult r = h.Run(h.Context("f", Json{{"workflow", FaceGraph()}}));
    CHECK(r.error == ErrorType::kNoFace);
    CHECK(r.message.find("No face detected") != std::string::npos);
    CHECK(r.details["nodeType"] == "ReActorFaceSwap");
  }

  TEST_CASE("outputs are checked by decoding: a 438-byte PNG passes, a file that does not decode fails" *
            doctest::timeout(30)) {
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    // What a real 0.3.64 server wrote for a 64x64 EmptyImage: 438 bytes, below the old 1 KB floor.
    fake.SetFault(FakeComfyui::Fault::kSmallPng, 1);
    NodeResult small = h.Run(h.Context("s", Json{{"workflow", ProbeGraph()}}));
    REQUIRE_MESSAGE(small.ok(), small.message);
    CHECK(fs::file_size(small.outputs["imagePath"].get<std::string>()) == 438);
    // Several KB that no decoder takes: OutputInvalid. The graph's seeds are all literal (it has
    // none), so another prompt would make the same file: not worth a retry.
    fake.SetFault(FakeComfyui::Fault::kCorruptOutput, 1);
    Json g = ProbeGraph();
    g["1"]["inputs"]["color"] = 9;  // not cached
    NodeResult bad = h.Run(h.Context("c", Json{{"workflow", g}}));
    CHECK(bad.error == ErrorType::kOutputInvalid);
    CHECK(bad.message.find("does not decode") != std::string::npos);
    CHECK(bad.submission_finished);
    CHECK(bad.details[kRegeneratesKey] == false);
    // A video cut short fails the same way.
    fake.SetFault(FakeComfyui::Fault::kCorruptOutput, 1);
    NodeResult badv = h.Run(h.Context("v", Json{{"workflow", MixedGraph()}}));
    CHECK(badv.error == ErrorType::kOutputInvalid);
    // The byte floors stay as an option.
    fake.SetFault(FakeComfyui::Fault::kTinyOutput, 1);
    g["1"]["inputs"]["color"] = 10;
    NodeResult tiny = h.Run(h.Context("t", Json{{"workflow", g}, {"minImageBytes", 1024}}));
    CHECK(tiny.error == ErrorType::kOutputInvalid);
    CHECK(tiny.message.find("minImageBytes") != std::string::npos);
    // A file the history names but /view does not have.
    fake.SetFault(FakeComfyui::Fault::kLoseOutput, 1);
    g["1"]["inputs"]["color"] = 7;
    NodeResult lost = h.Run(h.Context("t2", Json{{"workflow", g}}));
    CHECK(lost.error == ErrorType::kOutputInvalid);
    CHECK(lost.message.find("404") != std::string::npos);
  }

  TEST_CASE("an OutputInvalid regenerates only when a sampler seed is not literal" * doctest::timeout(20)) {
    CHECK(ComfySeedsFixed(ProbeGraph()));  // no sampler at all
    Json g = Json::parse(R"({
    "3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20, "model": ["4", 0]}},
    "9": {"class_type": "RandomNoise", "inputs": {"noise_seed": 7}}})");
    CHECK(ComfySeedsFixed(g));
    g["9"]["inputs"]["noise_seed"] = Json::array({"12", 0});  // from a seed node: not fixed
    CHECK_FALSE(ComfySeedsFixed(g));
    // And the job marks its OutputInvalid with it.
    FakeComfyui fake;
    REQUIRE(fake.Start());
    Harness h({fake.url()});
    fake.SetFault(FakeComfyui::Fault::kCorruptOutput, 1);
    Json linked = ProbeGraph();
    linked["2"]["inputs"]["seed"] = Json::array({"1", 0});  // the fake ignores unknown inputs
    NodeResult r = h.Run(h.Context("l", Json{{"workflow", linked}}));
    CHECK(r.error == ErrorType::kOutputInvalid);
    CHECK(r.details[kRegeneratesKey] == true);
  }

  TEST_CASE("retry rule: OutputInvalid once at most, and only when a new attempt regenerates" * doctest::timeout(5)) {
    RetryPolicy policy;
    policy.maximum_attempts = 5;
    NodeResult r = NodeResult::Failure(ErrorType::kOutputInvalid, "bad");
    RetryDecision d = DecideRetry(policy, r.error, 1, -1, 0, 0, 0.5);
    REQUIRE(d.retry);
    LimitOutputInvalidRetry(r, 1, &d);  // no mark: a local file, a local render
    CHECK_FALSE(d.retry);
    CHECK(d.why_not.find("not retried") != std::string::npos);
    MarkRegenerates(&r, true);
    d = DecideRetry(policy, r.error, 1, -1, 0, 0, 0.5);
    LimitOutputInvalidRetry(r, 1, &d);
    CHECK(d.retry);
    d = DecideRetry(policy, r.error, 2, -1, 0, 0, 0.5);
    LimitOutputInvalidRetry(r, 2, &d);  // the second OutputInvalid of the run
    CHECK_FALSE(d.retry);
    CHECK(d.why_not.find("once at most") != std::string::npos);
    MarkRegenerates(&r, false);
    d = DecideRetry(policy, r.error, 1, -1, 0, 0, 0.5);
    LimitOutputInvalidRetry(r, 1, &d);
    CHECK_FALSE(d.retry);
    CHECK(SeedFixed(Json{{"seed", 3}}));
    CHECK_FALSE(SeedFixed(Json{{"seed", nullptr}}));
    CHECK_FALSE(SeedFixed(Json::object()));
  }

  TEST_CASE("a server that is down is skipped, and a refused connection fails over" * doctest::timeout(30)) {
    FakeComfyui a, b;
    REQUIRE(a.Start());
    REQUIRE(b.Start());
    Harness h({a.url(), b.url()});
    // The first job goes to whichever server answered its health check first; with both up,
    // the next one goes round-robin to the other.
    NodeResult first = h.Run(h.Context("n1", Json{{"workflow", ProbeGraph()}}));
    REQUIRE_MESSAGE(first.ok(), first.message);
    NodeResult second = h.Run(h.Context("n2", Json{{"workflow", ProbeGraph()}}));
    REQUIRE(second.ok());
    CHECK(first.outputs["server"] != second.outputs["server"]);
    FakeComfyui& s1 = first.outputs["server"] == a.url() ? a : b;
    FakeComfyui& s2 = &s1 == &a ? b : a;
    std::string url1 = s1.url(), url2 = s2.url();
    // The third job goes to s1 (granted longest ago), which went down while the pool still
    // believes it healthy: refused there, s1 is marked down and the job runs on s2 within the
    // same attempt.
    s1.Stop();
    NodeResult third = h.Run(h.Context("n3", Json{{"workflow", ProbeGraph()}}));
    REQUIRE_MESSAGE(third.ok(), third.message);
    CHECK(third.outputs["server"] == url2);
    CHECK(h.OnLoop([&] { return h.pool->health(url1); }) == ComfyuiPool::Health::kDown);
    CHECK(s1.prompts_submitted() == 1);
    CHECK(s2.prompts_submitted() == 2);
    CHECK(h.submissions.size() == 3);
  }

  TEST_CASE("every server down: Unavailable, fresh submission next time" * doctest::timeout(20)) {
    FakeComfyui a;
    REQUIRE(a.Start());
    std::string url = a.url();
    a.Stop();
    Harness h({url});
    NodeResult r = h.Run(h.Context("d", Json{{"workflow", ProbeGraph()}}));
    CHECK(r.error == ErrorType::kUnavailable);
    CHECK(r.message.find(url) != std::string::npos);
    CHECK(r.submission_finished);
    CHECK(h.OnLoop([&] { return h.pool->health(url); }) == ComfyuiPool::Health::kDown);
  }

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

  TEST_CASE("events: ComfyUI messages parse into per-prompt events" * doctest::timeout(5)) {
    using K = ComfyEvent::Kind;
    auto e =
        ParseComfyEvent(R"({"type": "progress", "data": {"value": 12, "max": 30, "prompt_id": "p", "node": "3"}})");
    REQUIRE(e);
    CHECK(e->kind == K::kProgress);
    CHECK(e->node == "3");
    CHECK(e->value == 12);
    CHECK(e->max == 30);
    // From the transcript.
    e = ParseComfyEvent(
        R"({"type": "progress_state", "data": {"prompt_id": "p", "nodes": {"3": {"value": 1, "max": 1, "state": "finished", "node_id": "3"}, "4": {"value": 5, "max": 20, "state": "running", "node_id": "4"}}}})");
    REQUIRE(e);
    CHECK(e->node == "4");
    CHECK(e->value == 5);
    CHECK_FALSE(ParseComfyEvent(
        R"({"type": "progress_state", "data": {"prompt_id": "p", "nodes": {"3": {"value": 1, "max": 1, "state": "finished"}}}})"));
    e = ParseComfyEvent(
        R"({"type": "executing", "data": {"node": null, "prompt_id": "a99c5f98-c697-4c73-bc05-74064c130cf1"}})");
    REQUIRE(e);
    CHECK(e->kind == K::kDone);
    CHECK(e->terminal());
    CHECK(e->prompt_id == "a99c5f98-c697-4c73-bc05-74064c130cf1");
    e = ParseComfyEvent(
        R"({"type": "execution_error", "data": {"prompt_id": "p", "node_id": "7", "exception_message": "x"}})");
    REQUIRE(e);
    CHECK(e->kind == K::kError);
    CHECK(e->node == "7");
    CHECK(ParseComfyEvent(R"({"type": "execution_start", "data": {"prompt_id": "p", "timestamp": 1}})")->kind ==
          K::kStart);
    CHECK(ParseComfyEvent(R"({"type": "execution_interrupted", "data": {"prompt_id": "p", "node_id": "3"}})")
              ->terminal());
    CHECK_FALSE(ParseComfyEvent(
        R"({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "x"}})"));
    CHECK_FALSE(ParseComfyEvent(R"({"type": "executing", "data": {"node": "3"}})"));
    CHECK_FALSE(ParseComfyEvent(R"({"type": "feature_flags", "data": {}})"));
    CHECK_FALSE(ParseComfyEvent("[1, 2"));
    CHECK(StartsWith(ComfyuiClientId(), "comfyrun-"));
    CHECK(ComfyuiClientId() == ComfyuiClientId());
  }

  // Not a test: `comfyrun_tests -tc="serve a fake ComfyUI*" --no-skip` serves a fake until
  // killed, for end-to-end scripts (FAKE_COMFYUI_SLOTS, FAKE_COMFYUI_RUN_SECONDS; the URL is
  // printed on stdout).
  TEST_CASE("serve a fake ComfyUI until killed" * doctest::skip()) {
    const char* slots = std::getenv("FAKE_COMFYUI_SLOTS");
    const char* run = std::getenv("FAKE_COMFYUI_RUN_SECONDS");
    RunFakeComfyuiForever(0, slots ? std::atoi(slots) : 1, run ? std::atof(run) : 0.5);
  }

}  // TEST_SUITE
